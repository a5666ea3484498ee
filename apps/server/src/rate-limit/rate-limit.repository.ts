import { type BeforeApplicationShutdown,Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '@agentmanager/database';
import { InjectLogger } from '../common/logger.module';

export interface WindowState {
  hits: number;
  reset_sec: number;
}

/** How often an instance adds its local hits to the shared counters and reads back the totals. */
const FLUSH_MS = 100;
const WINDOW_MS = 60_000;

interface Shared {
  /** The bucket's total across instances at the last flush, this instance's flushed hits included. */
  hits: number;
  /** When the window ends, on this instance's clock (from the database's seconds-left). */
  resetAt: number;
}

/**
 * Fixed one-minute windows per bucket, shared by every instance through PostgreSQL, without a
 * database write on the request path: an instance counts hits in memory and, every FLUSH_MS, adds
 * them to `rate_limit_counters` in one statement, reading back each bucket's total. A decision is
 * the last shared total plus the hits not flushed yet, so one instance is exact and N instances
 * may together overshoot by about what each serves within one FLUSH_MS. While a window is open
 * the instance re-reads it every FLUSH_MS (one small query, only while there is traffic). The per-request upsert
 * this replaces cost every call an extra round trip, serialised on one row per busy key. If the database is unreachable, hits stay pending and requests pass: the
 * limiter fails open, readiness reports the outage.
 */
@Injectable()
export class RateLimitRepository implements BeforeApplicationShutdown {
  private readonly pending = new Map<string, number>();
  /** Hits being written right now: still counted until the shared totals include them. */
  private readonly inflight = new Map<string, number>();
  private readonly shared = new Map<string, Shared>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  /** Counts `n` hits (one request, or each call of a batch) and returns the window's count and seconds left. */
  hit(bucket: string, n = 1): WindowState {
    const now = Date.now();
    let known = this.shared.get(bucket);
    if (known && known.resetAt <= now) {
      this.shared.delete(bucket);
      known = undefined;
    }
    const pending = (this.pending.get(bucket) ?? 0) + n;
    this.pending.set(bucket, pending);
    this.schedule();
    return {
      hits: (known?.hits ?? 0) + (this.inflight.get(bucket) ?? 0) + pending,
      reset_sec: Math.max(1, Math.ceil(((known?.resetAt ?? now + WINDOW_MS) - now) / 1000)),
    };
  }

  /** Adds every pending hit to the shared counters and re-reads every open window (one statement). */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pending.size === 0 && this.shared.size === 0) return;
    const batch = [...this.pending];
    this.pending.clear();
    for (const [bucket, n] of batch) this.inflight.set(bucket, n);
    this.flushing = this.write(batch)
      .catch((err: unknown) => {
        // Put the hits back for the next flush; requests meanwhile pass (fail open).
        for (const [bucket, n] of batch) this.pending.set(bucket, (this.pending.get(bucket) ?? 0) + n);
        this.logger.warn({ err }, 'rate limit counters could not be flushed');
      })
      .finally(() => {
        this.inflight.clear();
        this.flushing = undefined;
        // While any window is open, keep re-reading it: other instances' hits show up here within
        // one FLUSH_MS even when this instance is idle.
        if (this.pending.size || this.shared.size) this.schedule();
      });
    return this.flushing;
  }

  private async write(batch: [string, number][]): Promise<void> {
    // Buckets this instance knows but has no new hits for are read back too, so its view of what
    // other instances counted is never older than its last flush.
    const flushed = new Set(batch.map(([bucket]) => bucket));
    const refresh = [...this.shared.keys()].filter((bucket) => !flushed.has(bucket));
    const result = await this.dataSource.query<{ bucket: string; hits: number; reset_sec: number }[]>(
      `WITH added AS (
         INSERT INTO rate_limit_counters AS c (bucket, window_start, hits)
         SELECT b, now(), n FROM unnest($1::text[], $2::int[]) AS t(b, n)
         ON CONFLICT (bucket) DO UPDATE SET
           hits = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.hits + EXCLUDED.hits ELSE EXCLUDED.hits END,
           window_start = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.window_start ELSE now() END
         RETURNING bucket, hits, window_start)
       SELECT bucket, hits, extract(epoch FROM window_start + interval '1 minute' - now())::float8 AS reset_sec FROM added
       UNION ALL
       SELECT bucket, hits, extract(epoch FROM window_start + interval '1 minute' - now())::float8 FROM rate_limit_counters
        WHERE bucket = ANY($3::text[]) AND window_start > now() - interval '1 minute'`,
      [batch.map(([b]) => b), batch.map(([, n]) => n), refresh],
    );
    const now = Date.now();
    for (const row of result) this.shared.set(row.bucket, { hits: row.hits, resetAt: now + Math.max(0, row.reset_sec) * 1000 });
    // Windows that ended and saw no hit since are forgotten (bounded memory).
    for (const [bucket, known] of this.shared) if (known.resetAt <= now) this.shared.delete(bucket);
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, FLUSH_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Drops buckets idle for a while (e.g. one-off client IPs). */
  async prune(manager: EntityManager): Promise<number> {
    return (await rows(manager, `DELETE FROM rate_limit_counters WHERE window_start < now() - interval '5 minutes' RETURNING 1`)).length;
  }
}
