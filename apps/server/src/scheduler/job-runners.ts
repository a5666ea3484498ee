import { Client } from 'pg';
import type { Logger } from 'pino';
import { SingleFlight } from '../common/single-flight';
import type { PgListener } from '../database/pg-listener.service';
import type { MetricsService } from '../metrics/metrics.service';
import type { Lead, LeaderJob, ScheduledJob } from './scheduled-job';

/** What every runner needs from the scheduler. */
export interface RunnerContext {
  listener: PgListener;
  logger: Logger;
  metrics: MetricsService;
  /** Connection string of the application's data source (a leader job opens its own session on it). */
  databaseUrl: string | undefined;
}

export interface JobRunner {
  start(): void;
  /** Runs the job now (single-flight with its timer); resolves when a run that started after the call ended. */
  trigger(): Promise<void>;
  /** Clears the timer, waits for a run under way, and lets go of anything held (a leader's lock). */
  stop(): Promise<void>;
}

/**
 * A locked or every-instance job: one run `intervalMs` after the previous one ended, and one on
 * each wake; runs never overlap. `execute` does one run and reports its outcome.
 */
export class PeriodicRunner implements JobRunner {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;
  private readonly runs = new SingleFlight(() => this.once());

  constructor(
    private readonly job: ScheduledJob,
    private readonly ctx: RunnerContext,
    private readonly execute: () => Promise<'ran' | 'skipped'>,
  ) {}

  start(): void {
    if (this.job.wake) this.unsubscribe = this.ctx.listener.on(this.job.wake, () => void this.trigger());
    this.schedule();
  }

  trigger(): Promise<void> {
    return this.stopped ? Promise.resolve() : this.runs.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
    await this.runs.inFlight;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.trigger().finally(() => {
        if (!this.stopped) this.schedule();
      });
    }, this.job.intervalMs);
    this.timer.unref();
  }

  private async once(): Promise<void> {
    if (this.stopped) return;
    try {
      this.ctx.metrics.jobRuns.inc({ job: this.job.name, outcome: await this.execute() });
    } catch (err) {
      this.ctx.metrics.jobRuns.inc({ job: this.job.name, outcome: 'failed' });
      this.ctx.logger.warn({ job: this.job.name, err: (err as Error).message }, 'scheduled job failed; will retry');
    }
  }
}

/**
 * A leader job: every `intervalMs`, try for the session advisory lock on the job's own
 * connection if not leading, then run while leading (and on each wake). The lock lives and dies
 * with the session, so a dead leader's lock is free at PostgreSQL at once.
 */
export class LeaderRunner implements JobRunner {
  private client: Client | undefined;
  private connecting: Promise<Client | undefined> | undefined;
  private isLeading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly runs = new SingleFlight(() => this.runWhileLeading());

  constructor(
    private readonly job: LeaderJob,
    private readonly ctx: RunnerContext,
  ) {}

  start(): void {
    if (this.job.wake) this.unsubscribe = this.ctx.listener.on(this.job.wake, () => void this.trigger());
    this.timer = setInterval(() => void this.tick(), this.job.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  trigger(): Promise<void> {
    if (!this.isLeading || this.stopped) return Promise.resolve();
    return this.runs.run();
  }

  /** Stop, finish a run under way, and let go of the lead. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.runs.inFlight;
    await this.dropConnection();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    if (!this.isLeading) await this.tryLead();
    await this.trigger();
  }

  private async tryLead(): Promise<void> {
    try {
      const client = await this.connection();
      if (!client || this.stopped) return;
      const [{ ok }] = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [this.job.lockKey])).rows;
      if (!ok) return;
      this.isLeading = true;
      this.job.onLeadChange?.(true, client);
    } catch (err) {
      this.ctx.logger.warn({ job: this.job.name, err: (err as Error).message }, 'could not try for the leader lock; will retry');
      await this.dropConnection();
    }
  }

  private async runWhileLeading(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const lead: Lead = { client, isActive: () => this.isLeading && !this.stopped && this.client === client };
    try {
      await this.job.run(lead);
      this.ctx.metrics.jobRuns.inc({ job: this.job.name, outcome: 'ran' });
    } catch (err) {
      // The run's transaction rolled back. Lose the lead (and the connection) so a healthy
      // instance can take over; this one tries again at its next tick.
      this.ctx.metrics.jobRuns.inc({ job: this.job.name, outcome: 'failed' });
      this.ctx.logger.warn({ job: this.job.name, err: (err as Error).message }, 'leader job failed; will retry');
      await this.dropConnection();
    }
  }

  /** The job's own session (the advisory lock lives and dies with it). */
  private connection(): Promise<Client | undefined> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new Client({
        connectionString: this.ctx.databaseUrl,
        application_name: this.job.applicationName,
        statement_timeout: this.job.statementTimeoutMs,
      });
      client.on('error', (err) => {
        this.ctx.logger.warn({ job: this.job.name, err: err.message }, 'the leader connection failed');
        void this.dropConnection();
      });
      try {
        await client.connect();
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async dropConnection(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (this.isLeading) {
      this.isLeading = false;
      this.job.onLeadChange?.(false, client);
    }
    await client.end().catch(() => undefined);
  }
}
