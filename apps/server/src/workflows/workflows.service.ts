import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '../../../../libs/database/src';
import { canonicalJson } from '../audit/audit-chain';
import { AuditService, type AuditEntry } from '../audit/audit.service';
import { ownerOf, SYSTEM_ACTOR, type AuditActor, type Principal } from '../auth/principal';
import { DomainError, notFound, validationFailed, type FieldError } from '../common/errors';
import { decodeCursor, page } from '../common/pagination';
import { EventsService } from '../events/events.service';
import { journalNotify } from '../outbox/commit-journal';
import { IdempotencyRepository } from '../tasks/idempotency.repository';
import { TaskHooks } from '../tasks/task-hooks';
import { toTaskDto } from '../tasks/task.mapper';
import type { TaskRow } from '../tasks/tasks.repository';
import { TasksService } from '../tasks/tasks.service';
import { dependentsFirst, downstreamOf, validateDag, type DagResult } from './dag';
import {
  PlanResultDto,
  type AuditReportDto,
  type CreateWorkflowDto,
  type ListWorkflowsQueryDto,
  type WorkflowDto,
  type WorkflowListDto,
  type WorkflowTaskInputDto,
} from './dto/workflow.dto';
import { WorkflowsRepository, type AuditReportRow, type WorkflowRow } from './workflows.repository';
import { iso } from '../common/iso';

const TERMINAL_TASK = new Set(['completed', 'failed', 'cancelled']);
const OPEN_WORKFLOW = new Set(['planning', 'running', 'auditing']);

/** The DAG validator's verdict as the API's 422 (or nothing when the graph is sound). */
export function graphError(r: DagResult, what = 'task'): DomainError | undefined {
  if (r.ok) return undefined;
  switch (r.code) {
    case 'duplicate_key':
      return new DomainError('unprocessable', `Duplicate ${what} keys: ${r.keys.join(', ')}`, { duplicate_keys: r.keys });
    case 'unknown_dependency':
      return new DomainError(
        'unknown_dependency',
        `Unknown dependencies: ${r.missing.map((m) => `${m.key} → ${m.depends_on}`).join(', ')}`,
        { missing: r.missing },
      );
    case 'dependency_cycle':
      return new DomainError('dependency_cycle', `Dependency cycle: ${r.cycle.join(' → ')} (each depends on the next)`, { cycle: r.cycle });
  }
}

function flattenErrors(errors: ValidationError[], prefix: string): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = `${prefix}.${e.property}`;
    if (e.constraints) out.push({ field, errors: Object.values(e.constraints) });
    if (e.children?.length) out.push(...flattenErrors(e.children, field));
  }
  return out;
}

/**
 * Workflows: task graphs whose tasks are ordinary tasks (workflow_id + key; depends_on = the ids
 * of the keyed dependencies), so claiming, fan-in promotion and dependency_failed cascades come
 * from the tasks module. This service adds the workflow's own state machine, driven by a task
 * hook inside every task-changing transaction: completion (→ audit → rework), failure, planning.
 */
@Injectable()
export class WorkflowsService implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly workflows: WorkflowsRepository,
    private readonly tasks: TasksService,
    private readonly hooks: TaskHooks,
    private readonly idempotency: IdempotencyRepository,
    private readonly audit: AuditService,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.hooks.onChanged((manager, task) => this.onTaskChanged(manager, task));
  }

  async create(principal: Principal, body: CreateWorkflowDto, options: { idempotencyKey?: string } = {}): Promise<{ status: number; workflow: WorkflowDto }> {
    if (!body.tasks === !body.plan) {
      throw validationFailed([{ field: 'tasks', errors: ['give either tasks (the graph) or plan (a planner builds it), not both'] }]);
    }
    if (body.plan && !body.description) {
      throw validationFailed([{ field: 'description', errors: ['description is required with plan: it is what the planner plans'] }]);
    }
    let order: string[] = [];
    if (body.tasks) {
      const r = validateDag(body.tasks);
      const err = graphError(r);
      if (err) throw err;
      if (r.ok) order = r.order;
    }
    const owner = ownerOf(principal);
    const scope = options.idempotencyKey ? `${owner}|POST /workflows|${options.idempotencyKey}` : undefined;
    const requestHash = createHash('sha256').update(canonicalJson(body)).digest('hex');
    return inTransaction(this.dataSource, async (manager) => {
      if (scope) {
        const previous = await this.idempotency.lockAndFind(manager, scope);
        if (previous) {
          if (previous.request_hash !== requestHash) {
            throw new DomainError('idempotency_key_reused', 'This Idempotency-Key was used with a different request body');
          }
          return { status: previous.status_code, workflow: previous.response as WorkflowDto };
        }
      }
      let wf = await this.workflows.insert(manager, {
        name: body.name ?? null,
        description: body.description ?? null,
        status: body.plan ? 'planning' : 'running',
        audit: body.audit ? { required_capabilities: body.audit.required_capabilities, max_rework_cycles: body.audit.max_rework_cycles } : null,
        plan: body.plan ? { required_capabilities: body.plan.required_capabilities } : null,
        createdBy: owner,
      });
      if (body.plan) {
        const planner = await this.tasks.insert(
          manager,
          principal.actor,
          owner,
          {
            type: 'plan',
            required_capabilities: body.plan.required_capabilities,
            payload: { workflow_id: wf.id, name: wf.name, description: wf.description, audit: wf.audit },
          },
          { workflowId: wf.id },
        );
        wf = await this.workflows.update(manager, wf.id, { plannerTaskId: planner.id });
      } else {
        await this.expand(manager, principal.actor, owner, wf.id, body.tasks!, order);
      }
      const dto = (await this.toDtos([wf], manager))[0];
      this.emitUpdate(manager, dto);
      if (scope) await this.idempotency.save(manager, scope, requestHash, 201, dto);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'workflow.create',
        resourceType: 'workflow',
        resourceId: wf.id,
        details: { status: wf.status, tasks: body.tasks?.length ?? 0, audit: !!body.audit, plan: !!body.plan },
      });
      return { status: 201, workflow: dto };
    });
  }

  async get(id: string): Promise<WorkflowDto> {
    const wf = await this.workflows.findById(id);
    if (!wf) throw notFound('Workflow', id);
    return (await this.toDtos([wf]))[0];
  }

  async list(query: ListWorkflowsQueryDto): Promise<WorkflowListDto> {
    const before = decodeCursor(query.cursor, 2) as [string, string] | undefined;
    const found = await this.workflows.list({ status: query.status }, query.limit + 1, before);
    const { items, nextCursor } = page(found, query.limit, (r) => [r.cursor_ts, r.id]);
    return { workflows: await this.toDtos(items), next_cursor: nextCursor };
  }

  async cancel(principal: Principal, id: string): Promise<WorkflowDto> {
    return inTransaction(this.dataSource, async (manager) => {
      const current = await this.workflows.lockById(manager, id);
      if (!current) throw notFound('Workflow', id);
      if (!OPEN_WORKFLOW.has(current.status)) {
        throw new DomainError('illegal_transition', `A ${current.status} workflow cannot be cancelled`, { status: current.status });
      }
      const wf = await this.workflows.update(manager, id, { status: 'cancelled', auditTaskId: null });
      const audits: AuditEntry[] = [];
      const cancelled = await this.cancelTasks(manager, await this.workflows.lockOpenTasks(manager, id), principal.actor, 'Its workflow was cancelled', audits);
      audits.push({
        actor: principal.actor,
        action: 'workflow.cancel',
        resourceType: 'workflow',
        resourceId: id,
        details: { status_before: current.status, cancelled_tasks: cancelled },
      });
      await this.audit.recordMany(manager, audits);
      const dto = (await this.toDtos([wf], manager))[0];
      this.emitUpdate(manager, dto);
      return dto;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // The state machine, run by the task hook inside the transaction that changed the task.

  private async onTaskChanged(manager: EntityManager, task: TaskRow): Promise<void> {
    if (!task.workflow_id || !TERMINAL_TASK.has(task.status)) return;
    // The row lock serialises concurrent completions of one workflow's tasks: the last one sees all.
    const wf = await this.workflows.lockById(manager, task.workflow_id);
    if (!wf || !OPEN_WORKFLOW.has(wf.status)) return;
    await this.advance(manager, wf, task);
    const now = await this.workflows.findById(wf.id, manager);
    if (now) this.emitUpdate(manager, (await this.toDtos([now], manager))[0]);
  }

  private emitUpdate(manager: EntityManager, wf: WorkflowDto): void {
    this.events.emit(manager, {
      type: 'workflow_update',
      workflow_id: wf.id,
      status: wf.status,
      completed_tasks: wf.completed_tasks,
      total_tasks: wf.total_tasks,
      timestamp: new Date().toISOString(),
    });
  }

  private async advance(manager: EntityManager, wf: WorkflowRow, task: TaskRow): Promise<void> {
    if (task.id === wf.planner_task_id) return this.onPlannerFinished(manager, wf, task);
    if (task.id === wf.audit_task_id) return this.onAuditFinished(manager, wf, task);
    if (task.key === null) return;
    if (task.status === 'completed') return this.onGraphTaskCompleted(manager, wf);
    await this.failWorkflow(
      manager,
      wf,
      {
        code: task.status === 'failed' ? 'task_failed' : 'task_cancelled',
        message: `Task ${task.key} ${task.status === 'failed' ? 'failed' : 'was cancelled'}`,
        details: { task_id: task.id, key: task.key, error: task.error },
      },
      task,
    );
  }

  private async onGraphTaskCompleted(manager: EntityManager, wf: WorkflowRow): Promise<void> {
    const graph = await this.workflows.graphTasks([wf.id], manager);
    if (!graph.every((t) => t.status === 'completed')) return;
    if (!wf.audit) {
      await this.workflows.update(manager, wf.id, { status: 'completed' });
      await this.audit.record(manager, { actor: SYSTEM_ACTOR, action: 'workflow.complete', resourceType: 'workflow', resourceId: wf.id });
      return;
    }
    const auditTask = await this.tasks.insert(
      manager,
      SYSTEM_ACTOR,
      wf.created_by,
      {
        type: 'audit',
        required_capabilities: wf.audit.required_capabilities,
        payload: {
          workflow_id: wf.id,
          name: wf.name,
          description: wf.description,
          rework_cycle: wf.rework_cycle,
          max_rework_cycles: wf.audit.max_rework_cycles,
          results: Object.fromEntries(graph.map((t): [string, unknown] => [t.key ?? t.id, t.result])),
          tasks: graph.map((t) => ({ key: t.key, type: t.type, payload: t.payload, result: t.result })),
        },
      },
      { workflowId: wf.id },
    );
    await this.workflows.update(manager, wf.id, { status: 'auditing', auditTaskId: auditTask.id });
  }

  private async onAuditFinished(manager: EntityManager, wf: WorkflowRow, task: TaskRow): Promise<void> {
    if (task.status !== 'completed') {
      await this.failWorkflow(manager, wf, {
        code: 'audit_failed',
        message: `The audit task ${task.status === 'failed' ? 'failed' : 'was cancelled'}`,
        details: { task_id: task.id, error: task.error },
      });
      return;
    }
    const r = (task.result ?? {}) as Record<string, unknown>;
    const successful = r.is_successful === true;
    const feedback = typeof r.feedback === 'string' ? r.feedback : null;
    const suggestions = (Array.isArray(r.rework_suggestions) ? r.rework_suggestions : [])
      .filter((s): s is { key: string; note?: unknown } => typeof s === 'object' && s !== null && typeof (s as { key?: unknown }).key === 'string')
      .map((s) => ({ key: s.key, note: typeof s.note === 'string' ? s.note : null }));
    const confidence = typeof r.confidence_score === 'number' ? r.confidence_score : null;
    await this.workflows.insertReport(manager, {
      workflowId: wf.id,
      taskId: task.id,
      cycle: wf.rework_cycle,
      isSuccessful: successful,
      feedback,
      suggestions,
      confidence,
    });
    const max = wf.audit?.max_rework_cycles ?? 0;
    const verdict = successful ? 'approved' : wf.rework_cycle < max ? 'rework' : 'rejected';
    if (verdict === 'approved') {
      await this.workflows.update(manager, wf.id, { status: 'completed', auditTaskId: null });
    } else if (verdict === 'rework') {
      await this.rework(manager, wf, suggestions, feedback);
      await this.workflows.update(manager, wf.id, { status: 'running', reworkCycle: wf.rework_cycle + 1, auditTaskId: null });
    } else {
      await this.failWorkflow(manager, wf, {
        code: 'audit_rejected',
        message: feedback ?? 'The audit did not approve the results',
        details: { rework_cycle: wf.rework_cycle, max_rework_cycles: max, feedback },
      });
    }
    await this.audit.record(manager, {
      actor: SYSTEM_ACTOR,
      action: 'workflow.audit_verdict',
      resourceType: 'workflow',
      resourceId: wf.id,
      details: { verdict, rework_cycle: wf.rework_cycle, confidence_score: confidence, rework_keys: suggestions.map((s) => s.key) },
    });
  }

  /**
   * Named tasks go back to `ready` with their note (unknown keys are ignored; when no key is known
   * every task is redone with the feedback as its note), everything downstream back to `pending`;
   * a named task that depends on another redone task waits in `pending` too.
   */
  private async rework(manager: EntityManager, wf: WorkflowRow, suggestions: { key: string; note: string | null }[], feedback: string | null): Promise<void> {
    const graph = await this.workflows.graphTasks([wf.id], manager);
    const keyOf = new Map(graph.map((t) => [t.id, t.key!]));
    const nodes = graph.map((t) => ({ key: t.key!, depends_on: t.depends_on.map((d) => keyOf.get(d)).filter((k): k is string => !!k) }));
    const notes = new Map<string, string | null>();
    for (const s of suggestions) {
      if (!nodes.some((n) => n.key === s.key)) continue;
      const prev = notes.get(s.key);
      notes.set(s.key, prev && s.note ? `${prev}\n${s.note}` : (s.note ?? prev ?? feedback));
    }
    if (!notes.size) for (const n of nodes) notes.set(n.key, feedback);
    const redo = new Set([...notes.keys(), ...downstreamOf(nodes, notes.keys())]);
    for (const node of nodes) {
      if (!redo.has(node.key)) continue;
      const waits = node.depends_on.some((d) => redo.has(d));
      const task = graph.find((t) => t.key === node.key)!;
      const row = await this.workflows.resetForRework(manager, task.id, waits ? 'pending' : 'ready', notes.has(node.key) ? (notes.get(node.key) ?? null) : null);
      await this.hooks.taskChanged(manager, row);
    }
    journalNotify(manager, 'am_tasks_ready');
  }

  private async onPlannerFinished(manager: EntityManager, wf: WorkflowRow, task: TaskRow): Promise<void> {
    if (task.status !== 'completed') {
      await this.failWorkflow(manager, wf, {
        code: 'planner_failed',
        message: `The planner task ${task.status === 'failed' ? 'failed' : 'was cancelled'}`,
        details: { task_id: task.id, error: task.error },
      });
      return;
    }
    const plan = plainToInstance(PlanResultDto, (task.result ?? {}));
    const fields = flattenErrors(await validate(plan, { whitelist: true, forbidNonWhitelisted: true }), 'result');
    let problem: DomainError | undefined =
      fields.length || typeof task.result !== 'object' || task.result === null
        ? validationFailed(fields.length ? fields : [{ field: 'result', errors: ['result must be an object {tasks: [...]}'] }], 'The plan is not a valid task graph')
        : undefined;
    let order: string[] = [];
    if (!problem) {
      const r = validateDag(plan.tasks);
      problem = graphError(r);
      if (r.ok) order = r.order;
    }
    if (problem) {
      // The planner reported success, but its plan is unusable: count the attempt as failed so a
      // retry (while attempts remain) can produce a better plan.
      const retry = task.attempt < task.max_attempts;
      const row = await this.workflows.rejectPlan(manager, task.id, { code: 'invalid_plan', message: problem.message, details: problem.details }, retry);
      await this.audit.record(manager, {
        actor: SYSTEM_ACTOR,
        action: 'workflow.plan_rejected',
        resourceType: 'workflow',
        resourceId: wf.id,
        details: { task_id: task.id, attempt: task.attempt, will_retry: retry, reason: problem.message },
      });
      await this.hooks.taskChanged(manager, row); // when it failed for good, this fails the workflow
      return;
    }
    await this.expand(manager, SYSTEM_ACTOR, wf.created_by, wf.id, plan.tasks, order);
    await this.workflows.update(manager, wf.id, { status: 'running' });
    await this.audit.record(manager, {
      actor: SYSTEM_ACTOR,
      action: 'workflow.plan_expanded',
      resourceType: 'workflow',
      resourceId: wf.id,
      details: { task_id: task.id, tasks: plan.tasks.length },
    });
  }

  /**
   * Fails the workflow and cancels what can no longer run: its pending/ready/retrying tasks, except
   * the dependents of `cause`, which the tasks module fails with dependency_failed. Running tasks
   * finish their attempt; their results no longer matter.
   */
  private async failWorkflow(manager: EntityManager, wf: WorkflowRow, error: { code: string; message: string; details?: unknown }, cause?: TaskRow): Promise<void> {
    await this.workflows.update(manager, wf.id, { status: 'failed', error, auditTaskId: null });
    const open = (await this.workflows.lockOpenTasks(manager, wf.id)).filter((t) => t.status !== 'running');
    const downstream = cause ? downstreamOf(open.map((t) => ({ key: t.id, depends_on: t.depends_on })), [cause.id]) : new Set<string>();
    const audits: AuditEntry[] = [];
    await this.cancelTasks(manager, open.filter((t) => !downstream.has(t.id)), SYSTEM_ACTOR, `Its workflow failed: ${error.message}`, audits);
    audits.push({ actor: SYSTEM_ACTOR, action: 'workflow.fail', resourceType: 'workflow', resourceId: wf.id, details: { code: error.code, message: error.message } });
    await this.audit.recordMany(manager, audits);
  }

  private async cancelTasks(manager: EntityManager, open: TaskRow[], actor: AuditActor, reason: string, audits: AuditEntry[]): Promise<number> {
    let n = 0;
    // Dependents before what they depend on (which would otherwise fail them with dependency_failed).
    for (const t of dependentsFirst(open)) {
      const row = await this.workflows.cancelTask(manager, t.id, { code: 'cancelled', message: reason });
      if (!row) continue; // already ended by a cascade from an earlier one
      n++;
      audits.push({ actor, action: 'task.cancel', resourceType: 'task', resourceId: row.id, details: { status_before: t.status, workflow_id: row.workflow_id } });
      await this.tasks.afterAttemptEnded(manager, row, audits);
    }
    return n;
  }

  /** Inserts a validated graph in topological order: roots ready, the rest pending. */
  private async expand(manager: EntityManager, actor: AuditActor, owner: string, workflowId: string, tasks: WorkflowTaskInputDto[], order: string[]): Promise<void> {
    const byKey = new Map(tasks.map((t) => [t.key, t]));
    const ids = new Map<string, string>();
    for (const key of order) {
      const t = byKey.get(key)!;
      const row = await this.tasks.insert(
        manager,
        actor,
        owner,
        {
          type: t.type,
          payload: t.payload ?? {},
          priority: t.priority,
          required_capabilities: t.required_capabilities,
          timeout: t.timeout,
          retry_count: t.retry_count,
          file_dependencies: t.file_dependencies,
          depends_on: (t.depends_on ?? []).map((d) => ids.get(d)!),
          metadata: t.description ? { description: t.description } : {},
        },
        { workflowId, key },
      );
      ids.set(key, row.id);
    }
  }

  private async toDtos(wfs: WorkflowRow[], manager?: EntityManager): Promise<WorkflowDto[]> {
    if (!wfs.length) return [];
    const ids = wfs.map((w) => w.id);
    const tasks = await this.workflows.graphTasks(ids, manager);
    const reports = await this.workflows.reports(ids, manager);
    return wfs.map((w) => {
      const mine = tasks.filter((t) => t.workflow_id === w.id);
      return {
        id: w.id,
        name: w.name,
        description: w.description,
        status: w.status,
        total_tasks: mine.length,
        completed_tasks: mine.filter((t) => t.status === 'completed').length,
        rework_cycle: w.rework_cycle,
        audit: w.audit,
        plan: w.plan,
        planner_task_id: w.planner_task_id,
        audit_task_id: w.audit_task_id,
        error: w.error,
        tasks: mine.map((t) => toTaskDto(t)),
        audit_reports: reports.filter((r) => r.workflow_id === w.id).map(toReportDto),
        created_at: w.created_at.toISOString(),
        updated_at: w.updated_at.toISOString(),
        completed_at: iso(w.completed_at),
      };
    });
  }
}

function toReportDto(r: AuditReportRow): AuditReportDto {
  return {
    id: r.id,
    task_id: r.task_id,
    rework_cycle: r.rework_cycle,
    is_successful: r.is_successful,
    feedback: r.feedback,
    rework_suggestions: r.rework_suggestions,
    confidence_score: r.confidence_score,
    created_at: r.created_at.toISOString(),
  };
}
