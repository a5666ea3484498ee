import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { ChainedColumns } from '../outbox/audit-chain';

export interface AuditRow extends ChainedColumns {
  seq: string;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export interface AuditFilter {
  actorId?: string;
  action?: string;
  resourceType?: string;
  resourceId?: string;
  outcome?: string;
  from?: Date;
  to?: Date;
}

// `seq` is read as text (bigint exceeds a JS number's exact range), so ORDER BY must name the
// table's column, `audit_events.seq`: a bare `seq` would sort the text alias (1, 10, 2, ...).
const COLUMNS = `seq::text AS seq, id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
  outcome, ip, user_agent, request_id, details, prev_hash, hash`;

function where(filter: AuditFilter, params: unknown[]): string[] {
  const clauses: string[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    clauses.push(sql.replace('?', `$${params.length}`));
  };
  if (filter.actorId) add('actor_id = ?', filter.actorId);
  if (filter.action) add('action = ?', filter.action);
  if (filter.resourceType) add('resource_type = ?', filter.resourceType);
  if (filter.resourceId) add('resource_id = ?', filter.resourceId);
  if (filter.outcome) add('outcome = ?', filter.outcome);
  if (filter.from) add('occurred_at >= ?', filter.from);
  if (filter.to) add('occurred_at < ?', filter.to);
  return clauses;
}

@Injectable()
export class AuditRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Newest first; `beforeSeq` is the keyset cursor. */
  async list(filter: AuditFilter, limit: number, beforeSeq?: string): Promise<AuditRow[]> {
    const params: unknown[] = [];
    const clauses = where(filter, params);
    if (beforeSeq) {
      params.push(beforeSeq);
      clauses.push(`seq < $${params.length}`);
    }
    params.push(limit);
    return await this.dataSource.query<AuditRow[]>(
      `SELECT ${COLUMNS} FROM audit_events ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
       ORDER BY audit_events.seq DESC LIMIT $${params.length}`,
      params,
    );
  }

  /** The chain's recorded tip, and how many staged rows wait for the sealer. */
  async head(): Promise<{ last_seq: string; last_hash: string; unsealed: number }> {
    const [head] = await this.dataSource.query<{ last_seq: string; last_hash: string; unsealed: number }[]>(
      `SELECT last_seq::text AS last_seq, last_hash, (SELECT count(*)::int FROM audit_pending) AS unsealed
         FROM audit_chain_head WHERE id = 1`,
    );
    return head;
  }

  /** The hash of the sealed row at `seq`, if there is one. */
  async hashAt(seq: number): Promise<string | undefined> {
    const [row] = await this.dataSource.query<{ hash: string }[]>('SELECT hash FROM audit_events WHERE seq = $1', [seq]);
    return row?.hash;
  }

  /** Oldest first, in batches, for verification and export; `untilSeq` bounds it (inclusive). */
  async *scan(filter: AuditFilter = {}, untilSeq?: string, batchSize = 1000): AsyncGenerator<AuditRow> {
    let after = '0';
    for (;;) {
      const params: unknown[] = [];
      const clauses = where(filter, params);
      params.push(after);
      clauses.push(`seq > $${params.length}`);
      if (untilSeq !== undefined) {
        params.push(untilSeq);
        clauses.push(`seq <= $${params.length}`);
      }
      params.push(batchSize);
      const rows = await this.dataSource.query<AuditRow[]>(
        `SELECT ${COLUMNS} FROM audit_events WHERE ${clauses.join(' AND ')} ORDER BY audit_events.seq ASC LIMIT $${params.length}`,
        params,
      );
      for (const row of rows) yield row;
      if (rows.length < batchSize) return;
      after = rows[rows.length - 1].seq;
    }
  }
}
