import { Injectable, type OnModuleInit } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import type { EntityManager } from 'typeorm';
import { SYSTEM_ACTOR } from '../access/principal';
import { type AuditEntry,AuditService } from '../audit/audit.service';
import { type DomainError, type FieldError,validationFailed } from '../common/errors';
import { journalNotify } from '../outbox/commit-journal';
import { TaskHooks } from '../tasks/task-hooks';
import type { TaskRow } from '../tasks/tasks.repository';
import { TasksService } from '../tasks/tasks.service';
import { dependentsFirst, downstreamOf, validateDag } from './dag';
import { PlanResultDto } from './dto/workflow.dto';
import { type WorkflowRow,WorkflowsRepository } from './workflows.repository';
import { graphError, OPEN_WORKFLOW, WorkflowsService } from './workflows.service';

const TERMINAL_TASK = new Set(['completed', 'failed', 'cancelled']);

function flattenErrors(errors: ValidationError[], prefix: string): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = `${prefix}.${e.property}`;
    if (e.constraints) out.push({ field, errors: Object.values(e.constraints) });
    if (e.children?.length) out.push(...flattenErrors(e.children, field));
  }
  return out;
}

/** The workflow's error when its planner or audit task ended without completing. */
function stepEnded(code: string, step: string, task: TaskRow): { code: string; message: string; details: unknown } {
  return {
    code,
    message: `The ${step} task ${task.status === 'failed' ? 'failed' : 'was cancelled'}`,
    details: { task_id: task.id, error: task.error },
  };
}

/**
 * The workflow's state machine, driven by a task hook inside every task-changing transaction:
 * a graph task's completion (→ audit → rework), failure or cancel, the planner's plan.
 */
@Injectable()
export class WorkflowEngine implements OnModuleInit {
  constructor(
    private readonly workflows: WorkflowsRepository,
    private readonly service: WorkflowsService,
    private readonly tasks: TasksService,
    private readonly hooks: TaskHooks,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.hooks.onChanged((manager, task) => this.onTaskChanged(manager, task));
  }

  private async onTaskChanged(manager: EntityManager, task: TaskRow): Promise<void> {
    if (!task.workflow_id || !TERMINAL_TASK.has(task.status)) return;
    // The row lock serialises concurrent completions of one workflow's tasks: the last one sees all.
    const wf = await this.workflows.lockById(manager, task.workflow_id);
    if (!wf || !OPEN_WORKFLOW.has(wf.status)) return;
    await this.advance(manager, wf, task);
    const now = await this.workflows.findById(wf.id, manager);
    if (now) this.service.emitUpdate(manager, (await this.service.toDtos([now], manager))[0]);
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
    if (task.status !== 'completed') return this.failWorkflow(manager, wf, stepEnded('audit_failed', 'audit', task));
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
      const row = await this.tasks.resetForRework(manager, task.id, waits ? 'pending' : 'ready', notes.has(node.key) ? (notes.get(node.key) ?? null) : null);
      await this.hooks.taskChanged(manager, row);
    }
    journalNotify(manager, 'am_tasks_ready');
  }

  private async onPlannerFinished(manager: EntityManager, wf: WorkflowRow, task: TaskRow): Promise<void> {
    if (task.status !== 'completed') return this.failWorkflow(manager, wf, stepEnded('planner_failed', 'planner', task));
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
      const row = await this.tasks.rejectCompletion(manager, task.id, { code: 'invalid_plan', message: problem.message, details: problem.details }, retry);
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
    await this.service.expand(manager, SYSTEM_ACTOR, wf.created_by, wf.id, plan.tasks, order);
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
    const cancellable = dependentsFirst(open.filter((t) => !downstream.has(t.id)));
    await this.tasks.cancelOpen(manager, cancellable, SYSTEM_ACTOR, `Its workflow failed: ${error.message}`, audits, { workflow_id: wf.id });
    audits.push({ actor: SYSTEM_ACTOR, action: 'workflow.fail', resourceType: 'workflow', resourceId: wf.id, details: { code: error.code, message: error.message } });
    await this.audit.recordMany(manager, audits);
  }
}
