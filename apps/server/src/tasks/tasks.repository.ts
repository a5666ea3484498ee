import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '../../../../libs/database/src';
import { cursorTimestamp, cursorTimestampParam } from '../common/pagination';
import type { TaskStatus } from './task.entity';

export interface TaskRow {
  id: string;
  type: string;
  status: TaskStatus;
  priority: number;
  payload: unknown;
  required_capabilities: string[];
  progress: number;
  attempt: number;
  max_attempts: number;
  retry_count: number;
  assigned_agent: string | null;
  lease_expires_at: Date | null;
  timeout_sec: number;
  depends_on: string[];
  file_dependencies: { path: string; access: string }[];
  pipeline_id: string | null;
  run_id: string | null;
  stage: string | null;
  workflow_id: string | null;
  key: string | null;
  result: unknown;
  error: unknown;
  ra_history: unknown;
  execution_time: number | null;
  metadata: Record<string, unknown>;
  created_by: string;
  run_at: Date | null;
  next_attempt_at: Date | null;
  started_at: Date | null;
  completed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export type ListedTaskRow = TaskRow & { cursor_ts: string };

export interface NewTask {
  type: string;
  status: 'pending' | 'ready';
  priority: number;
  payload: unknown;
  requiredCapabilities: string[];
  retryCount: number;
  timeoutSec: number;
  dependsOn: string[];
  fileDependencies: { path: string; access: string }[];
  pipelineId: string | null;
  runId: string | null;
  stage: string | null;
  workflowId: string | null;
  key: string | null;
  metadata: Record<string, unknown>;
  createdBy: string;
  runAt: Date | null;
}

export interface TaskLogRow {
  attempt: number;
  level: string;
  message: string;
  created_at: Date;
}

/** A claimed task, or one whose file locks must be taken before it can be claimed. */
export type ClaimCandidate = TaskRow & { claimed: boolean };

/** The fencing condition every report carries: this agent, this attempt, a live lease, within the timeout. */
const FENCE = `id = $1 AND assigned_agent = $2 AND attempt = $3 AND status = 'running'
  AND lease_expires_at > clock_timestamp()
  AND started_at + make_interval(secs => timeout_sec) > clock_timestamp()`;

@Injectable()
export class TasksRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(manager: EntityManager, t: NewTask): Promise<TaskRow> {
    const inserted = await rows<TaskRow>(
      manager,
      `INSERT INTO tasks (type, status, priority, payload, required_capabilities, max_attempts, retry_count, timeout_sec, depends_on,
                          file_dependencies, pipeline_id, run_id, stage, workflow_id, key, metadata, created_by, run_at)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6 + 1, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $15::jsonb, $16, $17)
       RETURNING *`,
      [
        t.type,
        t.status,
        t.priority,
        JSON.stringify(t.payload ?? {}),
        t.requiredCapabilities,
        t.retryCount,
        t.timeoutSec,
        t.dependsOn,
        JSON.stringify(t.fileDependencies),
        t.pipelineId,
        t.runId,
        t.stage,
        t.workflowId,
        t.key,
        JSON.stringify(t.metadata),
        t.createdBy,
        t.runAt,
      ],
    );
    return inserted[0];
  }

  async findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<TaskRow | undefined> {
    return (await rows<TaskRow>(manager, 'SELECT * FROM tasks WHERE id = $1', [id]))[0];
  }

  async findByIds(manager: EntityManager, ids: string[]): Promise<TaskRow[]> {
    return rows<TaskRow>(manager, 'SELECT * FROM tasks WHERE id = ANY($1::uuid[])', [ids]);
  }

  async lockById(manager: EntityManager, id: string): Promise<TaskRow | undefined> {
    return (await rows<TaskRow>(manager, 'SELECT * FROM tasks WHERE id = $1 FOR UPDATE', [id]))[0];
  }

  async logs(id: string): Promise<TaskLogRow[]> {
    return rows<TaskLogRow>(
      this.dataSource.manager,
      'SELECT attempt, level, message, created_at FROM task_logs WHERE task_id = $1 ORDER BY id LIMIT 1000',
      [id],
    );
  }

  async appendLogs(manager: EntityManager, taskId: string, attempt: number, logs: { level: string; message: string }[]): Promise<void> {
    if (!logs.length) return;
    await manager.query(
      `INSERT INTO task_logs (task_id, attempt, level, message)
       SELECT $1, $2, l.level, l.message FROM unnest($3::text[], $4::text[]) AS l(level, message)`,
      [taskId, attempt, logs.map((l) => l.level), logs.map((l) => l.message)],
    );
  }

  /** Newest first, keyset on (created_at, id). */
  async list(
    filter: { status?: string; type?: string; pipelineId?: string; runId?: string; workflowId?: string; agentId?: string },
    limit: number,
    before?: [string, string],
  ): Promise<ListedTaskRow[]> {
    const params: unknown[] = [];
    const clauses: string[] = [];
    if (filter.status) clauses.push(`status = $${params.push(filter.status)}`);
    if (filter.type) clauses.push(`type = $${params.push(filter.type)}`);
    if (filter.pipelineId) clauses.push(`pipeline_id = $${params.push(filter.pipelineId)}`);
    if (filter.runId) clauses.push(`run_id = $${params.push(filter.runId)}`);
    if (filter.workflowId) clauses.push(`workflow_id = $${params.push(filter.workflowId)}`);
    if (filter.agentId) clauses.push(`assigned_agent = $${params.push(filter.agentId)}`);
    if (before) {
      params.push(before[0], before[1]);
      clauses.push(`(created_at, id) < (${cursorTimestampParam(`$${params.length - 1}`)}, $${params.length}::uuid)`);
    }
    params.push(limit);
    return rows<ListedTaskRow>(
      this.dataSource.manager,
      `SELECT *, ${cursorTimestamp('created_at')} AS cursor_ts FROM tasks ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
  }

  /** Locks the agent row so one agent's concurrent claims take turns (the held count stays exact). */
  /**
   * The claiming agent, row-locked (claims by one agent serialise here, so its slot count below
   * is exact), only if `owner` registered it (null: an admin acting for anyone). One round trip
   * for the ownership check and the lock.
   */
  async lockAgentForClaim(
    manager: EntityManager,
    agentId: string,
    owner: string | null,
  ): Promise<{ status: string; capabilities: string[]; max_parallel_tasks: number } | undefined> {
    return (
      await rows<{ status: string; capabilities: string[]; max_parallel_tasks: number }>(
        manager,
        'SELECT status, capabilities, max_parallel_tasks FROM agents WHERE id = $1 AND ($2::text IS NULL OR owner = $2) FOR UPDATE',
        [agentId, owner],
      )
    )[0];
  }

  /** Tasks the agent runs now. A statement of its own, after the agent's lock: it must see claims committed while we waited. */
  async countHeld(manager: EntityManager, agentId: string): Promise<number> {
    const r = await rows<{ n: number }>(
      manager,
      `SELECT count(*)::int AS n FROM tasks WHERE assigned_agent = $1 AND status = 'running'`,
      [agentId],
    );
    return r[0].n;
  }

  /**
   * One round of a claim, in one statement. Candidates: ready tasks whose required capabilities
   * the agent has, in (priority, created_at, id) order, at most `limit`, row-locked with SKIP LOCKED
   * so concurrent claimers never pick the same row and never wait on each other. The MATERIALIZED
   * CTE fixes the candidate set before the UPDATE, so no more than `limit` rows are touched (a plain
   * `IN (SELECT ... LIMIT n)` may be re-evaluated and claim more). Candidates without file
   * dependencies are claimed at once: running, attempt + 1 (the fencing token), a lease from the
   * database clock. Candidates with file dependencies come back unclaimed but still row-locked, for
   * the caller to take their locks and claim them in the same transaction.
   */
  async claimRound(
    manager: EntityManager,
    agentId: string,
    capabilities: string[],
    limit: number,
    leaseSec: number,
    exclude: string[],
  ): Promise<ClaimCandidate[]> {
    return rows<ClaimCandidate>(
      manager,
      `WITH c AS MATERIALIZED (
         SELECT id, file_dependencies FROM tasks
          WHERE status = 'ready' AND required_capabilities <@ $2::text[] AND NOT (id = ANY($5::uuid[]))
          ORDER BY priority, created_at, id
          LIMIT $3
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE tasks t
            SET status = 'running', attempt = t.attempt + 1, assigned_agent = $1, progress = 0,
                lease_expires_at = clock_timestamp() + make_interval(secs => $4),
                started_at = clock_timestamp(), updated_at = clock_timestamp(), next_attempt_at = NULL
           FROM c WHERE t.id = c.id AND c.file_dependencies = '[]'::jsonb
         RETURNING t.*
       )
       SELECT true AS claimed, claimed.* FROM claimed
       UNION ALL
       SELECT false AS claimed, t.* FROM tasks t JOIN c ON c.id = t.id WHERE c.file_dependencies <> '[]'::jsonb`,
      [agentId, capabilities, limit, leaseSec, exclude],
    );
  }

  /** Claims a candidate (row-locked by claimRound) whose file locks the caller has just taken. */
  async claimLocked(manager: EntityManager, id: string, agentId: string, leaseSec: number): Promise<TaskRow> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = 'running', attempt = attempt + 1, assigned_agent = $2, progress = 0,
              lease_expires_at = clock_timestamp() + make_interval(secs => $3),
              started_at = clock_timestamp(), updated_at = clock_timestamp(), next_attempt_at = NULL
        WHERE id = $1 AND status = 'ready' RETURNING *`,
      [id, agentId, leaseSec],
    );
    return r[0];
  }

  /** Progress under the fence; also extends the lease. */
  async progress(manager: EntityManager, id: string, agentId: string, attempt: number, progress: number, leaseSec: number): Promise<TaskRow | undefined> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET progress = $4, updated_at = clock_timestamp(),
              lease_expires_at = clock_timestamp() + make_interval(secs => $5)
        WHERE ${FENCE} RETURNING *`,
      [id, agentId, attempt, progress, leaseSec],
    );
    return r[0];
  }

  async complete(
    manager: EntityManager,
    id: string,
    agentId: string,
    attempt: number,
    outcome: { result: unknown; raHistory: unknown; executionTime: number | null },
  ): Promise<TaskRow | undefined> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = 'completed', progress = 1, result = $4::jsonb, ra_history = $5::jsonb, execution_time = $6,
              completed_at = clock_timestamp(), updated_at = clock_timestamp(), lease_expires_at = NULL, error = NULL
        WHERE ${FENCE} RETURNING *`,
      [id, agentId, attempt, JSON.stringify(outcome.result ?? null), outcome.raHistory === undefined ? null : JSON.stringify(outcome.raHistory), outcome.executionTime],
    );
    return r[0];
  }

  /** A failed attempt under the fence: `retrying` with its next_attempt_at, or `failed` for good. */
  async fail(
    manager: EntityManager,
    id: string,
    agentId: string,
    attempt: number,
    error: unknown,
    retryDelayMs: number | null,
  ): Promise<TaskRow | undefined> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET error = $4::jsonb, updated_at = clock_timestamp(), lease_expires_at = NULL,
              status = CASE WHEN $5::double precision IS NULL THEN 'failed' ELSE 'retrying' END,
              next_attempt_at = CASE WHEN $5::double precision IS NULL THEN NULL
                                     ELSE clock_timestamp() + make_interval(secs => $5::double precision / 1000) END,
              completed_at = CASE WHEN $5::double precision IS NULL THEN clock_timestamp() ELSE NULL END
        WHERE ${FENCE} RETURNING *`,
      [id, agentId, attempt, JSON.stringify(error), retryDelayMs],
    );
    return r[0];
  }

  /** Ends a task whatever its holder (cancel, lapsed lease, timeout, failed dependency). */
  async setTerminal(manager: EntityManager, id: string, status: 'failed' | 'cancelled', error: unknown): Promise<TaskRow> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = $2, error = $3::jsonb, lease_expires_at = NULL, next_attempt_at = NULL,
              completed_at = clock_timestamp(), updated_at = clock_timestamp()
        WHERE id = $1 RETURNING *`,
      [id, status, JSON.stringify(error)],
    );
    return r[0];
  }

  /** An attempt that ended without a report (lapsed lease, timeout): retry after a delay, or fail. */
  async endAttempt(manager: EntityManager, id: string, error: unknown, retryDelayMs: number | null): Promise<TaskRow> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET error = $2::jsonb, updated_at = clock_timestamp(), lease_expires_at = NULL,
              status = CASE WHEN $3::double precision IS NULL THEN 'failed' ELSE 'retrying' END,
              next_attempt_at = CASE WHEN $3::double precision IS NULL THEN NULL
                                     ELSE clock_timestamp() + make_interval(secs => $3::double precision / 1000) END,
              completed_at = CASE WHEN $3::double precision IS NULL THEN clock_timestamp() ELSE NULL END
        WHERE id = $1 RETURNING *`,
      [id, JSON.stringify(error), retryDelayMs],
    );
    return r[0];
  }

  /**
   * Operator retry: a failed or cancelled task gets its retry budget again and is claimable again,
   * or `pending` when it still waits for its dependencies or its run_at.
   */
  async requeueForRetry(manager: EntityManager, id: string, status: 'ready' | 'pending' = 'ready'): Promise<TaskRow> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = $2, max_attempts = attempt + retry_count + 1, error = NULL, result = NULL, progress = 0,
              assigned_agent = NULL, lease_expires_at = NULL, next_attempt_at = NULL, completed_at = NULL,
              updated_at = clock_timestamp()
        WHERE id = $1 RETURNING *`,
      [id, status],
    );
    return r[0];
  }

  /** Puts an agent's running tasks straight back to ready (a clean deregistration is not a failure). */
  async releaseAgentTasks(manager: EntityManager, agentId: string): Promise<TaskRow[]> {
    return rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = 'ready', assigned_agent = NULL, lease_expires_at = NULL, progress = 0, updated_at = clock_timestamp()
        WHERE assigned_agent = $1 AND status = 'running' RETURNING *`,
      [agentId],
    );
  }

  /** Ends the leases of an agent's tasks now, so the lapsed-lease sweep counts them as failed attempts. */
  async expireAgentLeases(manager: EntityManager, agentId: string): Promise<number> {
    const r = await rows<{ id: string }>(
      manager,
      `UPDATE tasks SET lease_expires_at = clock_timestamp(), updated_at = clock_timestamp()
        WHERE assigned_agent = $1 AND status = 'running' RETURNING id`,
      [agentId],
    );
    return r.length;
  }

  /** Running tasks whose lease lapsed or whose attempt outran its timeout; row-locked, skipping busy rows. */
  async lockExpiredRunning(manager: EntityManager, limit: number): Promise<(TaskRow & { reason: 'lease_expired' | 'timeout' })[]> {
    return rows<TaskRow & { reason: 'lease_expired' | 'timeout' }>(
      manager,
      `SELECT t.*, CASE WHEN t.started_at + make_interval(secs => t.timeout_sec) <= clock_timestamp() THEN 'timeout'
                        ELSE 'lease_expired' END AS reason
         FROM tasks t
        WHERE t.status = 'running'
          AND (t.lease_expires_at <= clock_timestamp() OR t.started_at + make_interval(secs => t.timeout_sec) <= clock_timestamp())
        ORDER BY t.lease_expires_at
        LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
  }

  /** Due retries → ready. */
  async promoteDueRetries(manager: EntityManager, limit: number): Promise<TaskRow[]> {
    return rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = 'ready', next_attempt_at = NULL, updated_at = clock_timestamp()
        WHERE id IN (SELECT id FROM tasks WHERE status = 'retrying' AND next_attempt_at <= clock_timestamp()
                      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [limit],
    );
  }

  /**
   * Pending tasks that may run: run_at reached and every dependency completed → ready. `onlyDependentsOf`
   * narrows the check to the dependents of one task (on its completion); without it the sweep checks all.
   */
  async promoteRunnablePending(manager: EntityManager, limit: number, onlyDependentsOf?: string): Promise<TaskRow[]> {
    return rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = 'ready', updated_at = clock_timestamp()
        WHERE id IN (
          SELECT p.id FROM tasks p
           WHERE p.status = 'pending'
             AND ($2::uuid IS NULL OR p.depends_on @> ARRAY[$2::uuid])
             AND (p.run_at IS NULL OR p.run_at <= clock_timestamp())
             AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.id = ANY(p.depends_on) AND d.status <> 'completed')
           ORDER BY p.created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [limit, onlyDependentsOf ?? null],
    );
  }

  /**
   * Every task that transitively depends on `id` and has not finished, row-locked: they can no
   * longer run once `id` failed or was cancelled.
   */
  async lockOpenDependents(manager: EntityManager, id: string): Promise<TaskRow[]> {
    return rows<TaskRow>(
      manager,
      `WITH RECURSIVE dependents AS (
         SELECT t.id FROM tasks t WHERE t.depends_on @> ARRAY[$1::uuid]
         UNION
         SELECT t.id FROM tasks t JOIN dependents d ON t.depends_on @> ARRAY[d.id]
       )
       SELECT t.* FROM tasks t JOIN dependents d ON d.id = t.id
        WHERE t.status IN ('pending', 'ready', 'retrying')
        FOR UPDATE OF t`,
      [id],
    );
  }

  async statusOf(manager: EntityManager, ids: string[]): Promise<{ id: string; status: TaskStatus }[]> {
    return rows<{ id: string; status: TaskStatus }>(manager, 'SELECT id, status FROM tasks WHERE id = ANY($1::uuid[])', [ids]);
  }
}
