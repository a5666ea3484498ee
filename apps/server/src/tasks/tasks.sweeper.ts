import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { SYSTEM_ACTOR } from '../access/principal';
import { type AuditEntry,AuditService } from '../audit/audit.service';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from '../metrics/metrics.service';
import { journalAfterCommit, journalNotify } from '../outbox/commit-journal';
import { JOB_LOCKS } from '../scheduler/job-locks';
import { Scheduler } from '../scheduler/scheduler.service';
import { retryDelayMs } from './retry-policy';
import { TaskHooks } from './task-hooks';
import { TasksRepository } from './tasks.repository';
import { TasksService } from './tasks.service';

const BATCH = 500;

/**
 * The tasks module's sweeps, every SWEEP_INTERVAL_MS on one instance each (scheduler locked
 * jobs): lapsed leases and timed-out attempts → failed attempts (retrying or failed); due
 * retries and runnable pending tasks → ready.
 */
@Injectable()
export class TasksSweeper implements OnModuleInit {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly scheduler: Scheduler,
    private readonly tasks: TasksRepository,
    private readonly service: TasksService,
    private readonly hooks: TaskHooks,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    const every = this.config.sweepIntervalMs;
    this.scheduler.register({ kind: 'locked', name: 'lapsed-leases', intervalMs: every, lockKey: JOB_LOCKS.lapsedLeases, run: (m) => this.sweepLapsedLeases(m) });
    this.scheduler.register({ kind: 'locked', name: 'due-retries', intervalMs: every, lockKey: JOB_LOCKS.dueRetries, run: (m) => this.sweepDueRetries(m) });
    this.scheduler.register({
      kind: 'locked',
      name: 'runnable-pending',
      intervalMs: every,
      lockKey: JOB_LOCKS.runnablePending,
      run: (m) => this.sweepRunnablePending(m),
    });
  }

  private async sweepLapsedLeases(manager: EntityManager): Promise<number> {
    const expired = await this.tasks.lockExpiredRunning(manager, BATCH);
    const audits: AuditEntry[] = [];
    for (const t of expired) {
      const retry = t.attempt < t.max_attempts;
      const delay = retry ? retryDelayMs(t.attempt, this.config.retryBaseDelayMs, this.config.retryMaxDelayMs) : null;
      const error =
        t.reason === 'timeout'
          ? { code: 'timeout', message: `Attempt ${t.attempt} ran longer than its ${t.timeout_sec} s timeout` }
          : { code: 'lease_expired', message: `Attempt ${t.attempt} stopped reporting; its lease lapsed` };
      const task = await this.tasks.endAttempt(manager, t.id, { ...error, details: { attempt: t.attempt, agent_id: t.assigned_agent } }, delay);
      audits.push({
        actor: SYSTEM_ACTOR,
        action: t.reason === 'timeout' ? 'task.timeout' : 'task.lease_expired',
        resourceType: 'task',
        resourceId: t.id,
        details: { attempt: t.attempt, agent_id: t.assigned_agent, status: task.status },
      });
      await this.service.afterAttemptEnded(manager, task, audits);
    }
    await this.audit.recordMany(manager, audits);
    journalAfterCommit(manager, () => {
      this.metrics.sweeperRuns.inc();
      this.metrics.tasksFailed.inc({ reason: 'lapsed' }, expired.length);
    });
    return expired.length;
  }

  private async sweepDueRetries(manager: EntityManager): Promise<number> {
    const ready = await this.tasks.promoteDueRetries(manager, BATCH);
    for (const t of ready) await this.hooks.taskChanged(manager, t);
    if (ready.length) journalNotify(manager, 'am_tasks_ready');
    return ready.length;
  }

  private async sweepRunnablePending(manager: EntityManager): Promise<number> {
    const ready = await this.tasks.promoteRunnablePending(manager, BATCH);
    for (const t of ready) await this.hooks.taskChanged(manager, t);
    if (ready.length) journalNotify(manager, 'am_tasks_ready');
    return ready.length;
  }
}
