import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '../../../../libs/database/src';
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

  /**
   * Appends rows in the caller's transaction, in one statement. The head row's lock (held until
   * commit) makes appends take turns, so each row links to the one committed before it and `seq`
   * has no gaps. The database chains the hashes from the tip it locked (a recursive CTE walks the
   * new rows in order); `canonical` is each row's fixed form (see audit-chain.ts).
   */
  async append(manager: EntityManager, entries: { fields: ChainedFields; canonical: string }[]): Promise<string[]> {
    const col = <K extends keyof ChainedFields>(k: K) => entries.map((r) => r.fields[k]);
    const result = await rows<{ seqs: string[] }>(manager, 
      `WITH RECURSIVE head AS (
         SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE
       ), input AS (
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[], $13::text[])
                  WITH ORDINALITY AS x(id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                                       outcome, ip, user_agent, request_id, details, canonical, ord)
       ), chain AS (
         SELECT i.ord, h.last_seq + 1 AS seq, h.last_hash AS prev_hash,
                encode(sha256(convert_to(h.last_hash || '|' || (h.last_seq + 1)::text || '|' || i.canonical, 'UTF8')), 'hex') AS hash
           FROM head h JOIN input i ON i.ord = 1
         UNION ALL
         SELECT i.ord, c.seq + 1, c.hash,
                encode(sha256(convert_to(c.hash || '|' || (c.seq + 1)::text || '|' || i.canonical, 'UTF8')), 'hex')
           FROM chain c JOIN input i ON i.ord = c.ord + 1
       ), ins AS (
         INSERT INTO audit_events (seq, id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                                   outcome, ip, user_agent, request_id, details, prev_hash, hash)
         SELECT c.seq, i.id, i.occurred_at, i.actor_type, i.actor_id, i.action, i.resource_type, i.resource_id,
                i.outcome, i.ip, i.user_agent, i.request_id, i.details, c.prev_hash, c.hash
           FROM chain c JOIN input i ON i.ord = c.ord
         RETURNING seq, hash
       ), tip AS (
         SELECT seq, hash FROM ins ORDER BY seq DESC LIMIT 1
       )
       UPDATE audit_chain_head h SET last_seq = tip.seq, last_hash = tip.hash FROM tip WHERE h.id = 1
       RETURNING (SELECT array_agg(seq::text ORDER BY seq) FROM ins) AS seqs`,
      [
        col('id'),
        col('occurredAt'),
        col('actorType'),
        col('actorId'),
        col('action'),
        col('resourceType'),
        col('resourceId'),
        col('outcome'),
        col('ip'),
        col('userAgent'),
        col('requestId'),
        entries.map((r) => JSON.stringify(r.fields.details)),
        entries.map((r) => r.canonical),
      ],
    );
    return result[0].seqs;
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
       ORDER BY audit_events.seq DESC LIMIT $${params.length}`,
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
        `SELECT ${COLUMNS} FROM audit_events WHERE ${clauses.join(' AND ')} ORDER BY audit_events.seq ASC LIMIT $${params.length}`,
        params,
      );
      for (const row of rows) yield row;
      if (rows.length < batchSize) return;
      after = rows[rows.length - 1].seq;
    }
  }
}
