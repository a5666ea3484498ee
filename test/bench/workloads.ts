/**
 * The load the claim benchmark generates. Every write path (the REST API under /api/v1, a floor
 * under /minimal or /schema) answers the same three calls, so one workload measures them all.
 */
import { type Latencies,latencies, ms, post, tableRow } from './bench-support';

/** Where requests go: `base` + `/tasks`, `/tasks/claim`, `/tasks/{id}/complete`. */
export interface Endpoint {
  base: string;
  auth?: string;
}

/** One concurrent client acting as one agent (so workers do not queue on one agent's row). */
export interface Worker extends Endpoint {
  agentId: string;
}

/** Agents spread round-robin over endpoints (one endpoint per server instance). */
export function workersOn(endpoints: Endpoint[], agentIds: string[]): Worker[] {
  return agentIds.map((agentId, i) => ({ ...endpoints[i % endpoints.length], agentId }));
}

export interface RunResult extends Latencies {
  label: string;
  tasks: number;
  seconds: number;
  tasksPerSec: number;
  /** Requests whose latency was sampled (claims when draining, POSTs when submitting). */
  requests: number;
}

interface ClaimedTask {
  id: string;
  attempt: number;
}

/** More failed requests than this in one run means the target is broken, not slow. */
const MAX_ERRORS = 100;

/** One measured run: its clock, latency samples and failures. */
class Run {
  readonly samples: number[] = [];
  private errors = 0;
  private firstError = '';
  private readonly started = performance.now();

  constructor(readonly label: string) {}

  /** Runs `call`, sampling its latency. */
  async timed<T>(call: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await call();
    } finally {
      this.samples.push(performance.now() - t0);
    }
  }

  failed(what: string, status: number, body: unknown): void {
    const error = `${what} ${status} ${JSON.stringify(body)}`;
    this.firstError ||= error;
    if (++this.errors > MAX_ERRORS) throw new Error(`${this.label}: ${error}`);
  }

  finish(tasks: number, expected: number): RunResult {
    const seconds = (performance.now() - this.started) / 1000;
    if (tasks !== expected) throw new Error(`${this.label}: ${tasks} of ${expected} tasks went through (${this.errors} errors, the first: ${this.firstError})`);
    return { label: this.label, tasks, seconds, tasksPerSec: tasks / seconds, requests: this.samples.length, ...latencies(this.samples) };
  }
}

/** Each worker claims up to `batch` tasks and completes them, until a claim comes back empty. */
export async function drain(label: string, workers: Worker[], batch: number, expected: number): Promise<RunResult> {
  const run = new Run(label);
  let completed = 0;
  await Promise.all(
    workers.map(async (w) => {
      for (;;) {
        const claim = await run.timed(() => post(`${w.base}/tasks/claim`, { agent_id: w.agentId, max_tasks: batch }, w.auth));
        if (claim.status !== 200) {
          run.failed('claim', claim.status, claim.body);
          continue;
        }
        const tasks = claim.body.tasks as ClaimedTask[];
        if (!tasks.length) return;
        for (const t of tasks) {
          const done = await post(`${w.base}/tasks/${t.id}/complete`, { agent_id: w.agentId, attempt: t.attempt, result: { ok: true } }, w.auth);
          if (done.status === 200) completed++;
          else run.failed('complete', done.status, done.body);
        }
      }
    }),
  );
  return run.finish(completed, expected);
}

/** The clients POST `count` tasks of `type` between them, each waiting for its answer before the next. */
export async function submit(label: string, clients: Endpoint[], type: string, count: number): Promise<RunResult> {
  const run = new Run(label);
  let issued = 0;
  let created = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (issued < count) {
        const n = issued++;
        const res = await run.timed(() => post(`${c.base}/tasks`, { type, payload: { n }, priority: 'medium' }, c.auth));
        if (res.status === 201) created++;
        else run.failed('submit', res.status, res.body);
      }
    }),
  );
  return run.finish(created, count);
}

/** `count` claims of one task each, one after another, each completed before the next claim. */
export async function sequentialClaims(label: string, w: Worker, count: number): Promise<RunResult> {
  const run = new Run(label);
  let completed = 0;
  for (let i = 0; i < count; i++) {
    const claim = await run.timed(() => post(`${w.base}/tasks/claim`, { agent_id: w.agentId, max_tasks: 1 }, w.auth));
    const tasks = (claim.body.tasks ?? []) as ClaimedTask[];
    // Every claim here has a task waiting; an empty answer is a wrong answer, not a slow one.
    if (claim.status !== 200 || tasks.length !== 1) throw new Error(`${label}: claim ${i + 1} answered ${claim.status} ${JSON.stringify(claim.body)}`);
    const done = await post(`${w.base}/tasks/${tasks[0].id}/complete`, { agent_id: w.agentId, attempt: tasks[0].attempt, result: { ok: true } }, w.auth);
    if (done.status === 200) completed++;
    else run.failed('complete', done.status, done.body);
  }
  return run.finish(completed, count);
}

const WIDTHS = [40, 7, 8, 8, 9, 13, 13];

/** The header of a table of runs; `sampled` names what the latency columns measure. */
export function printRunHeader(sampled: string): void {
  console.log(tableRow(['run', 'tasks', 'seconds', 'tasks/s', 'requests', `${sampled} p50`, `${sampled} p99`], WIDTHS));
}

/** Prints a row of the table and hands the run back. */
export function printRun(r: RunResult): RunResult {
  console.log(tableRow([r.label, r.tasks, r.seconds.toFixed(1), r.tasksPerSec.toFixed(0), r.requests, ms(r.p50), ms(r.p99)], WIDTHS));
  return r;
}
