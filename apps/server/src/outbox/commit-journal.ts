import type { EntityManager } from 'typeorm';
import { escapeLiteral } from 'pg';
import { setCommitStatement } from '../../../../libs/database/src';
import type { UnsequencedEvent } from '../../../../libs/contracts/src';
import type { ChainedFields } from '../audit/audit-chain';

/**
 * Everything a transaction must write at commit time — audit rows, outbox events, notifications —
 * collected while it runs and written by ONE statement sent in the same round trip as COMMIT.
 *
 * Why: the audit chain tip and the event sequence are global row locks held until commit (that
 * is what makes the chain and `seq` follow commit order). A round trip taken while holding them
 * waits for this process's event loop, and every other writer waits behind it (measured: most of
 * the claim benchmark's lock waits were behind transactions idle between this statement and
 * their COMMIT). So they are taken last, together, in a fixed order (chain, then sequence), and
 * the COMMIT travels with them (setCommitStatement): the locks are held only while PostgreSQL
 * runs the statement and flushes the commit. Notifications ride along: NOTIFY is delivered at
 * commit anyway. The statement goes over the simple-query protocol, so values are inlined as
 * escaped literals (pg's escapeLiteral) instead of bound parameters.
 */
export type Channel = 'am_tasks_ready' | 'am_locks_released' | 'am_events';

export interface JournalAuditRow {
  fields: ChainedFields;
  canonical: string;
}

export interface JournalEvent {
  event: UnsequencedEvent;
  agentId: string | null;
  agentOwner: string | null;
}

interface Journal {
  audit: JournalAuditRow[];
  events: JournalEvent[];
  notify: Map<Channel, string | null>;
}

const journals = new WeakMap<EntityManager, Journal>();

function journalFor(manager: EntityManager): Journal {
  let journal = journals.get(manager);
  if (!journal) {
    journal = { audit: [], events: [], notify: new Map() };
    journals.set(manager, journal);
    // Throws outside inTransaction(): these writes must share the change's transaction.
    setCommitStatement(manager, () => flushStatement(manager));
  }
  return journal;
}

export function journalAudit(manager: EntityManager, entries: JournalAuditRow[]): void {
  journalFor(manager).audit.push(...entries);
}

export function journalEvent(manager: EntityManager, entry: JournalEvent): void {
  const journal = journalFor(manager);
  journal.events.push(entry);
  journal.notify.set('am_events', null); // payload: the last seq, filled in by the flush
}

/** A NOTIFY sent when the transaction commits (several on one channel collapse into one). */
export function journalNotify(manager: EntityManager, channel: Channel, payload = ''): void {
  const journal = journalFor(manager);
  if (!journal.notify.has(channel)) journal.notify.set(channel, payload);
}

// One fixed statement whatever the journal holds (empty arrays skip their part, and a head row
// is locked only when its part has rows).
const FLUSH_SQL = `WITH RECURSIVE
  a_in AS (
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[], $13::text[])
             WITH ORDINALITY AS x(id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                                  outcome, ip, user_agent, request_id, details, canonical, ord)
  ),
  a_head AS (
    SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1 AND cardinality($1::uuid[]) > 0 FOR UPDATE
  ),
  a_chain AS (
    SELECT i.ord, h.last_seq + 1 AS seq, h.last_hash AS prev_hash,
           encode(sha256(convert_to(h.last_hash || '|' || (h.last_seq + 1)::text || '|' || i.canonical, 'UTF8')), 'hex') AS hash
      FROM a_head h JOIN a_in i ON i.ord = 1
    UNION ALL
    SELECT i.ord, c.seq + 1, c.hash,
           encode(sha256(convert_to(c.hash || '|' || (c.seq + 1)::text || '|' || i.canonical, 'UTF8')), 'hex')
      FROM a_chain c JOIN a_in i ON i.ord = c.ord + 1
  ),
  a_ins AS (
    INSERT INTO audit_events (seq, id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                              outcome, ip, user_agent, request_id, details, prev_hash, hash)
    SELECT c.seq, i.id, i.occurred_at, i.actor_type, i.actor_id, i.action, i.resource_type, i.resource_id,
           i.outcome, i.ip, i.user_agent, i.request_id, i.details, c.prev_hash, c.hash
      FROM a_chain c JOIN a_in i ON i.ord = c.ord
    RETURNING seq, hash
  ),
  a_tip AS (SELECT seq, hash FROM a_ins ORDER BY seq DESC LIMIT 1),
  a_upd AS (
    UPDATE audit_chain_head h SET last_seq = a_tip.seq, last_hash = a_tip.hash FROM a_tip WHERE h.id = 1 RETURNING h.last_seq
  ),
  e_in AS (
    SELECT * FROM unnest($14::text[], $15::jsonb[], $16::uuid[], $17::text[]) WITH ORDINALITY AS x(type, payload, agent_id, agent_owner, ord)
  ),
  e_head AS (
    SELECT last_seq FROM events_head WHERE id = 1 AND cardinality($14::text[]) > 0 FOR UPDATE
  ),
  e_ins AS (
    INSERT INTO events (seq, type, payload, agent_id, agent_owner)
    SELECT e_head.last_seq + e_in.ord, e_in.type, e_in.payload, e_in.agent_id, e_in.agent_owner FROM e_head, e_in
    RETURNING seq
  ),
  e_upd AS (
    UPDATE events_head SET last_seq = (SELECT max(seq) FROM e_ins) WHERE id = 1 AND EXISTS (SELECT 1 FROM e_ins) RETURNING last_seq
  )
SELECT (SELECT last_seq::text FROM a_upd) AS audit_tip,
       (SELECT last_seq::text FROM e_upd) AS event_tip,
       (SELECT count(pg_notify(n.channel, COALESCE(n.payload, (SELECT last_seq::text FROM e_upd), '')))
          FROM unnest($18::text[], $19::text[]) AS n(channel, payload)) AS notified`;

/** One SQL literal: NULL, or the value's text escaped; arrays become `ARRAY[...]::text[]` (cast on by the statement). */
function literal(value: unknown): string {
  if (Array.isArray(value)) return `(ARRAY[${value.map(literal).join(',')}]::text[])`;
  if (value === null || value === undefined) return 'NULL';
  if (value instanceof Date) return escapeLiteral(value.toISOString());
  if (typeof value === 'string' || typeof value === 'number') return escapeLiteral(String(value));
  throw new TypeError(`cannot inline a ${typeof value} into the commit statement`);
}

/** The journal as one self-contained statement, or nothing when there is nothing to write. */
function flushStatement(manager: EntityManager): string | undefined {
  const journal = journals.get(manager);
  journals.delete(manager);
  if (!journal || (!journal.audit.length && !journal.events.length && !journal.notify.size)) return undefined;
  const a = journal.audit;
  const col = <K extends keyof ChainedFields>(k: K) => a.map((r) => r.fields[k]);
  const params: unknown[][] = [
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
    a.map((r) => JSON.stringify(r.fields.details)),
    a.map((r) => r.canonical),
    journal.events.map((e) => e.event.type),
    journal.events.map((e) => JSON.stringify(e.event)),
    journal.events.map((e) => e.agentId),
    journal.events.map((e) => e.agentOwner),
    [...journal.notify.keys()],
    [...journal.notify.values()],
  ];
  return FLUSH_SQL.replace(/\$(\d+)/g, (_, n: string) => literal(params[Number(n) - 1]));
}
