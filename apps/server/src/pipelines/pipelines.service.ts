import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '../../../../libs/database/src';
import { canonicalJson } from '../audit/audit-chain';
import { AuditService, type AuditEntry } from '../audit/audit.service';
import { ownerOf, SYSTEM_ACTOR, type AuditActor, type Principal } from '../auth/principal';
import { DomainError, notFound } from '../common/errors';
import { decodeCursor, page } from '../common/pagination';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { EventsService } from '../events/events.service';
import { journalNotify } from '../outbox/commit-journal';
import { IdempotencyRepository } from '../tasks/idempotency.repository';
import { TaskHooks } from '../tasks/task-hooks';
import type { TaskRow } from '../tasks/tasks.repository';
import { TasksService } from '../tasks/tasks.service';
import { dependentsFirst, validateDag } from '../workflows/dag';
import { graphError } from '../workflows/workflows.service';
import {
  STANDARD_STAGES,
  type CreatePipelineDto,
  type DependencyDto,
  type ExecutePipelineDto,
  type ListPipelinesQueryDto,
  type ListRunsQueryDto,
  type PipelineDto,
  type PipelineListDto,
  type RunDto,
  type RunListDto,
  type StageDto,
  type UpdatePipelineDto,
} from './dto/pipeline.dto';
import { PipelinesRepository, type DependencySpec, type PipelineRow, type RunRow, type RunStage, type StageSpec } from './pipelines.repository';
import { WebhooksService } from './webhooks.service';
import { iso } from '../common/iso';

const TERMINAL_TASK = new Set(['completed', 'failed', 'cancelled']);

/** Normalises a definition (defaults: the standard six stages, a chain) and validates it as a DAG; returns it with a topological order. */
export function normaliseDefinition(
  stages: StageDto[] | undefined,
  dependencies: DependencyDto[] | undefined,
): { stages: StageSpec[]; dependencies: DependencySpec[]; order: string[] } {
  const input: StageDto[] = stages ?? STANDARD_STAGES.map((name) => ({ name, type: name }));
  const specs: StageSpec[] = input.map((s) => ({
    name: s.name,
    type: s.type,
    required: s.required ?? true,
    ...(s.timeout !== undefined ? { timeout: s.timeout } : {}),
    ...(s.retry_count !== undefined ? { retry_count: s.retry_count } : {}),
    ...(s.required_capabilities !== undefined ? { required_capabilities: s.required_capabilities } : {}),
  }));
  const deps: DependencySpec[] = (dependencies ?? specs.slice(1).map((s, i) => ({ from: specs[i].name, to: s.name }))).map((d) => ({ from: d.from, to: d.to }));
  const names = new Set(specs.map((s) => s.name));
  const unknownTargets = deps.filter((d) => !names.has(d.to));
  if (unknownTargets.length) {
    throw new DomainError('unknown_dependency', `Dependencies name unknown stages: ${unknownTargets.map((d) => d.to).join(', ')}`, {
      missing: unknownTargets.map((d) => ({ key: d.to, depends_on: d.from })),
    });
  }
  const r = validateDag(specs.map((s) => ({ key: s.name, depends_on: deps.filter((d) => d.to === s.name).map((d) => d.from) })));
  const err = graphError(r, 'stage');
  if (err) throw err;
  return { stages: specs, dependencies: deps, order: r.ok ? r.order : [] };
}

/**
 * Pipeline definitions (versioned), runs (one stage task per stage, tasks.run_id), and the run's
 * state machine, driven by a task hook inside every task-changing transaction.
 */
@Injectable()
export class PipelinesService implements OnModuleInit {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly pipelines: PipelinesRepository,
    private readonly tasks: TasksService,
    private readonly hooks: TaskHooks,
    private readonly idempotency: IdempotencyRepository,
    private readonly webhooks: WebhooksService,
    private readonly audit: AuditService,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.hooks.onChanged((manager, task) => this.onTaskChanged(manager, task));
  }

  /** Idempotency-Key handling shared by the create endpoints. */
  private async idempotent<T>(
    principal: Principal,
    route: string,
    key: string | undefined,
    body: unknown,
    status: number,
    work: (manager: EntityManager) => Promise<T>,
  ): Promise<{ status: number; body: T }> {
    const scope = key ? `${ownerOf(principal)}|${route}|${key}` : undefined;
    const requestHash = createHash('sha256').update(canonicalJson(body ?? {})).digest('hex');
    return inTransaction(this.dataSource, async (manager) => {
      if (scope) {
        const previous = await this.idempotency.lockAndFind(manager, scope);
        if (previous) {
          if (previous.request_hash !== requestHash) {
            throw new DomainError('idempotency_key_reused', 'This Idempotency-Key was used with a different request body');
          }
          return { status: previous.status_code, body: previous.response as T };
        }
      }
      const result = await work(manager);
      if (scope) await this.idempotency.save(manager, scope, requestHash, status, result);
      return { status, body: result };
    });
  }

  // --- definitions -----------------------------------------------------------------------------

  async create(principal: Principal, body: CreatePipelineDto, idempotencyKey?: string): Promise<{ status: number; body: PipelineDto }> {
    const def = normaliseDefinition(body.stages, body.dependencies);
    return this.idempotent(principal, 'POST /pipelines', idempotencyKey, body, 201, async (manager) => {
      const owner = ownerOf(principal);
      const { id } = await this.pipelines.insert(manager, { name: body.name, description: body.description ?? null, createdBy: owner });
      await this.pipelines.insertVersion(manager, {
        pipelineId: id,
        version: 1,
        name: body.name,
        description: body.description ?? null,
        stages: def.stages,
        dependencies: def.dependencies,
        createdBy: owner,
      });
      const dto = toPipelineDto((await this.pipelines.findById(id, manager))!);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'pipeline.create',
        resourceType: 'pipeline',
        resourceId: id,
        details: { name: body.name, stages: def.stages.map((s) => s.name) },
      });
      return dto;
    });
  }

  async get(id: string): Promise<PipelineDto> {
    const p = await this.pipelines.findById(id);
    if (!p) throw notFound('Pipeline', id);
    return toPipelineDto(p);
  }

  async list(query: ListPipelinesQueryDto): Promise<PipelineListDto> {
    const before = decodeCursor(query.cursor, 2) as [string, string] | undefined;
    const found = await this.pipelines.list(query.include_archived === true, query.limit + 1, before);
    const { items, nextCursor } = page(found, query.limit, (r) => [r.cursor_ts, r.id]);
    return { pipelines: items.map(toPipelineDto), next_cursor: nextCursor };
  }

  async update(principal: Principal, id: string, body: UpdatePipelineDto): Promise<PipelineDto> {
    return inTransaction(this.dataSource, async (manager) => {
      const current = await this.pipelines.findById(id, manager, true);
      if (!current) throw notFound('Pipeline', id);
      if (current.archived_at) throw new DomainError('illegal_transition', 'An archived pipeline cannot be changed', { status: 'archived' });
      const def = body.stages
        ? normaliseDefinition(body.stages, body.dependencies)
        : normaliseDefinition(current.stages, body.dependencies ?? current.dependencies);
      const version = current.current_version + 1;
      const name = body.name ?? current.name;
      const description = body.description ?? current.description;
      await this.pipelines.insertVersion(manager, {
        pipelineId: id,
        version,
        name,
        description,
        stages: def.stages,
        dependencies: def.dependencies,
        createdBy: ownerOf(principal),
      });
      await this.pipelines.setCurrent(manager, id, { version, name, description });
      const dto = toPipelineDto((await this.pipelines.findById(id, manager))!);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'pipeline.update',
        resourceType: 'pipeline',
        resourceId: id,
        details: { version, changed: Object.keys(body) },
      });
      return dto;
    });
  }

  async archive(principal: Principal, id: string): Promise<void> {
    await inTransaction(this.dataSource, async (manager) => {
      const current = await this.pipelines.findById(id, manager, true);
      if (!current) throw notFound('Pipeline', id);
      if (current.archived_at) return; // archiving twice changes nothing
      await this.pipelines.archive(manager, id);
      await this.audit.record(manager, { actor: principal.actor, action: 'pipeline.archive', resourceType: 'pipeline', resourceId: id });
    });
  }

  // --- runs ------------------------------------------------------------------------------------

  async execute(principal: Principal, id: string, body: ExecutePipelineDto, idempotencyKey?: string): Promise<{ status: number; body: RunDto }> {
    if (body.notification?.email !== undefined) {
      throw new DomainError(
        'unprocessable',
        this.config.smtpUrl
          ? 'Email notifications are not supported by this server yet; use notification.webhook'
          : 'Email notifications are not configured on this server (SMTP_URL is unset); use notification.webhook',
        { field: 'notification.email' },
      );
    }
    return this.idempotent(principal, `POST /pipelines/${id}/execute`, idempotencyKey, body, 202, async (manager) => {
      const p = await this.pipelines.findById(id, manager, true);
      if (!p) throw notFound('Pipeline', id);
      if (p.archived_at) throw new DomainError('illegal_transition', 'An archived pipeline cannot be executed', { status: 'archived' });
      const owner = ownerOf(principal);
      const def = normaliseDefinition(p.stages, p.dependencies);
      let run = await this.pipelines.insertRun(manager, {
        pipelineId: p.id,
        version: p.current_version,
        inputData: body.input_data ?? null,
        parameters: body.parameters ?? null,
        notification: body.notification?.webhook ? { webhook: body.notification.webhook } : null,
        createdBy: owner,
      });
      const indexOf = new Map(def.stages.map((s, i) => [s.name, i]));
      const stages: RunStage[] = [];
      for (const name of def.order) {
        const index = indexOf.get(name)!;
        const stage = def.stages[index];
        const dependsOn = def.dependencies.filter((d) => d.to === name).map((d) => indexOf.get(d.from)!);
        const task = await this.tasks.insert(
          manager,
          principal.actor,
          owner,
          {
            type: stage.type,
            required_capabilities: stage.required_capabilities ?? [stage.type],
            timeout: stage.timeout,
            retry_count: stage.retry_count,
            depends_on: dependsOn.map((i) => stages.find((s) => s.index === i)!.task_id),
            payload: {
              pipeline_id: p.id,
              run_id: run.id,
              stage: { index, name, type: stage.type },
              input_data: body.input_data ?? null,
              parameters: body.parameters ?? null,
              stage_results: {},
            },
          },
          { runId: run.id, pipelineId: p.id, stage: name },
        );
        stages.push({ index, name, type: stage.type, required: stage.required, task_id: task.id, depends_on: dependsOn, skipped: false });
      }
      stages.sort((a, b) => a.index - b.index);
      run = await this.pipelines.updateRun(manager, run.id, { stages });
      const dto = (await this.toRunDtos([run], manager))[0];
      this.emitProgress(manager, dto);
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'pipeline.execute',
        resourceType: 'pipeline',
        resourceId: p.id,
        details: { run_id: run.id, version: p.current_version, webhook: !!body.notification?.webhook },
      });
      return dto;
    });
  }

  async getRun(id: string): Promise<RunDto> {
    const run = await this.pipelines.findRun(id);
    if (!run) throw notFound('Pipeline run', id);
    return (await this.toRunDtos([run]))[0];
  }

  async listRuns(pipelineId: string | undefined, query: ListRunsQueryDto): Promise<RunListDto> {
    if (pipelineId && !(await this.pipelines.findById(pipelineId))) throw notFound('Pipeline', pipelineId);
    const before = decodeCursor(query.cursor, 2) as [string, string] | undefined;
    const found = await this.pipelines.listRuns(pipelineId, query.limit + 1, before);
    const { items, nextCursor } = page(found, query.limit, (r) => [r.cursor_ts, r.id]);
    return { runs: await this.toRunDtos(items), next_cursor: nextCursor };
  }

  async cancelRun(principal: Principal, id: string): Promise<RunDto> {
    return inTransaction(this.dataSource, async (manager) => {
      const run = await this.pipelines.lockRun(manager, id);
      if (!run) throw notFound('Pipeline run', id);
      if (run.status !== 'running') throw new DomainError('illegal_transition', `A ${run.status} run cannot be cancelled`, { status: run.status });
      await this.pipelines.updateRun(manager, id, { status: 'cancelled', error: { code: 'cancelled', message: 'Cancelled by an operator' } });
      const audits: AuditEntry[] = [];
      const n = await this.cancelOpenTasks(manager, id, principal.actor, 'Its pipeline run was cancelled', audits);
      audits.push({ actor: principal.actor, action: 'pipeline_run.cancel', resourceType: 'pipeline_run', resourceId: id, details: { cancelled_tasks: n } });
      await this.audit.recordMany(manager, audits);
      const dto = await this.notify(manager, id);
      this.emitProgress(manager, dto);
      return dto;
    });
  }

  // --- the run state machine (task hook) -------------------------------------------------------

  private async onTaskChanged(manager: EntityManager, task: TaskRow): Promise<void> {
    if (!task.run_id) return;
    // A progress report (running, progress > 0) changes nothing a run shows.
    if (task.status === 'running' && task.progress > 0) return;
    if (TERMINAL_TASK.has(task.status)) await this.advance(manager, task);
    const run = await this.pipelines.findRun(task.run_id, manager);
    if (run && run.stages.length) this.emitProgress(manager, (await this.toRunDtos([run], manager))[0]);
  }

  private emitProgress(manager: EntityManager, run: RunDto): void {
    this.events.emit(manager, {
      type: 'pipeline_progress',
      pipeline_id: run.pipeline_id,
      run_id: run.id,
      status: run.status,
      current_stage: run.current_stage,
      completed_stages: run.completed_stages,
      progress: run.progress,
      timestamp: new Date().toISOString(),
    });
  }

  private async advance(manager: EntityManager, task: TaskRow): Promise<void> {
    const run = await this.pipelines.lockRun(manager, task.run_id!);
    if (!run || run.status !== 'running') return;
    const stage = run.stages.find((s) => s.task_id === task.id);
    if (!stage || stage.skipped) return;
    const dependents = run.stages.filter((s) => s.depends_on.includes(stage.index)).map((s) => s.task_id);
    if (task.status === 'completed') {
      // Dependents are still pending (they wait for this task), so nobody can have claimed them.
      await this.pipelines.passResult(manager, dependents, stage.name, task.result);
      await this.finishIfDone(manager, run);
      return;
    }
    if (!stage.required) {
      // Optional: skipped. Detach it from its dependents before the tasks module looks for
      // dependents to fail (this hook runs first, in the same transaction), then promote those
      // whose remaining dependencies are all complete.
      const stages = run.stages.map((s) => (s.index === stage.index ? { ...s, skipped: true } : s));
      const updated = await this.pipelines.updateRun(manager, run.id, { stages });
      await this.pipelines.detachDependency(manager, dependents, task.id);
      const promoted = await this.pipelines.promoteRunnable(manager, dependents);
      for (const t of promoted) await this.hooks.taskChanged(manager, t);
      if (promoted.length) journalNotify(manager, 'am_tasks_ready');
      await this.audit.record(manager, {
        actor: SYSTEM_ACTOR,
        action: 'pipeline_run.stage_skipped',
        resourceType: 'pipeline_run',
        resourceId: run.id,
        details: { stage: stage.name, index: stage.index, task_id: task.id, task_status: task.status },
      });
      await this.finishIfDone(manager, updated);
      return;
    }
    await this.pipelines.updateRun(manager, run.id, {
      status: 'failed',
      error: {
        code: task.status === 'failed' ? 'stage_failed' : 'stage_cancelled',
        message: `Stage ${stage.name} ${task.status === 'failed' ? 'failed' : 'was cancelled'}`,
        details: { stage: stage.name, index: stage.index, task_id: task.id, error: task.error },
      },
    });
    const audits: AuditEntry[] = [];
    await this.cancelOpenTasks(manager, run.id, SYSTEM_ACTOR, `Its pipeline run failed at stage ${stage.name}`, audits);
    audits.push({ actor: SYSTEM_ACTOR, action: 'pipeline_run.fail', resourceType: 'pipeline_run', resourceId: run.id, details: { stage: stage.name } });
    await this.audit.recordMany(manager, audits);
    await this.notify(manager, run.id);
  }

  private async finishIfDone(manager: EntityManager, run: RunRow): Promise<void> {
    const tasks = new Map((await this.pipelines.runTasks([run.id], manager)).map((t) => [t.id, t]));
    if (!run.stages.every((s) => s.skipped || tasks.get(s.task_id)?.status === 'completed')) return;
    const finals = run.stages.filter((s) => !s.skipped && !run.stages.some((o) => o.depends_on.includes(s.index)));
    const output = Object.fromEntries(finals.map((s) => [s.name, tasks.get(s.task_id)!.result]));
    await this.pipelines.updateRun(manager, run.id, { status: 'completed', outputData: output });
    await this.audit.record(manager, { actor: SYSTEM_ACTOR, action: 'pipeline_run.complete', resourceType: 'pipeline_run', resourceId: run.id });
    await this.notify(manager, run.id);
  }

  private async cancelOpenTasks(manager: EntityManager, runId: string, actor: AuditActor, reason: string, audits: AuditEntry[]): Promise<number> {
    let n = 0;
    for (const t of dependentsFirst(await this.pipelines.lockOpenRunTasks(manager, runId))) {
      const row = await this.pipelines.cancelTask(manager, t.id, { code: 'cancelled', message: reason });
      if (!row) continue;
      n++;
      audits.push({ actor, action: 'task.cancel', resourceType: 'task', resourceId: row.id, details: { status_before: t.status, run_id: runId } });
      await this.tasks.afterAttemptEnded(manager, row, audits);
    }
    return n;
  }

  /** The run as GET returns it; when it has a webhook, a signed delivery of exactly that body is queued. */
  private async notify(manager: EntityManager, runId: string): Promise<RunDto> {
    const run = (await this.pipelines.findRun(runId, manager))!;
    const dto = (await this.toRunDtos([run], manager))[0];
    if (run.notification?.webhook) {
      await this.webhooks.enqueue(manager, { runId, url: run.notification.webhook, event: `pipeline_run.${run.status}`, body: JSON.stringify(dto) });
    }
    return dto;
  }

  private async toRunDtos(runs: RunRow[], manager?: EntityManager): Promise<RunDto[]> {
    if (!runs.length) return [];
    const tasks = new Map((await this.pipelines.runTasks(runs.map((r) => r.id), manager)).map((t) => [t.id, t]));
    return runs.map((run) => {
      const stages = run.stages.map((s) => {
        const t = tasks.get(s.task_id);
        return {
          index: s.index,
          name: s.name,
          type: s.type,
          required: s.required,
          status: s.skipped ? 'skipped' : (t?.status ?? 'cancelled'),
          task_id: s.task_id,
          depends_on: s.depends_on,
          started_at: iso(t?.started_at ?? null),
          completed_at: iso(t?.completed_at ?? null),
          error: t?.error ?? null,
        };
      });
      const running = stages.filter((s) => s.status === 'running').map((s) => s.index);
      const done = stages.filter((s) => s.status === 'completed' || s.status === 'skipped').map((s) => s.index);
      return {
        id: run.id,
        pipeline_id: run.pipeline_id,
        pipeline_version: run.pipeline_version,
        status: run.status,
        current_stage: running.length ? Math.min(...running) : null,
        completed_stages: done,
        progress: run.status === 'completed' ? 1 : stages.length ? done.length / stages.length : 0,
        stages,
        input_data: run.input_data,
        parameters: run.parameters,
        output_data: run.output_data,
        error: run.error,
        created_at: run.created_at.toISOString(),
        updated_at: run.updated_at.toISOString(),
        completed_at: iso(run.completed_at),
      };
    });
  }
}

function toPipelineDto(p: PipelineRow): PipelineDto {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    version: p.current_version,
    status: p.archived_at ? 'archived' : 'active',
    stages: p.stages,
    dependencies: p.dependencies,
    created_at: p.created_at.toISOString(),
    updated_at: p.updated_at.toISOString(),
    archived_at: iso(p.archived_at),
  };
}
