import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Client, QueryResult } from 'pg';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { InjectLogger } from '../common/logger.module';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { backendPid, PgListener, waitForWake } from '../database/pg-listener.service';
import { MetricsService } from '../metrics/metrics.service';
import { JOB_LOCKS } from '../scheduler/job-locks';
import type { Lead } from '../scheduler/scheduled-job';
import { Scheduler } from '../scheduler/scheduler.service';
import { canonicalRow, type ChainedColumns,chainHash, fieldsOf } from './audit-chain';

/** Rows sealed per transaction (per table). */
const BATCH = 1000;
/** The leader seals at least this often without a wake-up; the others try to lead this often. */
const POLL_MS = 200;
/** How long a read waits for the rows committed before it to be sealed. */
const SETTLE_TIMEOUT_MS = 5000;

interface Head {
  last_seq: string;
  last_hash: string;
}
interface PendingAudit extends ChainedColumns {
  ticket: string;
  ord: number;
  lag: number;
}
interface PendingEvent {
  ticket: string;
  ord: number;
  lag: number;
}

// Heads first (their row locks make a second sealer wait, then see the rows this one moved), then
// the oldest tickets of each staging table. One round trip; each statement sees what has committed.
// ORDER BY names the table's columns: a bare `ticket` would sort the text alias ('10' < '9').
const READ_SQL = `BEGIN;
SELECT last_seq::text AS last_seq, last_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE;
SELECT last_seq::text AS last_seq, '' AS last_hash FROM events_head WHERE id = 1 FOR UPDATE;
SELECT ticket::text AS ticket, ord, id, occurred_at, actor_type, actor_id, action, resource_type, resource_id, outcome,
       ip, user_agent, request_id, details, extract(epoch FROM clock_timestamp() - committed_at)::float8 AS lag
  FROM audit_pending ORDER BY audit_pending.ticket, audit_pending.ord LIMIT ${BATCH};
SELECT ticket::text AS ticket, ord, extract(epoch FROM clock_timestamp() - committed_at)::float8 AS lag
  FROM events_pending ORDER BY events_pending.ticket, events_pending.ord LIMIT ${BATCH};`;

// Moves the staged rows to the sealed tables with the numbers computed here, advances the heads,
// and wakes every instance's relay (the NOTIFY is sent when this transaction commits).
const WRITE_SQL = `WITH
  a AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::text[]) AS x(ticket, ord, seq, prev_hash, hash)),
  a_moved AS (
    DELETE FROM audit_pending p USING a WHERE p.ticket = a.ticket AND p.ord = a.ord
    RETURNING a.seq, p.id, p.occurred_at, p.actor_type, p.actor_id, p.action, p.resource_type, p.resource_id,
              p.outcome, p.ip, p.user_agent, p.request_id, p.details, a.prev_hash, a.hash
  ),
  a_ins AS (
    INSERT INTO audit_events (seq, id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                              outcome, ip, user_agent, request_id, details, prev_hash, hash)
    SELECT * FROM a_moved RETURNING 1
  ),
  a_head AS (UPDATE audit_chain_head SET last_seq = $6, last_hash = $7 WHERE id = 1 AND $6::bigint IS NOT NULL RETURNING 1),
  e AS (SELECT * FROM unnest($8::bigint[], $9::int[], $10::bigint[]) AS x(ticket, ord, seq)),
  e_moved AS (
    DELETE FROM events_pending p USING e WHERE p.ticket = e.ticket AND p.ord = e.ord
    RETURNING e.seq, p.type, p.payload, p.agent_id, p.agent_owner
  ),
  e_ins AS (
    INSERT INTO events (seq, type, payload, agent_id, agent_owner, sealed_at)
    SELECT seq, type, payload, agent_id, agent_owner, clock_timestamp() FROM e_moved RETURNING 1
  ),
  e_head AS (UPDATE events_head SET last_seq = $11 WHERE id = 1 AND $11::bigint IS NOT NULL RETURNING 1)
SELECT (SELECT count(*) FROM a_ins)::int AS audit, (SELECT count(*) FROM e_ins)::int AS events,
       (SELECT count(*) FROM a_head)::int + (SELECT count(*) FROM e_head)::int AS heads,
       pg_notify('am_events', COALESCE($11::text, ''))`;

/**
 * Seals what committed changes staged: gives audit rows their chain (`seq`, `prev_hash`, `hash`)
 * and events their gapless `seq`, moving them from audit_pending / events_pending to
 * audit_events / events in one short transaction, then wakes the relays.
 *
 * One instance seals at a time: a leader job of the scheduler, holding a session advisory lock on
 * its own connection. If it dies, PostgreSQL drops the lock with the connection, and another
 * instance takes it at its next try (every POLL_MS). The heads' row locks make even two sealers safe.
 *
 * Order: rows are sealed in commit-ticket order (drawn in each change's commit statement), and
 * only rows whose transaction has committed are visible to the sealer. If change B saw change A's
 * commit (read it, or waited for its row lock), A committed before B drew its ticket, so A is
 * visible whenever B is, and sorts first: causal order is kept. Transaction ids would not keep
 * it — a transaction gets its id at its first write, possibly before it waits for A — and a
 * "below the oldest running xid" line would let any long transaction on the cluster hold every
 * event back. A change still in flight may draw a smaller ticket than rows sealed before it
 * commits; it gets a larger seq, and nothing sealed earlier can depend on it.
 */
@Injectable()
export class Sealer implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
    private readonly listener: PgListener,
    private readonly metrics: MetricsService,
    private readonly scheduler: Scheduler,
  ) {}

  /** A leader job: seals on each am_pending while leading, and at least every POLL_MS. */
  onModuleInit(): void {
    this.scheduler.register({
      kind: 'leader',
      name: 'sealer',
      intervalMs: POLL_MS,
      lockKey: JOB_LOCKS.sealer,
      applicationName: 'agentmanager-sealer',
      statementTimeoutMs: this.config.dbStatementTimeoutMs,
      wake: 'am_pending',
      run: (lead) => this.drain(lead),
      onLeadChange: (leading, client) => this.leadChanged(leading, client),
    });
  }

  /**
   * Resolves once every row committed before the call is sealed (or after SETTLE_TIMEOUT_MS), so
   * a client reading the audit trail or replaying events sees its own changes.
   */
  async settle(): Promise<void> {
    const [{ ticket }] = await this.dataSource.query<{ ticket: string | null }[]>(
      `SELECT GREATEST((SELECT max(ticket) FROM audit_pending), (SELECT max(ticket) FROM events_pending))::text AS ticket`,
    );
    if (ticket === null) return;
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    for (;;) {
      const [{ waiting }] = await this.dataSource.query<{ waiting: boolean }[]>(
        `SELECT EXISTS (SELECT 1 FROM audit_pending WHERE ticket <= $1) OR EXISTS (SELECT 1 FROM events_pending WHERE ticket <= $1) AS waiting`,
        [ticket],
      );
      if (!waiting || Date.now() >= deadline) return;
      this.listener.signal(['am_pending']);
      await waitForWake(this.listener, 'am_events', 50);
    }
  }

  /** Seals until nothing is left (the scheduler runs it single-flight, so batches never interleave). */
  private async drain(lead: Lead): Promise<void> {
    let sealed = BATCH;
    while (sealed === BATCH && lead.isActive()) sealed = await this.sealOnce(lead.client);
  }

  private leadChanged(leading: boolean, client: Client): void {
    this.metrics.sealerLeader.set(leading ? 1 : 0);
    this.listener.setLocalOnly('am_pending', leading);
    // Its NOTIFYs are delivered in-process by sealOnce().
    this.listener.ignoreBackend(backendPid(client), leading);
    if (leading) this.logger.info('this instance seals audit rows and events');
  }

  /** One seal transaction; returns the larger of the two batch sizes. */
  private async sealOnce(client: Client): Promise<number> {
    const results = (await client.query(READ_SQL)) as unknown as QueryResult[];
    const [auditHead] = results[1].rows as Head[];
    const [eventsHead] = results[2].rows as Head[];
    const audit = results[3].rows as PendingAudit[];
    const events = results[4].rows as PendingEvent[];
    if (!audit.length && !events.length) {
      await client.query('COMMIT');
      return 0;
    }
    let seq = BigInt(auditHead.last_seq);
    let prev = auditHead.last_hash;
    const chain = audit.map((row) => {
      seq += 1n;
      const hash = chainHash(prev, seq.toString(), canonicalRow(fieldsOf(row)));
      const link = { seq: seq.toString(), prev_hash: prev, hash };
      prev = hash;
      return link;
    });
    const eventBase = BigInt(eventsHead.last_seq);
    const eventSeqs = events.map((_, i) => (eventBase + BigInt(i + 1)).toString());
    try {
      // Named: planned once for the sealer's session (planning the moves cost as much as running them).
      const values = [
        audit.map((r) => r.ticket),
        audit.map((r) => r.ord),
        chain.map((c) => c.seq),
        chain.map((c) => c.prev_hash),
        chain.map((c) => c.hash),
        chain.length ? chain[chain.length - 1].seq : null,
        chain.length ? chain[chain.length - 1].hash : null,
        events.map((r) => r.ticket),
        events.map((r) => r.ord),
        eventSeqs,
        eventSeqs.length ? eventSeqs[eventSeqs.length - 1] : null,
      ];
      const written = await client.query<{ audit: number; events: number }>({ name: 'sealer.write', text: WRITE_SQL, values });
      const { audit: movedAudit, events: movedEvents } = written.rows[0];
      // Only this transaction deletes staged rows, under the heads' locks: a mismatch is a bug.
      if (movedAudit !== audit.length || movedEvents !== events.length) {
        throw new Error(`sealed ${movedAudit}/${audit.length} audit rows and ${movedEvents}/${events.length} events`);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    for (const row of audit) this.metrics.sealLag.observe({ kind: 'audit' }, row.lag);
    for (const row of events) this.metrics.sealLag.observe({ kind: 'event' }, row.lag);
    // Local relays and settle() now; other instances hear the NOTIFY sent at COMMIT.
    this.listener.wakeLocal('am_events');
    return Math.max(audit.length, events.length);
  }
}
