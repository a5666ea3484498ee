/**
 * Checkers for histories recorded by concurrency tests (lock holds, task leases, ...): they take
 * what the server said happened and look for what must never happen.
 */

/** A half-open interval [start, end) with what it stands for (a lock hold, a lease, ...). */
export interface Interval<T> {
  start: number;
  end: number;
  value: T;
}

/**
 * Every pair of intervals that overlap in time (a.start < b.end and b.start < a.end; touching
 * ends do not overlap) and for which `conflicts(a, b)` says they must not. Sweeps in start order,
 * comparing each interval only with those still open, so it stays fast for thousands.
 */
export function findOverlaps<T>(intervals: Interval<T>[], conflicts: (a: T, b: T) => boolean): [Interval<T>, Interval<T>][] {
  const sorted = [...intervals].filter((i) => i.end > i.start).sort((a, b) => a.start - b.start);
  const open: Interval<T>[] = [];
  const found: [Interval<T>, Interval<T>][] = [];
  for (const next of sorted) {
    for (let i = open.length - 1; i >= 0; i--) if (open[i].end <= next.start) open.splice(i, 1);
    for (const other of open) if (conflicts(other.value, next.value)) found.push([other, next]);
    open.push(next);
  }
  return found;
}

/** SQL rendering a timestamptz column as microseconds since the epoch (as text; Number() it), exact where JS dates keep only ms. */
export const timestampMicros = (column: string): string => `(extract(epoch from ${column}) * 1000000)::bigint::text`;

// ---------------------------------------------------------------------------------------------
// Task histories: what each claim loop asked for and what the server answered.
// ---------------------------------------------------------------------------------------------

/** A claimed task as the claim response gave it: its id and the attempt (fencing token) to report with. */
export interface ClaimedTask {
  id: string;
  attempt: number;
}

/** How a fenced report ended: 200 (accepted), 409 stale_attempt (rejected), or anything else (error: outcome unknown). */
export type ReportOutcome = 'accepted' | 'rejected' | 'error';

interface OpBase {
  /** Which client loop issued it. */
  loop: string;
  /** Client clock (ms) just before the request was sent, and when its answer arrived. */
  invoke: number;
  complete: number;
}

export type TaskOp =
  | (OpBase & { kind: 'claim'; ok: true; tasks: ClaimedTask[] })
  | (OpBase & { kind: 'claim'; ok: false; status: number })
  | (OpBase & { kind: 'progress' | 'complete'; task: string; attempt: number; outcome: ReportOutcome; status: number });

/** The final state of a task, read from the database after the run. */
export interface FinalTask {
  id: string;
  status: string;
  attempt: number;
}

/**
 * Records operations as client loops perform them. `now()` is a monotonic client clock; call it
 * right before sending (invoke) and pass that to the recording method when the answer arrives.
 */
export class TaskHistory {
  readonly ops: TaskOp[] = [];

  now(): number {
    return performance.now();
  }

  claim(loop: string, invoke: number, tasks: ClaimedTask[]): void {
    this.ops.push({ kind: 'claim', ok: true, loop, invoke, complete: this.now(), tasks: tasks.map((t) => ({ id: t.id, attempt: t.attempt })) });
  }

  claimFailed(loop: string, invoke: number, status: number): void {
    this.ops.push({ kind: 'claim', ok: false, loop, invoke, complete: this.now(), status });
  }

  /** A progress or complete report; 200 → accepted, 409 → rejected, anything else → error. */
  report(kind: 'progress' | 'complete', loop: string, invoke: number, task: ClaimedTask, status: number): ReportOutcome {
    const outcome: ReportOutcome = status === 200 ? 'accepted' : status === 409 ? 'rejected' : 'error';
    this.ops.push({ kind, loop, invoke, complete: this.now(), task: task.id, attempt: task.attempt, outcome, status });
    return outcome;
  }

  count(kind: TaskOp['kind'], outcome?: ReportOutcome): number {
    return this.ops.filter((o) => o.kind === kind && (outcome === undefined || ('outcome' in o && o.outcome === outcome))).length;
  }
}

/** One loop's claim on one attempt of a task, from the claim's answer to its last accepted report. */
export interface Hold {
  loop: string;
  task: string;
  attempt: number;
}

export interface TaskHistoryReport {
  /** Tasks that did not end completed, or whose completion no loop saw accepted. */
  lost: string[];
  /** Tasks with more than one accepted completion. */
  duplicateAcceptedCompletions: string[];
  /** Accepted completions whose attempt is not the task's final attempt. */
  staleAccepted: { task: string; attempt: number; finalAttempt: number; loop: string }[];
  /** The same attempt of a task handed out by more than one claim. */
  duplicateClaims: { task: string; attempt: number; loops: string[] }[];
  /**
   * Two holds of one task that certainly overlapped while both were accepted: hold A ends no
   * earlier than the invoke of its last accepted report, and began no later than its claim's
   * answer; if two such windows of different holds intersect, the server accepted work from
   * both at once.
   */
  concurrentHolds: [Interval<Hold>, Interval<Hold>][];
  /** Accepted completions of tasks that were never claimed in this history. */
  unclaimedAccepted: string[];
}

/** True when a report says nothing is wrong. */
export function historyIsClean(r: TaskHistoryReport): boolean {
  return (
    r.lost.length === 0 &&
    r.duplicateAcceptedCompletions.length === 0 &&
    r.staleAccepted.length === 0 &&
    r.duplicateClaims.length === 0 &&
    r.concurrentHolds.length === 0 &&
    r.unclaimedAccepted.length === 0
  );
}

/**
 * Checks a task history against the tasks' final states (pure: no clock, no I/O). Ambiguous
 * reports (`error`: the request may or may not have been applied) are never counted as accepted.
 */
export function checkTaskHistory(history: TaskHistory | readonly TaskOp[], finalTasks: readonly FinalTask[]): TaskHistoryReport {
  const ops = history instanceof TaskHistory ? history.ops : history;
  const finalById = new Map(finalTasks.map((t) => [t.id, t]));
  const holdKey = (task: string, attempt: number) => `${task}#${attempt}`;

  // Claims: who got which attempt, and when the claim certainly had happened (its answer).
  const claimedBy = new Map<string, { loop: string; at: number }[]>();
  for (const op of ops) {
    if (op.kind !== 'claim' || !op.ok) continue;
    for (const t of op.tasks) {
      const key = holdKey(t.id, t.attempt);
      const list = claimedBy.get(key) ?? [];
      list.push({ loop: op.loop, at: op.complete });
      claimedBy.set(key, list);
    }
  }

  // Accepted reports: completions per task, and the last accepted report per hold.
  const acceptedCompletions = new Map<string, { attempt: number; loop: string }[]>();
  const lastAccepted = new Map<string, number>();
  for (const op of ops) {
    if (op.kind === 'claim' || op.outcome !== 'accepted') continue;
    const key = `${holdKey(op.task, op.attempt)}@${op.loop}`;
    lastAccepted.set(key, Math.max(lastAccepted.get(key) ?? -Infinity, op.invoke));
    if (op.kind === 'complete') {
      const list = acceptedCompletions.get(op.task) ?? [];
      list.push({ attempt: op.attempt, loop: op.loop });
      acceptedCompletions.set(op.task, list);
    }
  }

  const lost = finalTasks.filter((t) => t.status !== 'completed' || !acceptedCompletions.has(t.id)).map((t) => t.id);
  const duplicateAcceptedCompletions = [...acceptedCompletions].filter(([, list]) => list.length > 1).map(([id]) => id);
  const staleAccepted: TaskHistoryReport['staleAccepted'] = [];
  for (const [task, list] of acceptedCompletions) {
    const final = finalById.get(task);
    for (const c of list) {
      if (!final || c.attempt !== final.attempt) staleAccepted.push({ task, attempt: c.attempt, finalAttempt: final?.attempt ?? -1, loop: c.loop });
    }
  }
  const duplicateClaims = [...claimedBy]
    .filter(([, list]) => list.length > 1)
    .map(([key, list]) => {
      const [task, attempt] = key.split('#');
      return { task, attempt: Number(attempt), loops: list.map((c) => c.loop) };
    });
  const claimedTasks = new Set([...claimedBy.keys()].map((k) => k.split('#')[0]));
  const unclaimedAccepted = [...acceptedCompletions.keys()].filter((id) => !claimedTasks.has(id));

  // Holds with accepted work: [claim answered, last accepted report invoked].
  const holds: Interval<Hold>[] = [];
  for (const [key, claims] of claimedBy) {
    const [task, attempt] = key.split('#');
    for (const c of claims) {
      const end = lastAccepted.get(`${key}@${c.loop}`);
      // No accepted report, or none certainly after the claim: nothing certain to overlap.
      if (end === undefined || end <= c.at) continue;
      holds.push({ start: c.at, end, value: { loop: c.loop, task, attempt: Number(attempt) } });
    }
  }
  const concurrentHolds = findOverlaps(holds, (a, b) => a.task === b.task && (a.loop !== b.loop || a.attempt !== b.attempt));

  return { lost, duplicateAcceptedCompletions, staleAccepted, duplicateClaims, concurrentHolds, unclaimedAccepted };
}
