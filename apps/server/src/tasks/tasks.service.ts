import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import { actingOwner, type AuditActor, ownerOf, type Principal,SYSTEM_ACTOR } from '../access/principal';
import { AgentLifecycle } from '../agents/agent-lifecycle';
import { AgentsService } from '../agents/agents.service';
import { type AuditEntry,AuditService } from '../audit/audit.service';
import { DomainError, notFound } from '../common/errors';
import { IdempotencyService } from '../common/idempotency';
import { decodeCursor, page } from '../common/pagination';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { EventsService } from '../events/events.service';
import { MetricsService } from '../metrics/metrics.service';
import { journalNotify } from '../outbox/commit-journal';
import type { CompleteDto, CreateTaskDto, FailDto, ListTasksQueryDto, ProgressDto, TaskDto, TaskListDto } from './dto/task.dto';
import { retryDelayMs } from './retry-policy';
import { PRIORITY_RANK } from './task.entity';
import { emitTaskEvents } from './task.events';
import { toTaskDto } from './task.mapper';
import { TASK_FILE_LOCKS, type TaskFileLocks,TaskHooks } from './task-hooks';
import { type NewTask, type TaskRow,TasksRepository } from './tasks.repository';

export interface CreateOptions {
  idempotencyKey?: string;
}

/** Task submission, reports under the fence, operator actions, and the transitions they cause. */
@Injectable()
export class TasksService implements OnModuleInit {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tasks: TasksRepository,
    private readonly idempotency: IdempotencyService,
    private readonly agents: AgentsService,
    private readonly lifecycle: AgentLifecycle,
    private readonly hooks: TaskHooks,
    private readonly audit: AuditService,
    private readonly events: EventsService,
    @Inject(TASK_FILE_LOCKS) private readonly fileLocks: TaskFileLocks,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.hooks.onChanged(async (manager, task) => emitTaskEvents(this.events, manager, task));
    this.lifecycle.onAgentGone('tasks', async (manager, agentId, reason) => {
      if (reason === 'deregistered') {
        // A clean goodbye: its tasks go straight back to the queue, not counted as failures.
        const released = await this.tasks.releaseAgentTasks(manager, agentId);
        for (const task of released) {
          await this.fileLocks.releaseForTask(manager, task.id, 'agent_deregistered');
          await this.hooks.taskChanged(manager, task);
        }
        if (released.length) journalNotify(manager, 'am_tasks_ready');
      } else {
        // Offline or disabled: end its leases now; the lapsed-lease sweep counts the attempts as failed.
        await this.tasks.expireAgentLeases(manager, agentId);
      }
    });
  }

  get leaseSec(): number {
    return this.config.taskLeaseSec;
  }

  /** How long a task's file locks live: past any point the task could still be running. */
  lockTtlFor(task: Pick<TaskRow, 'timeout_sec'>): number {
    return task.timeout_sec + this.config.taskLeaseSec;
  }

  async create(principal: Principal, body: CreateTaskDto, options: CreateOptions = {}): Promise<{ status: number; task: TaskDto }> {
    const request = { owner: ownerOf(principal), route: 'POST /tasks', key: options.idempotencyKey, body };
    const out = await inTransaction(this.dataSource, (manager) =>
      this.idempotency.within(manager, request, 201, async () => toTaskDto(await this.insert(manager, principal.actor, request.owner, body, {}))),
    );
    return { status: out.status, task: out.body };
  }

  /**
   * Inserts one task in the caller's transaction (also used by workflows and pipelines), checking
   * its dependencies: unknown ids → 422; a failed or cancelled dependency → 422.
   */
  async insert(
    manager: EntityManager,
    actor: AuditActor,
    owner: string,
    body: CreateTaskDto,
    links: Partial<Pick<NewTask, 'workflowId' | 'runId' | 'key' | 'pipelineId' | 'stage'>>,
    forcePending = false,
  ): Promise<TaskRow> {
    const dependsOn = [...new Set(body.depends_on ?? [])];
    let dependenciesDone = true;
    if (dependsOn.length) {
      const found = await this.tasks.statusOf(manager, dependsOn);
      const missing = dependsOn.filter((id) => !found.some((f) => f.id === id));
      if (missing.length) {
        throw new DomainError('unknown_dependency', 'Some dependencies do not exist', { missing });
      }
      const dead = found.filter((f) => f.status === 'failed' || f.status === 'cancelled');
      if (dead.length) {
        throw new DomainError('unprocessable', 'A dependency has already failed or been cancelled', {
          dependencies: dead.map((d) => ({ id: d.id, status: d.status })),
        });
      }
      dependenciesDone = found.every((f) => f.status === 'completed');
    }
    const delayed = body.run_at !== undefined && body.run_at.getTime() > Date.now();
    const task = await this.tasks.insert(manager, {
      type: body.type,
      status: forcePending || delayed || !dependenciesDone ? 'pending' : 'ready',
      priority: PRIORITY_RANK[body.priority ?? 'medium'],
      payload: body.payload ?? {},
      requiredCapabilities: [...new Set(body.required_capabilities ?? [body.type])],
      retryCount: body.retry_count ?? 3,
      timeoutSec: body.timeout ?? 300,
      dependsOn,
      fileDependencies: (body.file_dependencies ?? []).map((d) => ({ path: d.path, access: d.access })),
      pipelineId: links.pipelineId ?? body.pipeline_id ?? null,
      runId: links.runId ?? null,
      stage: links.stage ?? body.stage ?? null,
      workflowId: links.workflowId ?? null,
      key: links.key ?? null,
      metadata: body.metadata ?? {},
      createdBy: owner,
      runAt: body.run_at ?? null,
    });
    if (task.status === 'ready') journalNotify(manager, 'am_tasks_ready');
    await this.hooks.taskChanged(manager, task);
    await this.audit.record(manager, {
      actor,
      action: 'task.create',
      resourceType: 'task',
      resourceId: task.id,
      details: { type: task.type, status: task.status, priority: body.priority ?? 'medium', workflow_id: task.workflow_id, run_id: task.run_id },
    });
    return task;
  }

  async get(id: string): Promise<TaskDto> {
    const task = await this.tasks.findById(id);
    if (!task) throw notFound('Task', id);
    return toTaskDto(task, await this.tasks.logs(id));
  }

  async list(query: ListTasksQueryDto): Promise<TaskListDto> {
    const before = decodeCursor(query.cursor, ['micros', 'uuid']) as [string, string] | undefined;
    const rows = await this.tasks.list(
      {
        status: query.status,
        type: query.type,
        pipelineId: query.pipeline_id,
        runId: query.run_id,
        workflowId: query.workflow_id,
        agentId: query.agent_id,
      },
      query.limit + 1,
      before,
    );
    const { items, nextCursor } = page(rows, query.limit, (r) => [r.cursor_ts, r.id]);
    return { tasks: items.map((r) => toTaskDto(r)), next_cursor: nextCursor };
  }

  async progress(principal: Principal, id: string, body: ProgressDto): Promise<TaskDto> {
    return inTransaction(this.dataSource, async (manager) => {
      const task = await this.tasks.progress(manager, id, body.agent_id, actingOwner(principal), body.attempt, body.progress, this.leaseSec);
      if (!task) throw await this.reportRefused(principal, manager, id, body);
      const logs = [...(body.message ? [{ level: 'info', message: body.message }] : []), ...(body.logs ?? [])];
      await this.tasks.appendLogs(manager, id, body.attempt, logs);
      if (task.holds_locks) await this.fileLocks.renewForTask(manager, id, this.lockTtlFor(task));
      await this.hooks.taskChanged(manager, task);
      return toTaskDto(task);
    });
  }

  async complete(principal: Principal, id: string, body: CompleteDto): Promise<TaskDto> {
    const dto = await inTransaction(this.dataSource, async (manager) => {
      const task = await this.tasks.complete(manager, id, body.agent_id, actingOwner(principal), body.attempt, {
        result: body.result,
        raHistory: body.ra_history,
        executionTime: body.execution_time ?? null,
      });
      if (!task) throw await this.reportRefused(principal, manager, id, body);
      if (task.holds_locks) await this.fileLocks.releaseForTask(manager, id, 'task_finished');
      await this.hooks.taskChanged(manager, task);
      const unblocked = task.has_waiting_dependents ? await this.tasks.promoteRunnablePending(manager, 1000, id) : [];
      for (const t of unblocked) await this.hooks.taskChanged(manager, t);
      // A freed slot or newly runnable dependents: wake long-polling claimers.
      journalNotify(manager, 'am_tasks_ready');
      await this.audit.record(manager, {
        actor: { type: 'agent', id: body.agent_id },
        action: 'task.complete',
        resourceType: 'task',
        resourceId: id,
        details: { attempt: body.attempt, execution_time: body.execution_time ?? null, unblocked: unblocked.map((t) => t.id) },
      });
      return toTaskDto(task);
    });
    this.metrics.tasksCompleted.inc();
    return dto;
  }

  async fail(principal: Principal, id: string, body: FailDto): Promise<TaskDto> {
    const dto = await inTransaction(this.dataSource, async (manager) => {
      const agent = await this.agents.actingAgent(principal, body.agent_id, manager);
      const current = await this.tasks.findById(id, manager);
      if (!current) throw notFound('Task', id);
      const retry = (body.retryable ?? true) && current.attempt < current.max_attempts;
      const delay = retry ? retryDelayMs(current.attempt, this.config.retryBaseDelayMs, this.config.retryMaxDelayMs) : null;
      const task = await this.tasks.fail(manager, id, body.agent_id, body.attempt, body.error, delay);
      if (!task) throw await this.fenceError(manager, id, body);
      const audits: AuditEntry[] = [
        {
          actor: { type: 'agent', id: agent.id },
          action: 'task.fail',
          resourceType: 'task',
          resourceId: id,
          details: { attempt: body.attempt, error_code: body.error.code, retryable: body.retryable ?? true, status: task.status },
        },
      ];
      await this.afterAttemptEnded(manager, task, audits);
      await this.audit.recordMany(manager, audits);
      return toTaskDto(task);
    });
    this.metrics.tasksFailed.inc({ reason: 'reported' });
    return dto;
  }

  async cancel(principal: Principal, id: string): Promise<TaskDto> {
    return inTransaction(this.dataSource, async (manager) => {
      const current = await this.tasks.lockById(manager, id);
      if (!current) throw notFound('Task', id);
      if (['completed', 'failed', 'cancelled'].includes(current.status)) {
        throw new DomainError('illegal_transition', `A ${current.status} task cannot be cancelled`, { status: current.status });
      }
      const task = await this.tasks.setTerminal(manager, id, 'cancelled', { code: 'cancelled', message: 'Cancelled by an operator' });
      const audits: AuditEntry[] = [
        { actor: principal.actor, action: 'task.cancel', resourceType: 'task', resourceId: id, details: { status_before: current.status } },
      ];
      await this.afterAttemptEnded(manager, task, audits);
      await this.audit.recordMany(manager, audits);
      return toTaskDto(task);
    });
  }

  async retry(principal: Principal, id: string): Promise<TaskDto> {
    return inTransaction(this.dataSource, async (manager) => {
      const current = await this.tasks.lockById(manager, id);
      if (!current) throw notFound('Task', id);
      if (current.status !== 'failed' && current.status !== 'cancelled') {
        throw new DomainError('illegal_transition', `Only failed or cancelled tasks can be retried; this one is ${current.status}`, {
          status: current.status,
        });
      }
      // Its dependencies still rule: a dead one means it can never run; an unfinished one (or a
      // future run_at) means it waits in pending, as it did when it was submitted.
      const deps = current.depends_on.length ? await this.tasks.statusOf(manager, current.depends_on) : [];
      const dead = deps.filter((d) => d.status === 'failed' || d.status === 'cancelled');
      if (dead.length) {
        throw new DomainError('unprocessable', 'A dependency of this task has failed or been cancelled; retry that first', {
          dependencies: dead.map((d) => ({ id: d.id, status: d.status })),
        });
      }
      const waiting =
        deps.some((d) => d.status !== 'completed') ||
        (current.run_at !== null && current.run_at.getTime() > Date.now());
      const task = await this.tasks.requeueForRetry(manager, id, waiting ? 'pending' : 'ready');
      if (task.status === 'ready') journalNotify(manager, 'am_tasks_ready');
      await this.hooks.taskChanged(manager, task);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'task.retry',
        resourceType: 'task',
        resourceId: id,
        details: { status_before: current.status, max_attempts: task.max_attempts },
      });
      return toTaskDto(task);
    });
  }

  /**
   * Whatever ended an attempt (a report, a cancel, a lapsed lease): free the task's file locks,
   * tell the hooks, and when the task is finished for good, fail everything that depended on it.
   */
  async afterAttemptEnded(manager: EntityManager, task: TaskRow, audits: AuditEntry[]): Promise<void> {
    await this.fileLocks.releaseForTask(manager, task.id, 'task_finished');
    await this.hooks.taskChanged(manager, task);
    if (task.status !== 'failed' && task.status !== 'cancelled') return;
    for (const dependent of await this.tasks.lockOpenDependents(manager, task.id)) {
      const failed = await this.tasks.setTerminal(manager, dependent.id, 'failed', {
        code: 'dependency_failed',
        message: `Dependency ${task.id} ${task.status === 'failed' ? 'failed' : 'was cancelled'}`,
        details: { dependency_id: task.id, dependency_status: task.status },
      });
      await this.hooks.taskChanged(manager, failed);
      audits.push({
        actor: SYSTEM_ACTOR,
        action: 'task.fail',
        resourceType: 'task',
        resourceId: failed.id,
        details: { error_code: 'dependency_failed', dependency_id: task.id },
      });
    }
  }

  /**
   * Cancels those of `open` that have not finished meanwhile, in the order given (dependents
   * first, so none is failed with dependency_failed by an earlier one), because their workflow or
   * run ended; `link` names it in each task.cancel audit row. Returns how many it cancelled.
   */
  async cancelOpen(
    manager: EntityManager,
    open: TaskRow[],
    actor: AuditActor,
    reason: string,
    audits: AuditEntry[],
    link: { workflow_id: string } | { run_id: string },
  ): Promise<number> {
    let n = 0;
    for (const t of open) {
      const row = await this.tasks.cancelOpen(manager, t.id, { code: 'cancelled', message: reason });
      if (!row) continue; // already ended by a cascade from an earlier one
      n++;
      audits.push({ actor, action: 'task.cancel', resourceType: 'task', resourceId: row.id, details: { status_before: t.status, ...link } });
      await this.afterAttemptEnded(manager, row, audits);
    }
    return n;
  }

  // Statements workflows and pipelines run on their tasks, in their transaction (see TasksRepository).

  async resetForRework(manager: EntityManager, id: string, status: 'ready' | 'pending', note: string | null): Promise<TaskRow> {
    return this.tasks.resetForRework(manager, id, status, note);
  }

  async rejectCompletion(manager: EntityManager, id: string, error: unknown, retry: boolean): Promise<TaskRow> {
    return this.tasks.rejectCompletion(manager, id, error, retry);
  }

  async passStageResult(manager: EntityManager, taskIds: string[], stageName: string, result: unknown): Promise<void> {
    await this.tasks.passStageResult(manager, taskIds, stageName, result);
  }

  async detachDependency(manager: EntityManager, taskIds: string[], dependencyId: string): Promise<void> {
    await this.tasks.detachDependency(manager, taskIds, dependencyId);
  }

  async promoteRunnable(manager: EntityManager, taskIds: string[]): Promise<TaskRow[]> {
    return this.tasks.promoteRunnable(manager, taskIds);
  }

  /**
   * Why a one-statement report matched nothing: the agent is not one the caller may act as (404),
   * the task is unknown (404), or the caller's claim is stale (409).
   */
  private async reportRefused(principal: Principal, manager: EntityManager, id: string, body: { agent_id: string; attempt: number }): Promise<DomainError> {
    await this.agents.actingAgent(principal, body.agent_id, manager);
    return this.fenceError(manager, id, body);
  }

  /** Why a fenced report matched nothing: the task is unknown (404) or the caller's claim is stale (409). */
  private async fenceError(manager: EntityManager, id: string, body: { agent_id: string; attempt: number }): Promise<DomainError> {
    const task = await this.tasks.findById(id, manager);
    if (!task) return notFound('Task', id);
    return new DomainError('stale_attempt', 'This claim on the task is no longer valid; stop working on it', {
      task_id: id,
      status: task.status,
      current_attempt: task.attempt,
      your_attempt: body.attempt,
      held_by_you: task.assigned_agent === body.agent_id && task.status === 'running',
    });
  }
}
