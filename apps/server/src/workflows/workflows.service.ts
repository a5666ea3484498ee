import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import { type AuditActor, ownerOf, type Principal } from '../access/principal';
import { type AuditEntry,AuditService } from '../audit/audit.service';
import { DomainError, notFound, validationFailed } from '../common/errors';
import { IdempotencyService } from '../common/idempotency';
import { iso } from '../common/iso';
import { decodeCursor, page } from '../common/pagination';
import { EventsService } from '../events/events.service';
import { toTaskDto } from '../tasks/task.mapper';
import { TasksService } from '../tasks/tasks.service';
import { type DagResult,dependentsFirst, validateDag } from './dag';
import {
  type AuditReportDto,
  type CreateWorkflowDto,
  type ListWorkflowsQueryDto,
  type WorkflowDto,
  type WorkflowListDto,
  type WorkflowTaskInputDto,
} from './dto/workflow.dto';
import { type AuditReportRow, type WorkflowRow,WorkflowsRepository } from './workflows.repository';

/** A workflow that can still change: what a cancel, or a task hook, may act on. */
export const OPEN_WORKFLOW = new Set(['planning', 'running', 'auditing']);

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

/**
 * Workflows: task graphs whose tasks are ordinary tasks (workflow_id + key; depends_on = the ids
 * of the keyed dependencies), so claiming, fan-in promotion and dependency_failed cascades come
 * from the tasks module. This service creates, reads and cancels them; WorkflowEngine runs their
 * state machine on the tasks' changes.
 */
@Injectable()
export class WorkflowsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly workflows: WorkflowsRepository,
    private readonly tasks: TasksService,
    private readonly idempotency: IdempotencyService,
    private readonly audit: AuditService,
    private readonly events: EventsService,
  ) {}

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
    const request = { owner, route: 'POST /workflows', key: options.idempotencyKey, body };
    const out = await inTransaction(this.dataSource, (manager) => this.idempotency.within(manager, request, 201, async () => {
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
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'workflow.create',
        resourceType: 'workflow',
        resourceId: wf.id,
        details: { status: wf.status, tasks: body.tasks?.length ?? 0, audit: !!body.audit, plan: !!body.plan },
      });
      return dto;
    }));
    return { status: out.status, workflow: out.body };
  }

  async get(id: string): Promise<WorkflowDto> {
    const wf = await this.workflows.findById(id);
    if (!wf) throw notFound('Workflow', id);
    return (await this.toDtos([wf]))[0];
  }

  async list(query: ListWorkflowsQueryDto): Promise<WorkflowListDto> {
    const before = decodeCursor(query.cursor, ['micros', 'uuid']) as [string, string] | undefined;
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
      const open = dependentsFirst(await this.workflows.lockOpenTasks(manager, id));
      const cancelled = await this.tasks.cancelOpen(manager, open, principal.actor, 'Its workflow was cancelled', audits, { workflow_id: id });
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

  /** Tells subscribers (after commit) how far the workflow has come. */
  emitUpdate(manager: EntityManager, wf: WorkflowDto): void {
    this.events.emit(manager, {
      type: 'workflow_update',
      workflow_id: wf.id,
      status: wf.status,
      completed_tasks: wf.completed_tasks,
      total_tasks: wf.total_tasks,
      timestamp: new Date().toISOString(),
    });
  }

  /** Inserts a validated graph in topological order: roots ready, the rest pending. */
  async expand(manager: EntityManager, actor: AuditActor, owner: string, workflowId: string, tasks: WorkflowTaskInputDto[], order: string[]): Promise<void> {
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

  /** The workflows as the API shows them, with their graph tasks and audit reports. */
  async toDtos(wfs: WorkflowRow[], manager?: EntityManager): Promise<WorkflowDto[]> {
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
