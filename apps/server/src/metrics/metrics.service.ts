import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const PREFIX = 'agentmanager_';

/** What a scrape read from the database, for the gauges modules fill in themselves. */
export interface Scrape {
  /** The newest sealed event's seq. */
  eventsHeadSeq: number;
}

/**
 * This instance's Prometheus registry: counters and histograms the code moves as things happen,
 * and gauges MetricsCollector fills in on each scrape. Global, so a service records with one line.
 * Modules above this one fill their own gauges through `onScrape` (metrics imports none of them).
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly scrapeHooks: ((scrape: Scrape) => void)[] = [];

  /** Runs `hook` at each scrape, after the database gauges are read. */
  onScrape(hook: (scrape: Scrape) => void): void {
    this.scrapeHooks.push(hook);
  }

  /** MetricsCollector's call, once per scrape. */
  runScrapeHooks(scrape: Scrape): void {
    for (const hook of this.scrapeHooks) hook(scrape);
  }

  readonly httpDuration = new Histogram({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'HTTP request duration by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly tasksClaimed = new Counter({
    name: `${PREFIX}tasks_claimed_total`,
    help: 'Tasks handed to agents by claims',
    registers: [this.registry],
  });
  readonly tasksCompleted = new Counter({
    name: `${PREFIX}tasks_completed_total`,
    help: 'Task attempts completed by their agent',
    registers: [this.registry],
  });
  readonly tasksFailed = new Counter({
    name: `${PREFIX}tasks_failed_total`,
    help: 'Task attempts that failed: reported by the agent, or ended by a lapsed lease or a timeout',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly claimDuration = new Histogram({
    name: `${PREFIX}claim_duration_seconds`,
    help: 'Duration of one claim attempt (one transaction), by whether it handed out tasks',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly sweeperRuns = new Counter({
    name: `${PREFIX}sweeper_runs_total`,
    help: 'Sweeper rounds run by this instance',
    registers: [this.registry],
  });
  readonly jobRuns = new Counter({
    name: `${PREFIX}scheduled_job_runs_total`,
    help: 'Scheduled job runs on this instance, by job and outcome (ran; skipped: another instance held its lock; failed)',
    labelNames: ['job', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: `${PREFIX}rate_limited_total`,
    help: 'Requests refused with 429 rate_limited',
    registers: [this.registry],
  });
  readonly shed = new Counter({
    name: `${PREFIX}requests_shed_total`,
    help: 'Requests refused with 503 under overload, by cause',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });

  readonly tasks = new Gauge({
    name: `${PREFIX}tasks`,
    help: 'Tasks by status and type',
    labelNames: ['status', 'type'] as const,
    registers: [this.registry],
  });
  readonly agents = new Gauge({
    name: `${PREFIX}agents`,
    help: 'Agents by status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly activeLocks = new Gauge({ name: `${PREFIX}file_locks_active`, help: 'Unreleased, unexpired file locks', registers: [this.registry] });
  readonly sockets = new Gauge({ name: `${PREFIX}sockets_connected`, help: 'Socket.IO clients connected to this instance', registers: [this.registry] });
  readonly outboxLag = new Gauge({
    name: `${PREFIX}outbox_lag_events`,
    help: 'Events committed to the outbox that this instance has not relayed yet',
    registers: [this.registry],
  });

  readonly sealLag = new Histogram({
    name: `${PREFIX}seal_lag_seconds`,
    help: 'From a change committing to its audit rows and events being sealed (chained and numbered)',
    labelNames: ['kind'],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly emitLag = new Histogram({
    name: `${PREFIX}event_emit_lag_seconds`,
    help: 'From an event being sealed to this instance handing it to its sockets',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly sealerLeader = new Gauge({
    name: `${PREFIX}sealer_leader`,
    help: '1 while this instance is the one sealing audit rows and events',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }
}
