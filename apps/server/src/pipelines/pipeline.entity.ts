import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

/** A pipeline definition; its stages live in versions, the newest being `current_version`. */
@Entity('pipelines')
@Index('idx_pipelines_created', ['createdAt', 'id'])
export class PipelineEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ name: 'current_version', type: 'integer', default: 1 })
  currentVersion: number;

  @Column({ name: 'archived_at', type: 'timestamptz', nullable: true })
  archivedAt: Date | null;

  @Column({ name: 'created_by', type: 'text' })
  createdBy: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}

/** One immutable version of a pipeline's definition; runs point at the version they started with. */
@Entity('pipeline_versions')
export class PipelineVersionEntity {
  @PrimaryColumn({ name: 'pipeline_id', type: 'uuid' })
  pipelineId: string;

  @PrimaryColumn({ type: 'integer' })
  version: number;

  @ManyToOne(() => PipelineEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'pipeline_id' })
  pipeline?: PipelineEntity;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  /** `[{name, type, required, timeout?, required_capabilities?, retry_count?}]` */
  @Column({ type: 'jsonb' })
  stages: unknown;

  /** `[{from, to}]` by stage name: `from` must finish before `to` starts. */
  @Column({ type: 'jsonb' })
  dependencies: unknown;

  @Column({ name: 'created_by', type: 'text' })
  createdBy: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

/** One execution of one pipeline version: a set of stage tasks (tasks.run_id). */
@Entity('pipeline_runs')
@Index('idx_pipeline_runs_pipeline', ['pipelineId', 'createdAt', 'id'])
@Index('idx_pipeline_runs_created', ['createdAt', 'id'])
@Check('ck_pipeline_runs_status', `status IN ('running', 'completed', 'failed', 'cancelled')`)
export class PipelineRunEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'pipeline_id', type: 'uuid' })
  pipelineId: string;

  @ManyToOne(() => PipelineEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'pipeline_id' })
  pipeline?: PipelineEntity;

  @Column({ name: 'pipeline_version', type: 'integer' })
  pipelineVersion: number;

  @Column({ type: 'text' })
  status: 'running' | 'completed' | 'failed' | 'cancelled';

  /** `[{index, name, type, required, task_id, depends_on: [index], skipped}]` */
  @Column({ type: 'jsonb' })
  stages: unknown;

  @Column({ name: 'input_data', type: 'jsonb', nullable: true })
  inputData: unknown;

  @Column({ type: 'jsonb', nullable: true })
  parameters: unknown;

  @Column({ name: 'output_data', type: 'jsonb', nullable: true })
  outputData: unknown;

  /** `{webhook?, email?}` */
  @Column({ type: 'jsonb', nullable: true })
  notification: unknown;

  @Column({ type: 'jsonb', nullable: true })
  error: unknown;

  @Column({ name: 'created_by', type: 'text' })
  createdBy: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt: Date | null;
}

/** A signed webhook POST, stored so it survives restarts and is retried with backoff. */
@Entity('webhook_deliveries')
@Index('idx_webhook_deliveries_due', ['nextAttemptAt'], { where: `status = 'pending'` })
@Index('idx_webhook_deliveries_run', ['runId'])
@Check('ck_webhook_deliveries_status', `status IN ('pending', 'delivered', 'failed')`)
export class WebhookDeliveryEntity {
  /** Also the X-AgentManager-Delivery header. */
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'run_id', type: 'uuid', nullable: true })
  runId: string | null;

  @Column({ type: 'text' })
  url: string;

  @Column({ type: 'text' })
  event: string;

  /** The exact bytes sent and signed. */
  @Column({ type: 'text' })
  body: string;

  @Column({ type: 'text' })
  status: 'pending' | 'delivered' | 'failed';

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true })
  nextAttemptAt: Date | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @Column({ name: 'last_status_code', type: 'integer', nullable: true })
  lastStatusCode: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt: Date | null;
}
