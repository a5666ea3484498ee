import { Injectable, type OnApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '../../../../libs/database/src';
import { AgentLifecycle } from '../agents/agent-lifecycle';
import { AgentsRepository } from '../agents/agents.repository';
import { AuditService, type AuditEntry } from '../audit/audit.service';
import { SYSTEM_ACTOR } from '../auth/principal';
import { InjectLogger } from '../common/logger.module';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { EventsService } from '../events/events.service';
import { MetricsService } from '../metrics/metrics.service';
import { journalNotify } from '../outbox/commit-journal';
import { SweepRegistry } from '../notifications/sweep-registry';
import { retryDelayMs } from './retry-policy';
import { TaskHooks } from './task-hooks';
import { TasksRepository } from './tasks.repository';
import { TasksService } from './tasks.service';

/** Advisory-lock keys: one per sweep, so each runs on one instance at a time. */
export const SWEEP_LOCKS = {
  offlineAgents: 7_316_101,
  lapsedLeases: 7_316_102,
  dueRetries: 7_316_103,
  runnablePending: 7_316_104,
} as const;

const BATCH = 500;

/**
 * Every SWEEP_INTERVAL_MS, on every instance: agents gone silent → offline (their leases end);
 * lapsed leases and timed-out attempts → failed attempts (retrying or failed); due retries and
 * runnable pending tasks → ready. Each sweep is one transaction that first tries a
 * transaction-scoped advisory lock and does nothing if another instance holds it.
 */
@Injectable()
export class TasksSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectLogger() private readonly logger: Logger,
    private readonly tasks: TasksRepository,
    private readonly service: TasksService,
    private readonly agents: AgentsRepository,
    private readonly lifecycle: AgentLifecycle,
    private readonly hooks: TaskHooks,
    private readonly audit: AuditService,
    private readonly registry: SweepRegistry,
    private readonly events: EventsService,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.sweepAll()
        .catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'sweep failed; will retry'))
        .finally(() => {
          this.running = undefined;
          if (this.timer) this.schedule();
        });
    }, this.config.sweepIntervalMs);
    this.timer.unref();
  }

  /** Runs every sweep once; public so tests and shutdown paths can force one. */
  async sweepAll(): Promise<void> {
    await this.locked(SWEEP_LOCKS.offlineAgents, (m) => this.sweepOfflineAgents(m));
    this.metrics.sweeperRuns.inc();
    this.metrics.tasksFailed.inc({ reason: 'lapsed' }, await this.locked(SWEEP_LOCKS.lapsedLeases, (m) => this.sweepLapsedLeases(m)));
    await this.locked(SWEEP_LOCKS.dueRetries, (m) => this.sweepDueRetries(m));
    await this.locked(SWEEP_LOCKS.runnablePending, (m) => this.sweepRunnablePending(m));
    // Sweeps other modules registered (expired file locks, event retention, ...).
    for (const sweep of this.registry.all()) await this.locked(sweep.lockKey, sweep.run);
  }

  private async locked(key: number, work: (manager: EntityManager) => Promise<number>): Promise<number> {
    return inTransaction(this.dataSource, async (manager) => {
      const got = await manager.query<{ ok: boolean }[]>('SELECT pg_try_advisory_xact_lock($1) AS ok', [key]);
      return got[0].ok ? work(manager) : 0;
    });
  }

  private async sweepOfflineAgents(manager: EntityManager): Promise<number> {
    const gone = await this.agents.markSilentOffline(manager, this.config.agentOfflineAfterSec);
    const ids = gone.map((a) => a.id);
    for (const agent of gone) {
      await this.lifecycle.agentGone(manager, agent.id, 'offline');
      this.events.emit(
        manager,
        { type: 'agent_update', agent_id: agent.id, status: 'offline', current_load: agent.current_load, timestamp: new Date().toISOString() },
        { agentId: agent.id, agentOwner: agent.owner },
      );
    }
    await this.audit.recordMany(
      manager,
      ids.map((id) => ({ actor: SYSTEM_ACTOR, action: 'agent.offline', resourceType: 'agent', resourceId: id })),
    );
    return ids.length;
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
