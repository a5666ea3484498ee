import { Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Client, type QueryResult } from 'pg';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { canonicalRow, chainHash, fieldsOf, type ChainedColumns } from './audit-chain';
import { InjectLogger } from '../common/logger.module';
import { SingleFlight } from '../common/single-flight';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from '../metrics/metrics.service';
import { backendPid, PgListener, waitForWake } from '../notifications/pg-listener.service';

/** Session advisory lock held by the instance that seals; any instance may take it over. */
export const SEALER_LOCK_KEY = 7_316_201;
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
 * One instance seals at a time: the one holding a session advisory lock on its own connection.
 * If it dies, PostgreSQL drops the lock with the connection, and another instance takes it at
 * its next try (every POLL_MS). The heads' row locks make even two sealers safe.
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
export class Sealer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private client: Client | undefined;
  private connecting: Promise<Client | undefined> | undefined;
  private leading = false;
  private readonly seals = new SingleFlight(() => this.drain());
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
    private readonly listener: PgListener,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.listener.on('am_pending', () => void this.pump());
    this.timer = setInterval(() => void this.tick(), POLL_MS);
    this.timer.unref();
    void this.tick();
  }

  /** Before the database closes: stop, finish a seal under way, and let go of the lead. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.seals.inFlight;
    await this.dropConnection();
  }

  /** True while this instance holds the sealer lock. */
  get isLeader(): boolean {
    return this.leading;
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

  /** Seals until nothing is left; single-flight, so batches never interleave within an instance. */
  pump(): Promise<void> {
    if (!this.leading || this.stopped) return Promise.resolve();
    return this.seals.run();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    if (!this.leading) await this.tryLead();
    await this.pump();
  }

  private async tryLead(): Promise<void> {
    try {
      const client = await this.connection();
      if (!client || this.stopped) return;
      const [{ ok }] = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [SEALER_LOCK_KEY])).rows;
      if (!ok) return;
      this.leading = true;
      this.metrics.sealerLeader.set(1);
      this.listener.setLocalOnly('am_pending', true);
      this.logger.info('this instance seals audit rows and events');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not try for the sealer lock; will retry');
      await this.dropConnection();
    }
  }

  private async drain(): Promise<void> {
    try {
      let sealed = BATCH;
      while (sealed === BATCH && this.leading && !this.stopped) sealed = await this.sealOnce();
    } catch (err) {
      // The transaction rolled back: nothing was sealed. Lose the lead (and the connection) so
      // a healthy instance can take over; this one tries again at its next tick.
      this.logger.warn({ err: (err as Error).message }, 'sealing failed; will retry');
      await this.dropConnection();
    }
  }

  /** One seal transaction; returns the larger of the two batch sizes. */
  private async sealOnce(): Promise<number> {
    const client = this.client;
    if (!client) return 0;
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

  /** The sealer's own session (the advisory lock lives and dies with it). */
  private connection(): Promise<Client | undefined> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const options = this.dataSource.options as { url?: string };
      const client = new Client({
        connectionString: options.url,
        application_name: 'agentmanager-sealer',
        statement_timeout: this.config.dbStatementTimeoutMs,
      });
      client.on('error', (err) => {
        this.logger.warn({ err: err.message }, 'the sealer connection failed');
        void this.dropConnection();
      });
      try {
        await client.connect();
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      // Its NOTIFYs are delivered in-process by signal() above.
      this.listener.ignoreBackend(backendPid(client), true);
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async dropConnection(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (this.leading) {
      this.leading = false;
      this.metrics.sealerLeader.set(0);
      this.listener.setLocalOnly('am_pending', false);
    }
    if (!client) return;
    this.listener.ignoreBackend(backendPid(client), false);
    await client.end().catch(() => undefined);
  }
}
