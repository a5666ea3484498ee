import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { prepared, rows } from '@agentmanager/database';
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

/** What a claim needs of its agent; `queues`: the task_queues keys its capabilities cover. */
export interface ClaimingAgent {
  status: string;
  max_parallel_tasks: number;
  queues: string[];
}

/**
 * A claimed task, or one whose file locks must be taken before it can be claimed; `free_slots`:
 * how many tasks the agent could still take when the round began (the same on every row).
 */
export type ClaimCandidate = TaskRow & { claimed: boolean; free_slots: number };

/** The fencing condition every report carries: this agent, this attempt, a live lease, within the timeout. */
const FENCE = `id = $1 AND assigned_agent = $2 AND attempt = $3 AND status = 'running'
  AND lease_expires_at > clock_timestamp()
  AND started_at + make_interval(secs => timeout_sec) > clock_timestamp()`;

/** $2 is an agent that $4 may act as (the credential that registered it; NULL: an admin, anyone's). */
const ACTING_AGENT = `EXISTS (SELECT 1 FROM agents a WHERE a.id = $2 AND ($4::text IS NULL OR a.owner = $4))`;

/** Whether the updated task `t` still holds live file locks (read only: file-locks owns that table). */
const HOLDS_LOCKS = `EXISTS (SELECT 1 FROM file_locks l WHERE l.task_id = t.id AND l.released_at IS NULL) AS holds_locks`;

/** Not finished yet: what a cancel can still end. */
const OPEN = `('pending', 'ready', 'retrying', 'running')`;

/** Pending task `p` may run now: its run_at has come and every task it depends on completed. */
const RUNNABLE = `p.status = 'pending' AND (p.run_at IS NULL OR p.run_at <= clock_timestamp())
  AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.id = ANY(p.depends_on) AND d.status <> 'completed')`;

/** A task after an agent's report, with what the report must also touch. */
export type ReportedTask = TaskRow & { holds_locks: boolean; has_waiting_dependents: boolean };

/**
 * claimRound's statements. $1 agent, $2 queue key (or keys), $3 limit, $4 max_parallel_tasks,
 * $5 lease seconds, $6 ids to skip. `slots` counts the agent's free slots; `c` holds the locked
 * candidates; `claimed` claims those without file dependencies. The UPDATE and the final read
 * take `c` by primary key (`= ANY (ARRAY(...))`) whatever the planner guesses about its size, and
 * the `LIMIT $3` caps change no result: they keep the estimates (so the plan, and whether it is
 * JIT-compiled) as small as a claim really is.
 */
const CLAIM_TAIL = `
   ), claimed AS (
     UPDATE tasks
        SET status = 'running', attempt = attempt + 1, assigned_agent = $1, progress = 0,
            lease_expires_at = clock_timestamp() + make_interval(secs => $5),
            started_at = clock_timestamp(), updated_at = clock_timestamp(), next_attempt_at = NULL
      WHERE id = ANY (ARRAY(SELECT id FROM c WHERE file_dependencies = '[]'::jsonb))
     RETURNING *
   )
   SELECT true AS claimed, claimed.*, (SELECT n FROM slots) AS free_slots FROM claimed
   UNION ALL
   SELECT false, t.*, (SELECT n FROM slots) FROM tasks t WHERE t.id = ANY (ARRAY(SELECT id FROM c WHERE file_dependencies <> '[]'::jsonb))
   ORDER BY priority, created_at, id`;

const CLAIM_SLOTS = `WITH slots AS (
     SELECT GREATEST(0, LEAST($3::int, $4::int - (SELECT count(*)::int FROM tasks WHERE assigned_agent = $1 AND status = 'running'))) AS n`;

/** One queue: its first free-slots rows, in order, walking past rows other claimers hold. */
const CLAIM_FROM_ONE_QUEUE = `${CLAIM_SLOTS}
   ), c AS MATERIALIZED (
     SELECT * FROM (
       SELECT id, file_dependencies FROM tasks
        WHERE status = 'ready' AND task_queue_key(required_capabilities) COLLATE "C" = $2 AND NOT (id = ANY($6::uuid[]))
        ORDER BY priority, created_at, id LIMIT (SELECT n FROM slots)
        FOR UPDATE SKIP LOCKED) l
      LIMIT $3${CLAIM_TAIL}`;

/**
 * Several queues, merged in order without locking more than it claims: `heads` merges the first
 * few of each queue as the snapshot shows them; `share` counts how many of the first free-slots
 * of them each queue holds; `first` locks that many from each queue. If a queue runs out that way
 * (other claimers hold its rows), `second` makes up the difference from every queue, in order.
 */
const CLAIM_ACROSS_QUEUES = `${CLAIM_SLOTS}
   ), heads AS (
     SELECT h.* FROM unnest($2::text[]) AS q(queue) CROSS JOIN LATERAL (
       SELECT q.queue, priority, created_at, id FROM tasks
        WHERE status = 'ready' AND task_queue_key(required_capabilities) COLLATE "C" = q.queue AND NOT (id = ANY($6::uuid[]))
        ORDER BY priority, created_at, id LIMIT $3) h
      ORDER BY h.priority, h.created_at, h.id LIMIT $3
   ), share AS (
     SELECT queue, count(*) AS k FROM (SELECT queue FROM heads ORDER BY priority, created_at, id LIMIT (SELECT n FROM slots)) top
      GROUP BY queue
   ), first AS MATERIALIZED (
     SELECT l.* FROM share s CROSS JOIN LATERAL (
       SELECT id, priority, created_at, file_dependencies FROM tasks
        WHERE status = 'ready' AND task_queue_key(required_capabilities) COLLATE "C" = s.queue AND NOT (id = ANY($6::uuid[]))
        ORDER BY priority, created_at, id LIMIT s.k
        FOR UPDATE SKIP LOCKED) l
      LIMIT $3
   ), short AS (
     SELECT (SELECT coalesce(sum(k), 0) FROM share)::int - (SELECT count(*) FROM first)::int AS n
   ), second AS MATERIALIZED (
     SELECT l.* FROM short, unnest($2::text[]) AS q(queue) CROSS JOIN LATERAL (
       SELECT * FROM (
         SELECT id, priority, created_at, file_dependencies FROM tasks
          WHERE status = 'ready' AND task_queue_key(required_capabilities) COLLATE "C" = q.queue AND NOT (id = ANY($6::uuid[]))
            AND id NOT IN (SELECT id FROM first)
          ORDER BY priority, created_at, id LIMIT short.n
          FOR UPDATE SKIP LOCKED) x
        LIMIT $3) l
      WHERE short.n > 0
      ORDER BY l.priority, l.created_at, l.id LIMIT (SELECT n FROM short)
   ), c AS MATERIALIZED (
     SELECT id, file_dependencies FROM first UNION ALL SELECT id, file_dependencies FROM second${CLAIM_TAIL}`;

@Injectable()
export class TasksRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(manager: EntityManager, t: NewTask): Promise<TaskRow> {
    const inserted = await prepared<TaskRow>(
      manager,
      'tasks.insert',
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

  /**
   * The claiming agent, row-locked (claims by one agent serialise here, so the slot count in
   * claimRound is exact), only if `owner` registered it (null: an admin acting for anyone), with
   * its queues: the keys of the capability sets (task_queues) its capabilities cover. One round
   * trip for the ownership check, the lock and the queues.
   */
  async lockAgentForClaim(manager: EntityManager, agentId: string, owner: string | null): Promise<ClaimingAgent | undefined> {
    return (
      await prepared<ClaimingAgent>(
        manager,
        'tasks.lock_agent_for_claim',
        `SELECT a.status, a.max_parallel_tasks, ARRAY(SELECT q.queue FROM task_queues q WHERE q.capabilities <@ a.capabilities) AS queues
           FROM agents a WHERE a.id = $1 AND ($2::text IS NULL OR a.owner = $2) FOR UPDATE OF a`,
        [agentId, owner],
      )
    )[0];
  }

  /**
   * One round of a claim, in one statement, after lockAgentForClaim in the same transaction:
   * ready tasks of the agent's queues, in (priority, created_at, id) order across them. Each queue
   * is its own ordered range of idx_tasks_ready, so the cost does not grow with work waiting for
   * other agents.
   *
   * Slots: at most `limit`, and no more than max_parallel_tasks minus what the agent runs now,
   * counted here: this statement's snapshot is taken after the agent row was locked, so it sees
   * every claim the agent committed before, and no other claim by it can run meanwhile.
   *
   * Candidates are row-locked with SKIP LOCKED, so concurrent claimers never pick the same row and
   * never wait on each other (a row another claimer holds is passed over for the next one; a row
   * it claimed meanwhile fails the re-checked status). The MATERIALIZED CTEs fix the locked set
   * before the UPDATE, so no more than the free slots are touched (a plain `IN (SELECT ... LIMIT
   * n)` may be re-evaluated and claim more). Candidates without file dependencies are claimed at
   * once: running, attempt + 1 (the fencing token), a lease from the database clock. Candidates
   * with file dependencies come back unclaimed but still row-locked, for the caller to take their
   * locks and claim them in the same transaction. Rows come back in claim order.
   */
  async claimRound(
    manager: EntityManager,
    agentId: string,
    queues: string[],
    limit: number,
    maxParallel: number,
    leaseSec: number,
    exclude: string[],
  ): Promise<ClaimCandidate[]> {
    if (queues.length === 0) return [];
    const one = queues.length === 1;
    return prepared<ClaimCandidate>(manager, one ? 'tasks.claim_one_queue' : 'tasks.claim_across_queues', one ? CLAIM_FROM_ONE_QUEUE : CLAIM_ACROSS_QUEUES, [
      agentId,
      one ? queues[0] : queues,
      limit,
      maxParallel,
      leaseSec,
      exclude,
    ]);
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

  /**
   * A progress report under the fence (it also extends the lease), by an agent `owner` may act
   * as (null: anyone's), in one statement; `holds_locks`: the task's file locks need renewing.
   */
  async progress(
    manager: EntityManager,
    id: string,
    agentId: string,
    owner: string | null,
    attempt: number,
    progress: number,
    leaseSec: number,
  ): Promise<ReportedTask | undefined> {
    const r = await prepared<ReportedTask>(
      manager,
      'tasks.progress',
      `WITH t AS (
         UPDATE tasks SET progress = $5, updated_at = clock_timestamp(),
                lease_expires_at = clock_timestamp() + make_interval(secs => $6)
          WHERE ${FENCE} AND ${ACTING_AGENT} RETURNING *
       )
       SELECT t.*, ${HOLDS_LOCKS}, false AS has_waiting_dependents FROM t`,
      [id, agentId, attempt, owner, progress, leaseSec],
    );
    return r[0];
  }

  /**
   * Completes under the fence, by an agent `owner` may act as, in one statement that also says
   * what else the completion touches: live file locks to release, pending dependents to promote.
   * The common task has neither and needs no further statement.
   */
  async complete(
    manager: EntityManager,
    id: string,
    agentId: string,
    owner: string | null,
    attempt: number,
    outcome: { result: unknown; raHistory: unknown; executionTime: number | null },
  ): Promise<ReportedTask | undefined> {
    const r = await prepared<ReportedTask>(
      manager,
      'tasks.complete',
      `WITH t AS (
         UPDATE tasks SET status = 'completed', progress = 1, result = $5::jsonb, ra_history = $6::jsonb, execution_time = $7,
                completed_at = clock_timestamp(), updated_at = clock_timestamp(), lease_expires_at = NULL, error = NULL
          WHERE ${FENCE} AND ${ACTING_AGENT} RETURNING *
       )
       SELECT t.*, ${HOLDS_LOCKS},
              EXISTS (SELECT 1 FROM tasks p WHERE p.depends_on @> ARRAY[t.id] AND p.depends_on <> '{}' AND p.status = 'pending') AS has_waiting_dependents
         FROM t`,
      [id, agentId, attempt, owner, JSON.stringify(outcome.result ?? null), outcome.raHistory === undefined ? null : JSON.stringify(outcome.raHistory), outcome.executionTime],
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

  /**
   * Cancels a task unless it already finished, whoever holds it (its workflow or run ended):
   * undefined when it had (a cascade from an earlier cancel may have ended it).
   */
  async cancelOpen(manager: EntityManager, id: string, error: unknown): Promise<TaskRow | undefined> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = 'cancelled', error = $2::jsonb, lease_expires_at = NULL, next_attempt_at = NULL,
              completed_at = clock_timestamp(), updated_at = clock_timestamp()
        WHERE id = $1 AND status IN ${OPEN} RETURNING *`,
      [id, JSON.stringify(error)],
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

  /**
   * Rework: a completed task goes back to `ready` (or `pending` while something it depends on is
   * redone), its result cleared, a fresh retry budget, and the auditor's note in its payload.
   */
  async resetForRework(manager: EntityManager, id: string, status: 'ready' | 'pending', note: string | null): Promise<TaskRow> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = $2, result = NULL, error = NULL, ra_history = NULL, execution_time = NULL, progress = 0,
              assigned_agent = NULL, lease_expires_at = NULL, next_attempt_at = NULL, completed_at = NULL,
              max_attempts = attempt + retry_count + 1,
              payload = CASE WHEN $3::text IS NULL THEN payload
                             WHEN jsonb_typeof(payload) = 'object' THEN payload || jsonb_build_object('rework_note', $3::text)
                             ELSE jsonb_build_object('input', payload, 'rework_note', $3::text) END,
              updated_at = clock_timestamp()
        WHERE id = $1 RETURNING *`,
      [id, status, note],
    );
    return r[0];
  }

  /**
   * A completion its consumer refused (a planner's unusable plan) becomes a failed attempt:
   * `retrying` (due at once) while `retry`, else `failed`; its result is cleared.
   */
  async rejectCompletion(manager: EntityManager, id: string, error: unknown, retry: boolean): Promise<TaskRow> {
    const r = await rows<TaskRow>(
      manager,
      `UPDATE tasks SET status = CASE WHEN $3 THEN 'retrying' ELSE 'failed' END, error = $2::jsonb, result = NULL, progress = 0,
              next_attempt_at = CASE WHEN $3 THEN clock_timestamp() ELSE NULL END,
              completed_at = CASE WHEN $3 THEN NULL ELSE completed_at END, updated_at = clock_timestamp()
        WHERE id = $1 RETURNING *`,
      [id, JSON.stringify(error), retry],
    );
    return r[0];
  }

  /** Hands a finished stage's result to the tasks that wait for it: payload.stage_results.<stageName>. */
  async passStageResult(manager: EntityManager, taskIds: string[], stageName: string, result: unknown): Promise<void> {
    if (!taskIds.length) return;
    await manager.query(
      `UPDATE tasks SET payload = jsonb_set(CASE WHEN payload ? 'stage_results' THEN payload ELSE payload || '{"stage_results": {}}'::jsonb END,
                                            ARRAY['stage_results', $2::text], $3::jsonb, true),
              updated_at = clock_timestamp()
        WHERE id = ANY($1::uuid[])`,
      [taskIds, stageName, JSON.stringify(result ?? null)],
    );
  }

  /** `dependencyId` stops being a dependency of `taskIds` (so they are not failed with it). */
  async detachDependency(manager: EntityManager, taskIds: string[], dependencyId: string): Promise<void> {
    if (!taskIds.length) return;
    await manager.query(
      'UPDATE tasks SET depends_on = array_remove(depends_on, $2::uuid), updated_at = clock_timestamp() WHERE id = ANY($1::uuid[])',
      [taskIds, dependencyId],
    );
  }

  /** Extends every live lease the agent holds (never revives one that already lapsed); returns how many. */
  async extendLeases(manager: EntityManager, agentId: string, leaseSec: number): Promise<number> {
    const extended = await rows<{ id: string }>(
      manager,
      `UPDATE tasks SET lease_expires_at = clock_timestamp() + make_interval(secs => $2), updated_at = clock_timestamp()
        WHERE assigned_agent = $1 AND status = 'running' AND lease_expires_at > clock_timestamp()
        RETURNING id`,
      [agentId, leaseSec],
    );
    return extended.length;
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
           WHERE ${RUNNABLE}
             AND ($2::uuid IS NULL OR (p.depends_on @> ARRAY[$2::uuid] AND p.depends_on <> '{}'))
           ORDER BY p.created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [limit, onlyDependentsOf ?? null],
    );
  }

  /** Those of `taskIds` that are pending and may run now → ready (after a stage was detached from them). */
  async promoteRunnable(manager: EntityManager, taskIds: string[]): Promise<TaskRow[]> {
    if (!taskIds.length) return [];
    return rows<TaskRow>(
      manager,
      `UPDATE tasks p SET status = 'ready', updated_at = clock_timestamp() WHERE p.id = ANY($1::uuid[]) AND ${RUNNABLE} RETURNING *`,
      [taskIds],
    );
  }

  /**
   * Every task that transitively depends on `id` and has not finished, row-locked: they can no
   * longer run once `id` failed or was cancelled. Fetched by id (they are few), so the plan never
   * turns into a scan of every open task.
   */
  async lockOpenDependents(manager: EntityManager, id: string): Promise<TaskRow[]> {
    return rows<TaskRow>(
      manager,
      `WITH RECURSIVE dependents AS (
         SELECT t.id FROM tasks t WHERE t.depends_on @> ARRAY[$1::uuid] AND t.depends_on <> '{}'
         UNION
         SELECT t.id FROM tasks t JOIN dependents d ON t.depends_on @> ARRAY[d.id] AND t.depends_on <> '{}'
       )
       SELECT * FROM tasks
        WHERE id = ANY (ARRAY(SELECT id FROM dependents)) AND status IN ('pending', 'ready', 'retrying')
        FOR UPDATE`,
      [id],
    );
  }

  async statusOf(manager: EntityManager, ids: string[]): Promise<{ id: string; status: TaskStatus }[]> {
    return rows<{ id: string; status: TaskStatus }>(manager, 'SELECT id, status FROM tasks WHERE id = ANY($1::uuid[])', [ids]);
  }
}
