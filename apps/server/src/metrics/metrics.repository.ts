import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '@agentmanager/database';

export interface GaugeRow {
  kind: 'task' | 'agent' | 'locks' | 'head';
  status: string | null;
  type: string | null;
  n: string;
}

/** Held while the snapshot is checked and recomputed (metrics sits below the scheduler; scheduler/job-locks.ts lists it). */
const SNAPSHOT_LOCK = 7_316_130;

/** The label that sums the task types beyond the most numerous `maxTypes`. */
export const OTHER_TYPES = 'other';

@Injectable()
export class MetricsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * The gauges as of at most `maxAgeMs` ago, and how old they are. Stored in `metrics_snapshot`
   * and recomputed (`gauges`) only once older, by one instance at a time under an advisory lock:
   * the others wait for it, then read what it stored. So the gauge query runs at most once per
   * interval however many instances are scraped however often; 0 recomputes on every call.
   */
  async snapshot(maxAgeMs: number, maxTypes: number): Promise<{ rows: GaugeRow[]; ageMs: number }> {
    return inTransaction(this.dataSource, async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [SNAPSHOT_LOCK]);
      const [stored] = await manager.query<{ gauges: GaugeRow[]; age_ms: number }[]>(
        `SELECT gauges, extract(epoch FROM clock_timestamp() - taken_at)::float8 * 1000 AS age_ms
           FROM metrics_snapshot WHERE id = 1 AND taken_at > clock_timestamp() - make_interval(secs => $1::float8 / 1000)`,
        [maxAgeMs],
      );
      if (stored) return { rows: stored.gauges, ageMs: stored.age_ms };
      const rows = await this.gauges(manager, maxTypes);
      await manager.query(
        `INSERT INTO metrics_snapshot (id, taken_at, gauges) VALUES (1, clock_timestamp(), $1::jsonb)
         ON CONFLICT (id) DO UPDATE SET taken_at = EXCLUDED.taken_at, gauges = EXCLUDED.gauges`,
        [JSON.stringify(rows)],
      );
      return { rows, ageMs: 0 };
    });
  }

  /**
   * Every database-backed gauge in one round trip (a scan of tasks: run through `snapshot`). Task
   * types are user-chosen, so only the `maxTypes` most numerous keep their own label; the rest
   * are summed under `other`, which bounds the series a scrape returns.
   */
  async gauges(manager: EntityManager, maxTypes: number): Promise<GaugeRow[]> {
    return manager.query<GaugeRow[]>(
      `WITH counted AS (SELECT status, type, count(*) AS n FROM tasks GROUP BY status, type),
            top_types AS (SELECT type FROM counted GROUP BY type ORDER BY sum(n) DESC, type LIMIT $1),
            task_rows AS (
              SELECT status, CASE WHEN type IN (SELECT type FROM top_types) THEN type ELSE $2 END AS type, sum(n) AS n
                FROM counted GROUP BY 1, 2)
       SELECT 'task' AS kind, status, type, n::text AS n FROM task_rows
       UNION ALL SELECT 'agent', status, NULL, count(*)::text FROM agents GROUP BY status
       UNION ALL SELECT 'locks', NULL, NULL, count(*)::text FROM file_locks
                 WHERE released_at IS NULL AND expires_at > clock_timestamp()
       UNION ALL SELECT 'head', NULL, NULL, last_seq::text FROM events_head WHERE id = 1`,
      [maxTypes, OTHER_TYPES],
    );
  }
}
