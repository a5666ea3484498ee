import { escapeLiteral } from 'pg';
import type { EntityManager } from 'typeorm';
import type { UnsequencedEvent } from '@agentmanager/contracts';
import { onCommitted, setCommitStatement } from '@agentmanager/database';
import { type Channel,signalCommitted } from '../database/commit-signals';
import type { ChainedFields } from './audit-chain';

/**
 * The one door for what a transaction does at commit time: its audit rows and outbox events
 * (journalAudit, journalEvent), the notifications it signals (journalNotify), and in-process
 * follow-ups once it has committed (journalAfterCommit). Only this file uses the low-level hooks
 * of libs/database (setCommitStatement, onCommitted); a lint rule keeps it so.
 *
 * Everything a transaction must write at commit time — audit rows and outbox events — collected
 * while it runs and written by ONE statement sent in the same round trip as COMMIT.
 *
 * The rows go to staging tables (audit_pending, events_pending) as plain inserts, under one
 * commit ticket drawn from a sequence: no shared row lock, so writers never queue on each other.
 * The sealer (sealer.service.ts) chains and numbers them right after commit. Notifications are
 * not sent from here either: NOTIFY takes a database-wide lock at commit, held through the WAL
 * flush, which would serialise every writer again. They are signalled after COMMIT instead
 * (onCommitted → CommitSignals), coalesced per instance.
 *
 * The statement goes over the simple-query protocol, so values are inlined as escaped literals
 * (pg's escapeLiteral) instead of bound parameters.
 */
export interface JournalEvent {
  event: UnsequencedEvent;
  agentId: string | null;
  agentOwner: string | null;
}

interface Journal {
  audit: ChainedFields[];
  events: JournalEvent[];
  notify: Set<Channel>;
  afterCommit: (() => void)[];
}

const journals = new WeakMap<EntityManager, Journal>();

function journalFor(manager: EntityManager): Journal {
  let journal = journals.get(manager);
  if (!journal) {
    journal = { audit: [], events: [], notify: new Set(), afterCommit: [] };
    journals.set(manager, journal);
    const done = journal;
    // Both throw outside inTransaction(): these writes must share the change's transaction.
    setCommitStatement(manager, () => flushStatement(done));
    onCommitted(manager, () => {
      if (done.notify.size) signalCommitted(manager.dataSource, done.notify);
      for (const fn of done.afterCommit) fn();
    });
  }
  return journal;
}

export function journalAudit(manager: EntityManager, rows: ChainedFields[]): void {
  const journal = journalFor(manager);
  journal.audit.push(...rows);
  journal.notify.add('am_pending');
}

export function journalEvent(manager: EntityManager, entry: JournalEvent): void {
  const journal = journalFor(manager);
  journal.events.push(entry);
  journal.notify.add('am_pending');
}

/** A notification signalled once the transaction commits (several on one channel collapse into one). */
export function journalNotify(manager: EntityManager, channel: Channel): void {
  journalFor(manager).notify.add(channel);
}

/** Any change to users, roles or API keys: once it commits, every instance drops its cached principals (am_auth). */
export function revokeCachedPrincipals(manager: EntityManager): void {
  journalNotify(manager, 'am_auth');
}

/** Runs `fn` in-process once the transaction has committed (not on rollback, nor on an attempt that is retried). */
export function journalAfterCommit(manager: EntityManager, fn: () => void): void {
  journalFor(manager).afterCommit.push(fn);
}

// One fixed call whatever the journal holds (migration StageJournalFunction): the function draws
// the ticket only when there are rows, keeps its inserts' plans for the session, and stamps an
// event's `timestamp` with the commit statement's clock, the moment closest to its commit.
const FLUSH_SQL = `SELECT am_stage_journal($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
  $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[], $13::text[], $14::jsonb[], $15::uuid[], $16::text[])`;

/** One SQL literal: NULL, or the value's text escaped; arrays become `ARRAY[...]::text[]` (cast on by the statement). */
function literal(value: unknown): string {
  if (Array.isArray(value)) return `(ARRAY[${value.map(literal).join(',')}]::text[])`;
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string' || typeof value === 'number') return escapeLiteral(String(value));
  throw new TypeError(`cannot inline a ${typeof value} into the commit statement`);
}

/** The journal as one self-contained statement, or nothing when there are no rows to stage. */
function flushStatement(journal: Journal): string | undefined {
  if (!journal.audit.length && !journal.events.length) return undefined;
  const a = journal.audit;
  const col = <K extends keyof ChainedFields>(k: K) => a.map((r) => r[k]);
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
    a.map((r) => JSON.stringify(r.details)),
    journal.events.map((e) => e.event.type),
    journal.events.map((e) => JSON.stringify(e.event)),
    journal.events.map((e) => e.agentId),
    journal.events.map((e) => e.agentOwner),
  ];
  return FLUSH_SQL.replace(/\$(\d+)/g, (_, n: string) => literal(params[Number(n) - 1]));
}
