import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { ChainedFields } from './audit-chain';

export interface AuditRow {
  seq: string;
  id: string;
  occurred_at: Date;
  actor_type: string;
  actor_id: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: string;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
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

  /**
   * Appends one row in the caller's transaction. The head row's lock (held until commit) makes
   * appends take turns, so each row links to the one committed before it and `seq` has no gaps.
   * The database computes the hash from the tip it locked; `canonical` is the row's fixed form.
   */
  async append(manager: EntityManager, f: ChainedFields, canonical: string): Promise<string> {
    const rows = await manager.query<{ seq: string }[]>(
      `WITH head AS (
         SELECT last_seq + 1 AS seq, last_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE
       ), ins AS (
         INSERT INTO audit_events (seq, id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                                   outcome, ip, user_agent, request_id, details, prev_hash, hash)
         SELECT head.seq, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, head.last_hash,
                encode(sha256(convert_to(head.last_hash || '|' || head.seq::text || '|' || $13, 'UTF8')), 'hex')
         FROM head
         RETURNING seq, hash
       )
       UPDATE audit_chain_head h SET last_seq = ins.seq, last_hash = ins.hash FROM ins WHERE h.id = 1
       RETURNING ins.seq::text AS seq`,
      [
        f.id,
        f.occurredAt,
        f.actorType,
        f.actorId,
        f.action,
        f.resourceType,
        f.resourceId,
        f.outcome,
        f.ip,
        f.userAgent,
        f.requestId,
        JSON.stringify(f.details),
        canonical,
      ],
    );
    return rows[0].seq;
  }

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
       ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    );
  }

  /** Oldest first, in batches, for verification and export. */
  async *scan(filter: AuditFilter = {}, batchSize = 1000): AsyncGenerator<AuditRow> {
    let after = '0';
    for (;;) {
      const params: unknown[] = [];
      const clauses = where(filter, params);
      params.push(after);
      clauses.push(`seq > $${params.length}`);
      params.push(batchSize);
      const rows = await this.dataSource.query<AuditRow[]>(
        `SELECT ${COLUMNS} FROM audit_events WHERE ${clauses.join(' AND ')} ORDER BY seq ASC LIMIT $${params.length}`,
        params,
      );
      for (const row of rows) yield row;
      if (rows.length < batchSize) return;
      after = rows[rows.length - 1].seq;
    }
  }
}
