import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type WorkflowStatus = 'planning' | 'running' | 'auditing' | 'completed' | 'failed' | 'cancelled';

/** A task graph. Its tasks are ordinary rows of `tasks` with workflow_id and key set. */
@Entity('workflows')
@Index('idx_workflows_created', ['createdAt', 'id'])
@Check('ck_workflows_status', `status IN ('planning', 'running', 'auditing', 'completed', 'failed', 'cancelled')`)
export class WorkflowEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text', nullable: true })
  name: string | null;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ type: 'text' })
  status: WorkflowStatus;

  /** `{required_capabilities, max_rework_cycles}` or null. */
  @Column({ type: 'jsonb', nullable: true })
  audit: unknown;

  /** `{required_capabilities}` when the graph comes from a planner, else null. */
  @Column({ type: 'jsonb', nullable: true })
  plan: unknown;

  @Column({ name: 'rework_cycle', type: 'integer', default: 0 })
  reworkCycle: number;

  @Column({ name: 'planner_task_id', type: 'uuid', nullable: true })
  plannerTaskId: string | null;

  /** The audit task of the current cycle, while one is queued or running. */
  @Column({ name: 'audit_task_id', type: 'uuid', nullable: true })
  auditTaskId: string | null;

  /** Why it failed: `{code, message, details?}`. */
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

/** One verdict of the auditor on one cycle of a workflow. */
@Entity('workflow_audit_reports')
@Index('idx_workflow_audit_reports_workflow', ['workflowId', 'createdAt'])
export class WorkflowAuditReportEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'workflow_id', type: 'uuid' })
  workflowId: string;

  @ManyToOne(() => WorkflowEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'workflow_id' })
  workflow?: WorkflowEntity;

  @Column({ name: 'task_id', type: 'uuid' })
  taskId: string;

  @Column({ name: 'rework_cycle', type: 'integer' })
  reworkCycle: number;

  @Column({ name: 'is_successful', type: 'boolean' })
  isSuccessful: boolean;

  @Column({ type: 'text', nullable: true })
  feedback: string | null;

  @Column({ name: 'rework_suggestions', type: 'jsonb', default: () => "'[]'" })
  reworkSuggestions: unknown;

  @Column({ name: 'confidence_score', type: 'double precision', nullable: true })
  confidenceScore: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
