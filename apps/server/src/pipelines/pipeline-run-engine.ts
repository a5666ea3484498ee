import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { SYSTEM_ACTOR } from '../access/principal';
import { type AuditEntry,AuditService } from '../audit/audit.service';
import { journalNotify } from '../outbox/commit-journal';
import { TaskHooks } from '../tasks/task-hooks';
import type { TaskRow } from '../tasks/tasks.repository';
import { TasksService } from '../tasks/tasks.service';
import { PipelinesRepository, type RunRow } from './pipelines.repository';
import { PipelinesService } from './pipelines.service';

const TERMINAL_TASK = new Set(['completed', 'failed', 'cancelled']);

/**
 * The run's state machine, driven by a task hook inside every task-changing transaction: a stage
 * task's completion hands its result on and may finish the run; an optional stage that failed is
 * skipped; a required one fails the run and cancels what is left.
 */
@Injectable()
export class PipelineRunEngine implements OnModuleInit {
  constructor(
    private readonly pipelines: PipelinesRepository,
    private readonly service: PipelinesService,
    private readonly tasks: TasksService,
    private readonly hooks: TaskHooks,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.hooks.onChanged((manager, task) => this.onTaskChanged(manager, task));
  }

  private async onTaskChanged(manager: EntityManager, task: TaskRow): Promise<void> {
    if (!task.run_id) return;
    // A progress report (running, progress > 0) changes nothing a run shows.
    if (task.status === 'running' && task.progress > 0) return;
    if (TERMINAL_TASK.has(task.status)) await this.advance(manager, task);
    const run = await this.pipelines.findRun(task.run_id, manager);
    if (run && run.stages.length) this.service.emitProgress(manager, (await this.service.toRunDtos([run], manager))[0]);
  }

  private async advance(manager: EntityManager, task: TaskRow): Promise<void> {
    const run = await this.pipelines.lockRun(manager, task.run_id!);
    if (!run || run.status !== 'running') return;
    const stage = run.stages.find((s) => s.task_id === task.id);
    if (!stage || stage.skipped) return;
    const dependents = run.stages.filter((s) => s.depends_on.includes(stage.index)).map((s) => s.task_id);
    if (task.status === 'completed') {
      // Dependents are still pending (they wait for this task), so nobody can have claimed them.
      await this.tasks.passStageResult(manager, dependents, stage.name, task.result);
      await this.finishIfDone(manager, run);
      return;
    }
    if (!stage.required) {
      // Optional: skipped. Detach it from its dependents before the tasks module looks for
      // dependents to fail (this hook runs first, in the same transaction), then promote those
      // whose remaining dependencies are all complete.
      const stages = run.stages.map((s) => (s.index === stage.index ? { ...s, skipped: true } : s));
      const updated = await this.pipelines.updateRun(manager, run.id, { stages });
      await this.tasks.detachDependency(manager, dependents, task.id);
      const promoted = await this.tasks.promoteRunnable(manager, dependents);
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
    await this.service.cancelOpenTasks(manager, run.id, SYSTEM_ACTOR, `Its pipeline run failed at stage ${stage.name}`, audits);
    audits.push({ actor: SYSTEM_ACTOR, action: 'pipeline_run.fail', resourceType: 'pipeline_run', resourceId: run.id, details: { stage: stage.name } });
    await this.audit.recordMany(manager, audits);
    await this.service.notify(manager, run.id);
  }

  private async finishIfDone(manager: EntityManager, run: RunRow): Promise<void> {
    const tasks = new Map((await this.pipelines.runTasks([run.id], manager)).map((t) => [t.id, t]));
    if (!run.stages.every((s) => s.skipped || tasks.get(s.task_id)?.status === 'completed')) return;
    const finals = run.stages.filter((s) => !s.skipped && !run.stages.some((o) => o.depends_on.includes(s.index)));
    const output = Object.fromEntries(finals.map((s) => [s.name, tasks.get(s.task_id)!.result]));
    await this.pipelines.updateRun(manager, run.id, { status: 'completed', outputData: output });
    await this.audit.record(manager, { actor: SYSTEM_ACTOR, action: 'pipeline_run.complete', resourceType: 'pipeline_run', resourceId: run.id });
    await this.service.notify(manager, run.id);
  }

}
