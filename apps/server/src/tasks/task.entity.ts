import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { AgentEntity } from '../agents/agent.entity';

export type TaskStatus = 'pending' | 'ready' | 'running' | 'completed' | 'retrying' | 'failed' | 'cancelled';
export type TaskPriority = 'high' | 'medium' | 'low';

/**
 * Stored as a number so the claim orders by (priority, created_at, id), all ascending, which one
 * btree index serves within each queue: lower runs first.
 */
export const PRIORITY_RANK: Record<TaskPriority, number> = { high: 1, medium: 2, low: 3 };
export const PRIORITY_NAME: Record<number, TaskPriority> = { 1: 'high', 2: 'medium', 3: 'low' };

@Entity('tasks')
// Every status change rewrites the row outside HOT (status is in the partial indexes' predicates)
// and adds an entry to each index whose predicate the new version meets: so each index holds only
// the rows its queries need. Storage: fillfactor 80 (set in the migration), room on each page for
// the HOT updates of progress reports and lease extensions, which change no indexed column.
//
// The claim's index, hand-written in the migration (an expression index; TypeORM cannot declare
// one): idx_tasks_ready ON tasks (task_queue_key(required_capabilities) COLLATE "C", priority,
// created_at, id) WHERE status = 'ready'. Only claimable rows, one ordered range per queue (a
// distinct set of required capabilities, listed in task_queues), so a claim reads only the queues
// the agent can serve, however large the backlog waiting for others or the completed history.
@Index('idx_tasks_ready', { synchronize: false })
// Running tasks by holder: held counts, heartbeats, releases, and the lapsed-lease sweep (which
// reads every running row; they are few, and an index on the lease would make each lease
// extension a non-HOT update).
@Index('idx_tasks_assigned_agent', ['assignedAgent'], { where: `status = 'running'` })
// The sweeps' indexes, each in the order its sweep reads (pending: oldest first; retrying: due first).
@Index('idx_tasks_pending', ['createdAt'], { where: `status = 'pending'` })
@Index('idx_tasks_retrying', ['nextAttemptAt'], { where: `status = 'retrying'` })
// Listing, newest first: everything, and what went wrong (rare among the completed history).
@Index('idx_tasks_created', ['createdAt', 'id'])
@Index('idx_tasks_failed', ['createdAt', 'id'], { where: `status IN ('failed', 'cancelled')` })
@Index('idx_tasks_workflow', ['workflowId'], { where: 'workflow_id IS NOT NULL' })
@Index('idx_tasks_run', ['runId'], { where: 'run_id IS NOT NULL' })
// Hand-written in the migration (TypeORM cannot declare GIN): ON tasks USING gin (depends_on)
// WHERE depends_on <> '{}'. Queries state that predicate so the planner may use it.
@Index('idx_tasks_depends_on_gin', { synchronize: false })
@Check('ck_tasks_status', `status IN ('pending', 'ready', 'running', 'completed', 'retrying', 'failed', 'cancelled')`)
export class TaskEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  type: string;

  @Column({ type: 'text' })
  status: TaskStatus;

  @Column({ type: 'smallint' })
  priority: number;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  payload: unknown;

  /** Never updated after insert: it decides the task's queue (task_queue_key, task_queues). */
  @Column({ name: 'required_capabilities', type: 'text', array: true })
  requiredCapabilities: string[];

  @Column({ type: 'double precision', default: 0 })
  progress: number;

  /** The fencing token: incremented by every claim; progress/complete/fail must present it. */
  @Column({ type: 'integer', default: 0 })
  attempt: number;

  @Column({ name: 'max_attempts', type: 'integer' })
  maxAttempts: number;

  /** Retries after the first attempt, as submitted; an operator retry grants this many again. */
  @Column({ name: 'retry_count', type: 'integer' })
  retryCount: number;

  @Column({ name: 'assigned_agent', type: 'uuid', nullable: true })
  assignedAgent: string | null;

  @ManyToOne(() => AgentEntity, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'assigned_agent' })
  agent?: AgentEntity;

  @Column({ name: 'lease_expires_at', type: 'timestamptz', nullable: true })
  leaseExpiresAt: Date | null;

  /** Seconds one attempt may run before it counts as failed. */
  @Column({ name: 'timeout_sec', type: 'integer' })
  timeoutSec: number;

  @Column({ name: 'depends_on', type: 'uuid', array: true, default: () => "'{}'" })
  dependsOn: string[];

  @Column({ name: 'file_dependencies', type: 'jsonb', default: () => "'[]'" })
  fileDependencies: { path: string; access: string }[];

  @Column({ name: 'pipeline_id', type: 'uuid', nullable: true })
  pipelineId: string | null;

  @Column({ name: 'run_id', type: 'uuid', nullable: true })
  runId: string | null;

  @Column({ type: 'text', nullable: true })
  stage: string | null;

  @Column({ name: 'workflow_id', type: 'uuid', nullable: true })
  workflowId: string | null;

  /** The task's key inside its workflow graph. */
  @Column({ type: 'text', nullable: true })
  key: string | null;

  @Column({ type: 'jsonb', nullable: true })
  result: unknown;

  @Column({ type: 'jsonb', nullable: true })
  error: unknown;

  @Column({ name: 'ra_history', type: 'jsonb', nullable: true })
  raHistory: unknown;

  @Column({ name: 'execution_time', type: 'double precision', nullable: true })
  executionTime: number | null;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  metadata: Record<string, unknown>;

  /** Who submitted it: 'user:<id>' or 'api_key:<id>'. */
  @Column({ name: 'created_by', type: 'text' })
  createdBy: string;

  @Column({ name: 'run_at', type: 'timestamptz', nullable: true })
  runAt: Date | null;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true })
  nextAttemptAt: Date | null;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}

/**
 * Every distinct set of required capabilities a task has been submitted with (a queue), keyed by
 * task_queue_key(set). Rows are added by the statement trigger tasks_register_queues on every
 * INSERT into tasks (so raw SQL inserts register too) and never removed: a claim looks up the
 * queues whose set the agent's capabilities cover (`capabilities <@ agent's`) and reads only those.
 */
@Entity('task_queues')
// Hand-written in the migration (GIN): idx_task_queues_capabilities ON task_queues USING gin (capabilities).
@Index('idx_task_queues_capabilities', { synchronize: false })
export class TaskQueueEntity {
  @PrimaryColumn({ type: 'text', collation: 'C', primaryKeyConstraintName: 'pk_task_queues' })
  queue: string;

  @Column({ type: 'text', array: true })
  capabilities: string[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

/** A log line reported with progress (or by the server about an attempt). */
@Entity('task_logs')
@Index('idx_task_logs_task', ['taskId', 'id'])
export class TaskLogEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint' })
  id: string;

  @Column({ name: 'task_id', type: 'uuid' })
  taskId: string;

  @ManyToOne(() => TaskEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'task_id' })
  task?: TaskEntity;

  @Column({ type: 'integer' })
  attempt: number;

  @Column({ type: 'text' })
  level: string;

  @Column({ type: 'text' })
  message: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
