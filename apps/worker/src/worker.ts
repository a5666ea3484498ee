import { hostname } from 'node:os';
import { AgentManagerClient, AgentManagerError, isTransientError } from '@agentmanager/client';
import type { Agent, RaHistory, Task } from '@agentmanager/contracts';
import type { WorkerConfig } from './config';
import { delay } from './handlers/builtin';
import { type HandlerContext, HandlerError, NonRetryableError, type RaIteration, type TaskHandler } from './handlers/types';

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** Why a running task's handler was stopped. */
type StopReason = 'stale' | 'timeout' | 'shutdown';

class Stop extends Error {
  constructor(readonly reason: StopReason) {
    super(`task stopped: ${reason}`);
  }
}

interface Running {
  task: Task;
  abort: AbortController;
  done: Promise<void>;
  progress: number;
  message?: string;
  logs: { level: string; message: string }[];
  progressInFlight: boolean;
  lastProgressAt: number;
}

/** Exponential backoff with jitter: half fixed, half random, capped. */
export function backoffMs(failures: number, baseMs = 500, capMs = 15_000): number {
  const d = Math.min(capMs, baseMs * 2 ** Math.min(failures, 10));
  return d / 2 + Math.random() * (d / 2);
}

/**
 * The reference worker (seed 000's ExternalWorkerClient + WorkerAgent): registers as
 * client_agent_id, heartbeats at the server's interval, long-polls claims up to
 * max_parallel_tasks in flight, runs each task with the handler for its type, reports progress and
 * the result (with execution_time and ra_history), and drains on stop().
 *
 * Failure handling:
 * - Server unreachable (or 429/502/503/504): claims back off with jitter; reports are retried with
 *   the SAME attempt until they land, so nothing is lost. A retried report that meets 409
 *   (`stale_attempt`: the lease lapsed and the task moved on) or 404 is dropped, never re-sent
 *   under a new attempt, so nothing is reported twice.
 * - A 409 on a progress report means the task was cancelled or reclaimed: the handler is aborted
 *   and nothing more is reported for it.
 * - File locks of `file_dependencies` are taken by the server at claim with TTL = timeout + lease,
 *   and every progress report renews them, so a task that runs within its timeout never needs an
 *   explicit renewal. As a safety net (a server with a lower LOCK_MAX_TTL_SEC, clock skew) the
 *   worker looks at its task's locks once and renews any that would expire while the task may
 *   still run.
 */
export class Worker {
  private agent?: Agent;
  private readonly running = new Map<string, Running>();
  private stopping = false;
  private needsRegister = true;
  private claimAbort?: AbortController;
  private wake?: () => void;
  private heartbeatTimer?: NodeJS.Timeout;
  private heartbeatSec = 15;
  private heartbeatFailures = 0;
  private loopDone?: Promise<void>;
  private reportDeadline = Infinity;
  private stopped = false;

  constructor(
    private readonly config: WorkerConfig,
    private readonly handlers: Record<string, TaskHandler>,
    private readonly log: LogFn,
    private readonly client = new AgentManagerClient(config.server_url, config.auth_token),
  ) {}

  get agentId(): string | undefined {
    return this.agent?.id;
  }

  /** Registers, starts heartbeats and the claim loop; resolves once the loop has ended (after stop()). */
  async run(): Promise<void> {
    this.loopDone = this.loop();
    await this.loopDone;
  }

  /**
   * Stops claiming (marks the agent draining), lets held tasks finish within the grace period,
   * fails the rest back (retryable), waits for their reports, and stops heartbeating.
   */
  async stop(graceSec = this.config.drain_grace_sec): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wake?.();
    this.log('info', 'draining', { held: this.running.size, grace_sec: graceSec });
    if (this.agent) {
      await this.client
        .heartbeat(this.agent.id, { current_load: this.running.size, status: 'draining' })
        .catch((err: unknown) => this.log('warn', 'could not mark the agent draining', { error: String(err) }));
    }
    const deadline = Date.now() + graceSec * 1000;
    // A claim already on the wire may still hand us tasks; wait for it (the server gives a
    // draining agent nothing new), but not beyond the grace period.
    const claimCut = setTimeout(() => this.claimAbort?.abort(new Stop('shutdown')), Math.max(0, deadline - Date.now()));
    await this.loopDone?.catch(() => undefined);
    clearTimeout(claimCut);
    const held = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    const graceOver = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now())).unref());
    if ((await Promise.race([held(), graceOver])) === 'timeout') {
      this.log('warn', 'grace period over; failing held tasks back', { held: [...this.running.keys()] });
      for (const r of this.running.values()) r.abort.abort(new Stop('shutdown'));
    }
    // Reports of the last results get a bounded window when the server is unreachable.
    this.reportDeadline = Date.now() + 15_000;
    await held();
    this.stopped = true;
    clearTimeout(this.heartbeatTimer);
    this.log('info', 'drained');
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (this.needsRegister) {
          await this.register();
          failures = 0;
        }
        const free = this.config.max_parallel_tasks - this.running.size;
        if (free <= 0) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        this.claimAbort = new AbortController();
        const wait = this.config.polling_interval_sec;
        const started = Date.now();
        const tasks = await this.client.claim(this.agent!.id, free, wait, { signal: this.claimAbort.signal });
        failures = 0;
        for (const task of tasks) this.start(task);
        // An agent the server will not feed (draining/disabled by an operator) gets [] at once:
        // do not spin; wait out the polling interval.
        if (tasks.length === 0 && Date.now() - started < wait * 1000 - 100) await this.pause(Math.max(1000, wait * 1000 - (Date.now() - started)));
      } catch (err) {
        if (this.stopping && this.claimAbort?.signal.aborted) break;
        if (isTransientError(err)) {
          const ms = err instanceof AgentManagerError && err.retryAfterSec ? err.retryAfterSec * 1000 : backoffMs(failures++);
          this.log('warn', 'server unavailable; backing off', { error: String(err), retry_in_ms: Math.round(ms) });
          await this.pause(ms);
        } else if (err instanceof AgentManagerError && err.status === 404) {
          this.log('warn', 'the server does not know this agent; registering again', { error: err.message });
          this.needsRegister = true;
          await this.pause(backoffMs(failures++));
        } else if (err instanceof AgentManagerError && (err.status === 401 || err.status === 403)) {
          throw err; // a revoked or insufficient credential: nothing to retry
        } else {
          this.log('error', 'claim failed', { error: String(err) });
          await this.pause(backoffMs(failures++));
        }
      }
    }
  }

  /** Sleeps, but wakes early when stop() is called. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async register(): Promise<void> {
    this.agent = await this.client.registerAgent({
      name: this.config.client_agent_id,
      type: this.config.agent_type,
      capabilities: this.config.agent_capabilities,
      endpoints: this.config.endpoints,
      max_parallel_tasks: this.config.max_parallel_tasks,
      metadata: { worker: 'agentmanager-reference-worker', host: hostname(), pid: process.pid, handlers: Object.keys(this.handlers) },
    });
    this.needsRegister = false;
    this.log('info', 'registered', { agent_id: this.agent.id, name: this.agent.name, capabilities: this.agent.capabilities });
    if (!this.heartbeatTimer) await this.heartbeat();
  }

  private async heartbeat(): Promise<void> {
    const agent = this.agent;
    if (!agent) return;
    let nextMs: number;
    try {
      const res = await this.client.heartbeat(agent.id, { current_load: this.running.size, ...(this.stopping ? { status: 'draining' as const } : {}) });
      this.heartbeatSec = res.heartbeat_interval_sec;
      this.heartbeatFailures = 0;
      nextMs = this.heartbeatSec * 1000;
    } catch (err) {
      if (err instanceof AgentManagerError && err.status === 404) this.needsRegister = true;
      this.log('warn', 'heartbeat failed', { error: String(err) });
      nextMs = Math.min(this.heartbeatSec * 1000, backoffMs(this.heartbeatFailures++, 500, 5000));
    }
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), nextMs);
  }

  private handlerFor(type: string): TaskHandler | undefined {
    return this.handlers[this.config.task_handlers[type] ?? type];
  }

  private start(task: Task): void {
    const abort = new AbortController();
    const running: Running = { task, abort, progress: 0, logs: [], progressInFlight: false, lastProgressAt: 0, done: Promise.resolve() };
    this.running.set(task.id, running);
    this.log('info', 'claimed', { task_id: task.id, type: task.type, attempt: task.attempt });
    running.done = this.execute(running).finally(() => {
      this.running.delete(task.id);
      this.wake?.();
    });
  }

  private async execute(r: Running): Promise<void> {
    const { task, abort } = r;
    const iterations: RaIteration[] = [];
    const startedAt = performance.now();
    const ticker = setInterval(() => void this.sendProgress(r), this.config.progress_interval_sec * 1000);
    const timeout = setTimeout(() => abort.abort(new Stop('timeout')), task.timeout * 1000);
    const lockWatch = task.file_dependencies?.length ? this.watchLocks(r) : undefined;
    const ctx: HandlerContext = {
      agent: this.agent!,
      config: this.config,
      signal: abort.signal,
      progress: async (progress, message) => {
        r.progress = Math.max(0, Math.min(1, progress));
        if (message !== undefined) r.message = message;
        if (Date.now() - r.lastProgressAt >= 1000) await this.sendProgress(r);
      },
      log: (level, message) => r.logs.push({ level, message: message.slice(0, 10_000) }),
      record: (it) => iterations.push({ ...it, timestamp: it.timestamp ?? new Date().toISOString() }),
    };
    let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
    try {
      const handler = this.handlerFor(task.type);
      if (!handler) throw new HandlerError(`This worker has no handler for task type "${task.type}"`, 'no_handler');
      // A handler that ignores its signal cannot hold the worker past an abort.
      const aborted = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason as Error), { once: true }));
      aborted.catch(() => undefined);
      outcome = { ok: true, result: await Promise.race([handler(task, ctx), aborted]) };
    } catch (error) {
      outcome = { ok: false, error: abort.signal.aborted ? abort.signal.reason : error };
    } finally {
      clearInterval(ticker);
      clearTimeout(timeout);
      lockWatch?.stop();
    }
    const executionTime = (performance.now() - startedAt) / 1000;
    if (outcome.ok) {
      const raHistory: RaHistory = { iterations, final_result: outcome.result };
      await this.report(task, 'complete', () =>
        this.client.completeWith(task, this.agent!.id, { result: outcome.result ?? null, ra_history: raHistory, execution_time: executionTime }),
      );
      return;
    }
    const err = outcome.error;
    if (err instanceof Stop && err.reason === 'stale') {
      this.log('warn', 'task was cancelled or reclaimed; dropped', { task_id: task.id, attempt: task.attempt });
      return;
    }
    const retryable = !(err instanceof NonRetryableError);
    const error =
      err instanceof Stop
        ? { code: err.reason === 'timeout' ? 'timeout' : 'worker_shutdown', message: err.reason === 'timeout' ? `Ran longer than ${task.timeout} s` : 'The worker shut down before the task finished' }
        : {
            code: err instanceof NonRetryableError || err instanceof HandlerError ? err.code : 'handler_error',
            message: err instanceof Error ? err.message : String(err),
            ...(err instanceof NonRetryableError || err instanceof HandlerError ? (err.details === undefined ? {} : { details: err.details }) : {}),
          };
    this.log('warn', 'task failed', { task_id: task.id, attempt: task.attempt, code: error.code, retryable, message: error.message });
    await this.report(task, 'fail', () => this.client.fail(task, this.agent!.id, error, retryable));
  }

  /** Sends one report, retrying connection errors with the same attempt; drops it on 404/409. */
  private async report(task: Task, what: 'complete' | 'fail', send: () => Promise<Task>): Promise<void> {
    let failures = 0;
    for (;;) {
      try {
        const after = await send();
        this.log('info', what === 'complete' ? 'completed' : 'failed back', { task_id: task.id, attempt: task.attempt, status: after.status });
        return;
      } catch (err) {
        if (err instanceof AgentManagerError && (err.status === 409 || err.status === 404)) {
          // After a lost response this may be our own report having landed; either way the
          // attempt is over and nothing more may be said about it.
          this.log('warn', `${what} refused; dropping the task`, { task_id: task.id, attempt: task.attempt, code: err.code, retried: failures > 0 });
          return;
        }
        if (!isTransientError(err)) {
          this.log('error', `${what} rejected`, { task_id: task.id, error: String(err) });
          if (what === 'complete' && err instanceof AgentManagerError && (err.status === 400 || err.status === 413)) {
            const reason = { code: 'invalid_result', message: `The server refused the result: ${err.body.message}` };
            return this.report(task, 'fail', () => this.client.fail(task, this.agent!.id, reason, false));
          }
          return;
        }
        if (Date.now() > this.reportDeadline) {
          this.log('error', `${what} not delivered before exit; the server will reclaim the task when its lease lapses`, { task_id: task.id });
          return;
        }
        const ms = backoffMs(failures++, 250, 5000);
        this.log('warn', `${what} could not reach the server; retrying with the same attempt`, { task_id: task.id, retry_in_ms: Math.round(ms) });
        await delay(ms);
      }
    }
  }

  private async sendProgress(r: Running): Promise<void> {
    if (r.progressInFlight || r.abort.signal.aborted) return;
    r.progressInFlight = true;
    r.lastProgressAt = Date.now();
    const logs = r.logs.splice(0, 100);
    try {
      await this.client.progress(r.task, this.agent!.id, { progress: r.progress, ...(r.message ? { message: r.message } : {}), ...(logs.length ? { logs } : {}) });
    } catch (err) {
      if (err instanceof AgentManagerError && (err.status === 409 || err.status === 404)) r.abort.abort(new Stop('stale'));
      else if (isTransientError(err)) r.logs.unshift(...logs); // sent with the next report
      else this.log('warn', 'progress report refused', { task_id: r.task.id, error: String(err) });
    } finally {
      r.progressInFlight = false;
    }
  }

  /** Renews the task's locks only if one would expire while the task may still be running. */
  private watchLocks(r: Running): { stop(): void } {
    const timers: NodeJS.Timeout[] = [];
    const runsUntil = Date.now() + r.task.timeout * 1000;
    void this.client
      .listLocks({ task_id: r.task.id })
      .then(({ locks }) => {
        for (const lock of locks) {
          const margin = Math.max(30_000, this.heartbeatSec * 2000);
          const renewAt = Date.parse(lock.expires_at) - margin;
          if (renewAt >= runsUntil) continue; // outlives the task: nothing to do
          const renew = () => {
            if (r.abort.signal.aborted) return;
            const ttl = Math.ceil((runsUntil - Date.now() + margin) / 1000);
            this.client
              .renewLock(lock.id, ttl)
              .then((renewed) => this.log('info', 'renewed a lock', { task_id: r.task.id, path: renewed.path, expires_at: renewed.expires_at }))
              .catch((err: unknown) => this.log('warn', 'lock renewal failed', { task_id: r.task.id, path: lock.path, error: String(err) }));
          };
          timers.push(setTimeout(renew, Math.max(0, renewAt - Date.now())));
        }
      })
      .catch((err: unknown) => this.log('warn', 'could not list the task locks', { task_id: r.task.id, error: String(err) }));
    return { stop: () => timers.forEach((t) => clearTimeout(t)) };
  }
}
