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
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { EventsService } from '../events/events.service';
import { TasksService } from '../tasks/tasks.service';
import { dependentsFirst, validateDag } from '../workflows/dag';
import { graphError } from '../workflows/workflows.service';
import {
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
  STANDARD_STAGES,
  type UpdatePipelineDto,
} from './dto/pipeline.dto';
import { type DependencySpec, type PipelineRow, PipelinesRepository, type RunRow, type RunStage, type StageSpec } from './pipelines.repository';
import { WebhooksService } from './webhooks.service';


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
 * Pipeline definitions (versioned) and runs (one stage task per stage, tasks.run_id): created,
 * read and cancelled here; PipelineRunEngine runs a run's state machine on its tasks' changes.
 */
@Injectable()
export class PipelinesService {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly pipelines: PipelinesRepository,
    private readonly tasks: TasksService,
    private readonly idempotency: IdempotencyService,
    private readonly webhooks: WebhooksService,
    private readonly audit: AuditService,
    private readonly events: EventsService,
  ) {}


  /** A create endpoint's work in one transaction, under its Idempotency-Key. */
  private async idempotent<T>(
    principal: Principal,
    route: string,
    key: string | undefined,
    body: unknown,
    status: number,
    work: (manager: EntityManager) => Promise<T>,
  ): Promise<{ status: number; body: T }> {
    const request = { owner: ownerOf(principal), route, key, body };
    return inTransaction(this.dataSource, (manager) => this.idempotency.within(manager, request, status, () => work(manager)));
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
    const before = decodeCursor(query.cursor, ['micros', 'uuid']) as [string, string] | undefined;
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
    const webhook = body.notification?.webhook;
    const refused = webhook === undefined ? null : this.webhooks.refusedTarget(webhook);
    if (refused) throw validationFailed([{ field: 'notification.webhook', errors: [`notification.webhook is refused: ${refused}`] }]);
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
    const before = decodeCursor(query.cursor, ['micros', 'uuid']) as [string, string] | undefined;
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

  /** Tells subscribers (after commit) how far the run has come. */
  emitProgress(manager: EntityManager, run: RunDto): void {
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

  /** Cancels the run's unfinished tasks, dependents first. */
  async cancelOpenTasks(manager: EntityManager, runId: string, actor: AuditActor, reason: string, audits: AuditEntry[]): Promise<number> {
    const open = dependentsFirst(await this.pipelines.lockOpenRunTasks(manager, runId));
    return this.tasks.cancelOpen(manager, open, actor, reason, audits, { run_id: runId });
  }

  /** The run as GET returns it; when it has a webhook, a signed delivery of exactly that body is queued. */
  async notify(manager: EntityManager, runId: string): Promise<RunDto> {
    const run = (await this.pipelines.findRun(runId, manager))!;
    const dto = (await this.toRunDtos([run], manager))[0];
    if (run.notification?.webhook) {
      await this.webhooks.enqueue(manager, { runId, url: run.notification.webhook, event: `pipeline_run.${run.status}`, body: JSON.stringify(dto) });
    }
    return dto;
  }

  /** The runs as the API shows them, each stage with its task's state. */
  async toRunDtos(runs: RunRow[], manager?: EntityManager): Promise<RunDto[]> {
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
