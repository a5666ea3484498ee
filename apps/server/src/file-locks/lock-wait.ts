import type { LockDto } from './dto/file-lock.dto';
import type { AcquireOutcome } from './file-locks.repository';

// How POST /locks waits (FileLocksService.acquire): attempts, and the pauses between them.

/** Between attempts when the advisory lock on the path was busy (another attempt was deciding). */
const WAIT_BUSY_MS = { min: 20, jitter: 30 };
/** The longest pause between attempts when no release wakes the waiter (a missed notification). */
const WAIT_FALLBACK_MS = 1000;

/** An attempt's outcome: acquired (or replayed by its Idempotency-Key), or why not. */
export type Attempt = Exclude<AcquireOutcome, { ok: true }> | { ok: true; status: number; body: LockDto; replayed: boolean };

/** A lock attempt that did not acquire: rolls the attempt back (nothing stored under its Idempotency-Key). */
export class NotAcquired extends Error {
  constructor(readonly outcome: Exclude<AcquireOutcome, { ok: true }>) {
    super('lock not acquired');
  }
}

/** The pause before the next attempt: until the first conflicting lock lapses, at most WAIT_FALLBACK_MS (a contended advisory lock: a short jittered step). */
export function retryDelay(outcome: Attempt | undefined): number {
  if (!outcome || outcome.ok || outcome.reason !== 'conflict') return WAIT_BUSY_MS.min + Math.random() * WAIT_BUSY_MS.jitter;
  const lapse = Math.min(...outcome.conflicts.map((c) => c.expires_at.getTime())) - Date.now();
  return Math.max(5, Math.min(WAIT_FALLBACK_MS, lapse + 5));
}

/** Resolves after `ms`, when `signal` aborts, or when the function handed to `onWake` is called. */
export function pause(ms: number, signal: AbortSignal | undefined, onWake: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    onWake(done);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
