import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

export interface GaugeRow {
  kind: 'task' | 'agent' | 'locks' | 'head';
  status: string | null;
  type: string | null;
  n: string;
}

@Injectable()
export class MetricsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Every database-backed gauge in one round trip. */
  async gauges(): Promise<GaugeRow[]> {
    return this.dataSource.query<GaugeRow[]>(
      `SELECT 'task' AS kind, status, type, count(*)::text AS n FROM tasks GROUP BY status, type
       UNION ALL SELECT 'agent', status, NULL, count(*)::text FROM agents GROUP BY status
       UNION ALL SELECT 'locks', NULL, NULL, count(*)::text FROM file_locks
                 WHERE released_at IS NULL AND expires_at > clock_timestamp()
       UNION ALL SELECT 'head', NULL, NULL, last_seq::text FROM events_head WHERE id = 1`,
    );
  }
}
