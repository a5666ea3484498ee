import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '../../../../libs/database/src';

export interface WindowState {
  hits: number;
  reset_sec: number;
}

/** One row per bucket: a one-minute window that starts at the bucket's first hit after the last window ended. */
@Injectable()
export class RateLimitRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Counts one hit and returns the window's count and seconds left: one autocommit statement. */
  async hit(bucket: string): Promise<WindowState> {
    const [row] = await this.dataSource.query<WindowState[]>(
      `INSERT INTO rate_limit_counters AS c (bucket, window_start, hits) VALUES ($1, now(), 1)
       ON CONFLICT (bucket) DO UPDATE SET
         hits = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.hits + 1 ELSE 1 END,
         window_start = CASE WHEN c.window_start > now() - interval '1 minute' THEN c.window_start ELSE now() END
       RETURNING hits, greatest(1, ceil(extract(epoch FROM c.window_start + interval '1 minute' - now())))::int AS reset_sec`,
      [bucket],
    );
    return row;
  }

  /** Drops buckets idle for a while (e.g. one-off client IPs). */
  async prune(manager: EntityManager): Promise<number> {
    return (await rows(manager, `DELETE FROM rate_limit_counters WHERE window_start < now() - interval '5 minutes' RETURNING 1`)).length;
  }
}
