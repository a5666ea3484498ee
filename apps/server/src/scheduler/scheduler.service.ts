import { type BeforeApplicationShutdown, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import { InjectLogger } from '../common/logger.module';
import { PgListener } from '../database/pg-listener.service';
import { MetricsService } from '../metrics/metrics.service';
import { type JobRunner, LeaderRunner, PeriodicRunner, type RunnerContext } from './job-runners';
import type { LockedJob, ScheduledJob } from './scheduled-job';

/**
 * The one owner of periodic work on an instance. Modules register their jobs (at module init);
 * the scheduler starts them at bootstrap, keeps their timers, runs each single-flight, counts
 * its runs (`agentmanager_scheduled_job_runs_total{job,outcome}`) and stops them all at shutdown,
 * waiting for runs under way and letting go of a leader's lock.
 *
 * Locked jobs (the sweeps) run one at a time on an instance, as the old sweeper's round did, so
 * periodic work holds at most one pooled connection; every-instance and leader jobs run beside them.
 */
@Injectable()
export class Scheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly runners = new Map<string, JobRunner>();
  private started = false;
  private stopped = false;
  private lockedTail: Promise<unknown> = Promise.resolve();
  private readonly ctx: RunnerContext;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectLogger() logger: Logger,
    listener: PgListener,
    metrics: MetricsService,
  ) {
    this.ctx = { listener, logger, metrics, databaseUrl: (dataSource.options as { url?: string }).url };
  }

  register(job: ScheduledJob): void {
    if (this.runners.has(job.name)) throw new Error(`a job named ${job.name} is already scheduled`);
    const runner =
      job.kind === 'leader'
        ? new LeaderRunner(job, this.ctx)
        : new PeriodicRunner(job, this.ctx, job.kind === 'locked' ? () => this.runLocked(job) : async () => (await job.run(), 'ran'));
    this.runners.set(job.name, runner);
    if (this.started && !this.stopped) runner.start();
  }

  onApplicationBootstrap(): void {
    this.started = true;
    for (const runner of this.runners.values()) runner.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /**
   * Shutdown, first step: no new sweep or delivery starts; resolves when the runs under way have
   * ended. Leader jobs keep running (the sealer seals what in-flight requests commit).
   */
  async stopPeriodic(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.runners.values()].filter((r) => !(r instanceof LeaderRunner)).map((r) => r.stop()));
  }

  /** Shutdown, last step: every job stops, and a leader lets go of its lock. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
  }

  /** One run in its own transaction under the job's advisory lock, queued behind the other locked jobs. */
  private runLocked(job: LockedJob): Promise<'ran' | 'skipped'> {
    const run = this.lockedTail.then(() =>
      this.stopped
        ? ('skipped' as const)
        : inTransaction(this.dataSource, async (manager) => {
            const [{ ok }] = await manager.query<{ ok: boolean }[]>('SELECT pg_try_advisory_xact_lock($1) AS ok', [job.lockKey]);
            if (!ok) return 'skipped' as const;
            await job.run(manager);
            return 'ran' as const;
          }),
    );
    this.lockedTail = run.catch(() => undefined);
    return run;
  }
}
