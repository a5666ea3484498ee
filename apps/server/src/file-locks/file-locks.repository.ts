import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '@agentmanager/database';
import { fromKey, type LockPath,overlapSearch, topSegment } from '../common/lock-path';
import type { LockHolderType, LockReleaseReason } from './file-lock.entity';
import { type LockAccess, locksConflict, type LockScope } from './lock-compatibility';

export interface LockHolder {
  type: LockHolderType;
  id: string;
}

export interface LockRow {
  id: string;
  path: string;
  access: LockAccess;
  holder_type: LockHolderType;
  holder_id: string;
  task_id: string | null;
  /** bigint, read as text. */
  fencing_token: string;
  ttl_sec: number;
  acquired_at: Date;
  expires_at: Date;
}

/** A released row, with when and why its hold ended. */
export interface ReleasedLockRow extends LockRow {
  released_at: Date;
  release_reason: LockReleaseReason;
}

const COLUMNS = `l.id, l.path, l.access, l.holder_type, l.holder_id, l.task_id, l.fencing_token::text AS fencing_token,
  l.ttl_sec, l.acquired_at, l.expires_at`;
const RETURNING = `id, path, access, holder_type, holder_id, task_id, fencing_token::text AS fencing_token,
  ttl_sec, acquired_at, expires_at, released_at, release_reason`;

/** Live: not released and not expired by the database clock (an expired lock stops counting at once). */
const LIVE = 'l.released_at IS NULL AND l.expires_at > clock_timestamp()';

/**
 * Advisory-lock namespaces (the two-int form, so they cannot collide with single-bigint keys used
 * elsewhere). SEGMENT: one key per top path segment; HOLDER: one key per lock holder (the cap).
 */
const NS_SEGMENT = 7_316_101;
const NS_HOLDER = 7_316_102;

function int32Key(text: string): number {
  return createHash('sha256').update(text).digest().readInt32BE(0);
}

export type AcquireOutcome =
  | { ok: true; locks: LockRow[] }
  | { ok: false; reason: 'conflict'; conflicts: LockRow[] }
  /** A path was being locked by another transaction and this one could not wait (see takePathLocks). */
  | { ok: false; reason: 'busy'; conflicts: [] }
  | { ok: false; reason: 'cap'; conflicts: []; active: number; soonestExpiry: Date | null };

/**
 * Transactions (their query runners) that already hold path advisory locks. A second acquisition
 * in the same transaction must not wait: it could wait for a transaction that waits for us.
 */
const holdingPathLocks = new WeakSet<object>();

@Injectable()
export class FileLocksRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Race freedom. Two overlapping lock paths always share their first segment, so every
   * transaction that could create a conflict on a path (acquire, renew) first takes a
   * transaction-scoped advisory lock on the hash of that segment, in ascending key order
   * (no lock-order deadlocks), after the holder's key (so the per-holder cap is exact too).
   * The conflict check then runs in a later statement: under READ COMMITTED it sees every lock
   * committed by whoever held the segment before. Advisory locks live in the one database,
   * so this holds across server instances.
   *
   * `wait`: block until granted (safe when this transaction holds no path locks yet); otherwise
   * only try, and report false if any key is taken. Rejects any isolation level other than READ
   * COMMITTED: with an older snapshot the check could miss a lock committed while we waited.
   */
  private async takePathLocks(manager: EntityManager, holder: LockHolder | null, paths: LockPath[], wait: boolean): Promise<boolean> {
    const runner = manager.queryRunner;
    if (!runner?.isTransactionActive) throw new Error('file locks must be taken inside a transaction');
    const segmentKeys = [...new Set(paths.map((p) => int32Key(`segment:${topSegment(p)}`)))].sort((a, b) => a - b);
    const namespaces = [...(holder ? [NS_HOLDER] : []), ...segmentKeys.map(() => NS_SEGMENT)];
    const keys = [...(holder ? [int32Key(`holder:${holder.type}:${holder.id}`)] : []), ...segmentKeys];
    // pg_advisory_xact_lock returns void once granted; the try form returns whether it was.
    const take = wait ? 'pg_advisory_xact_lock(u.ns, u.k) IS NOT NULL' : 'pg_try_advisory_xact_lock(u.ns, u.k)';
    // Function scans return rows in ordinality order and the ORDER BY pins it: keys are taken in order.
    const result = await manager.query<{ granted: boolean; isolation: string }[]>(
      `SELECT COALESCE(bool_and(granted), true) AS granted, current_setting('transaction_isolation') AS isolation
         FROM (SELECT ${take} AS granted
                 FROM unnest($1::int[], $2::int[]) WITH ORDINALITY AS u(ns, k, i) ORDER BY u.i) taken`,
      [namespaces, keys],
    );
    if (result[0].isolation !== 'read committed') {
      throw new Error(`file locks need a READ COMMITTED transaction, not ${result[0].isolation}`);
    }
    holdingPathLocks.add(runner);
    return result[0].granted;
  }

  /**
   * Takes the locks in `wanted` for `holder` atomically: all of them, or none (every check runs
   * before the one INSERT). Conflicts are the live locks that overlap a wanted path with an
   * incompatible mode, whoever holds them (locks are not re-entrant); the wanted locks are not
   * checked against each other. Must run in a READ COMMITTED transaction.
   */
  async tryAcquire(
    manager: EntityManager,
    holder: LockHolder,
    taskId: string | null,
    wanted: LockScope[],
    ttlSec: number,
    maxPerHolder: number,
  ): Promise<AcquireOutcome> {
    const runner = manager.queryRunner;
    const wait = !runner || !holdingPathLocks.has(runner);
    if (!(await this.takePathLocks(manager, holder, wanted.map((w) => w.path), wait))) {
      return { ok: false, reason: 'busy', conflicts: [] };
    }
    const live = await this.liveOverlapping(manager, wanted.map((w) => w.path));
    const conflicts = live.filter((held) =>
      wanted.some((w) => locksConflict(w, { path: fromKey(held.path), access: held.access })),
    );
    if (conflicts.length > 0) return { ok: false, reason: 'conflict', conflicts };
    const count = await this.countLiveForHolder(manager, holder);
    if (count.active + wanted.length > maxPerHolder) {
      return { ok: false, reason: 'cap', conflicts: [], active: count.active, soonestExpiry: count.soonest };
    }
    const locks = await manager.query<LockRow[]>(
      `INSERT INTO file_locks (path, access, holder_type, holder_id, task_id, fencing_token, ttl_sec, acquired_at, expires_at)
       SELECT w.path, w.access, $3, $4, $5, nextval('file_lock_fencing_seq'), $6::int, n.t, n.t + make_interval(secs => $6::int)
         FROM (SELECT clock_timestamp() AS t) n,
              unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(path, access, i)
        ORDER BY w.i
       RETURNING ${RETURNING}`,
      [wanted.map((w) => w.path.key), wanted.map((w) => w.access), holder.type, holder.id, taskId, ttlSec],
    );
    return { ok: true, locks };
  }

  /** Live locks whose path overlaps any of `paths` (a superset of the conflicts; the caller applies the matrix). */
  private async liveOverlapping(manager: EntityManager, paths: LockPath[]): Promise<LockRow[]> {
    const searches = paths.map(overlapSearch);
    const exact = [...new Set(searches.flatMap((s) => s.exact))];
    const ranges = searches.flatMap((s) => (s.range ? [s.range] : []));
    // Two index probes on the partial index over unreleased rows: equality on the ancestors'
    // directory keys and the name itself, and a byte-order range for everything under a directory.
    return manager.query<LockRow[]>(
      `SELECT ${COLUMNS} FROM file_locks l WHERE ${LIVE} AND l.path = ANY($1::text[])
       UNION
       SELECT ${COLUMNS} FROM file_locks l
         JOIN unnest($2::text[], $3::text[]) AS r(lo, hi) ON l.path >= r.lo COLLATE "C" AND l.path < r.hi COLLATE "C"
        WHERE ${LIVE}`,
      [exact, ranges.map((r) => r.lo), ranges.map((r) => r.hi)],
    );
  }

  async countLiveForHolder(manager: EntityManager, holder: LockHolder): Promise<{ active: number; soonest: Date | null }> {
    const result = await manager.query<{ active: number; soonest: Date | null }[]>(
      `SELECT count(*)::int AS active, min(l.expires_at) AS soonest FROM file_locks l
        WHERE l.holder_type = $1 AND l.holder_id = $2 AND ${LIVE}`,
      [holder.type, holder.id],
    );
    return result[0];
  }

  /** A live lock by id; `forUpdate` row-locks it so a release and a renew of it take turns. */
  async findLive(id: string, manager: EntityManager = this.dataSource.manager, forUpdate = false): Promise<LockRow | undefined> {
    const result = await manager.query<LockRow[]>(
      `SELECT ${COLUMNS} FROM file_locks l WHERE l.id = $1 AND ${LIVE} ${forUpdate ? 'FOR UPDATE' : ''}`,
      [id],
    );
    return result[0];
  }

  /**
   * Extends a live lock to now + `ttlSec`. The path lock comes first, so
   * a renew cannot revive a lock that an acquirer, holding the same path lock, already found
   * expired and replaced: by the time this UPDATE reads the clock, that acquisition has committed
   * and the lock is past its expiry.
   */
  async renew(manager: EntityManager, lock: LockRow, ttlSec: number): Promise<LockRow | undefined> {
    await this.takePathLocks(manager, null, [fromKey(lock.path)], true);
    const result = await rows<LockRow>(
      manager,
      `UPDATE file_locks l SET ttl_sec = $2::int, expires_at = clock_timestamp() + make_interval(secs => $2::int)
        WHERE l.id = $1 AND ${LIVE}
        RETURNING ${RETURNING}`,
      [lock.id, ttlSec],
    );
    return result[0];
  }

  /**
   * Renews every live lock of the given tasks (with their leases). Takes all their path locks in
   * one ordered batch and waits for them: call it at most once per transaction, before any
   * tryAcquire in that transaction. Only locks whose segment was locked here are touched.
   */
  async renewForTasks(manager: EntityManager, taskIds: string[], ttlSec: number): Promise<number> {
    if (taskIds.length === 0) return 0;
    const held = await manager.query<{ path: string }[]>(
      `SELECT DISTINCT l.path FROM file_locks l WHERE l.task_id = ANY($1::uuid[]) AND ${LIVE}`,
      [taskIds],
    );
    if (held.length === 0) return 0;
    const paths = held.map((h) => fromKey(h.path));
    await this.takePathLocks(manager, null, paths, true);
    const tops = [...new Set(paths.map(topSegment))];
    const renewed = await rows<{ id: string }>(
      manager,
      `UPDATE file_locks l SET expires_at = clock_timestamp() + make_interval(secs => $2::int), ttl_sec = $2::int
        WHERE l.task_id = ANY($1::uuid[]) AND ${LIVE} AND split_part(l.path, '/', 1) = ANY($3::text[])
        RETURNING l.id`,
      [taskIds, ttlSec, tops],
    );
    return renewed.length;
  }

  /**
   * Ends holds. `released_at` is when the hold really ended: now, or `expires_at` for a lock that
   * had already lapsed (then the reason becomes 'expired'). Releasing needs no path lock: it only
   * ever makes room.
   */
  async release(manager: EntityManager, ids: string[], reason: LockReleaseReason): Promise<ReleasedLockRow[]> {
    if (ids.length === 0) return [];
    return this.releaseWhere(manager, 'l.id = ANY($2::uuid[])', [ids], reason);
  }

  async releaseForTask(manager: EntityManager, taskId: string, reason: LockReleaseReason): Promise<ReleasedLockRow[]> {
    return this.releaseWhere(manager, 'l.task_id = $2', [taskId], reason);
  }

  async releaseForHolder(manager: EntityManager, holder: LockHolder, reason: LockReleaseReason): Promise<ReleasedLockRow[]> {
    return this.releaseWhere(manager, 'l.holder_type = $2 AND l.holder_id = $3', [holder.type, holder.id], reason);
  }

  private async releaseWhere(manager: EntityManager, where: string, params: unknown[], reason: LockReleaseReason): Promise<ReleasedLockRow[]> {
    return rows<ReleasedLockRow>(
      manager,
      `UPDATE file_locks l
          SET released_at = LEAST(clock_timestamp(), l.expires_at),
              release_reason = CASE WHEN l.expires_at <= clock_timestamp() THEN 'expired' ELSE $1 END
        WHERE l.released_at IS NULL AND ${where}
        RETURNING ${RETURNING}`,
      [reason, ...params],
    );
  }

  /**
   * Stamps up to `limit` lapsed locks as released at their expiry. SKIP LOCKED leaves rows that a
   * release or renew is working on to the next sweep. Nobody waits for this: a lapsed lock
   * already stopped counting when it expired.
   */
  async sweepExpired(manager: EntityManager, limit: number): Promise<ReleasedLockRow[]> {
    return rows<ReleasedLockRow>(
      manager,
      `UPDATE file_locks SET released_at = expires_at, release_reason = 'expired'
        WHERE id IN (SELECT l.id FROM file_locks l
                      WHERE l.released_at IS NULL AND l.expires_at <= clock_timestamp()
                      ORDER BY l.expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING ${RETURNING}`,
      [limit],
    );
  }

  /** Live locks, oldest first, keyset on the fencing token (unique and in acquisition order). */
  async listLive(
    filter: { path?: LockPath; agentId?: string; taskId?: string },
    limit: number,
    afterToken?: string,
  ): Promise<LockRow[]> {
    const params: unknown[] = [];
    const clauses: string[] = [LIVE];
    if (filter.path) {
      const search = overlapSearch(filter.path);
      const exact = `l.path = ANY($${params.push(search.exact)}::text[])`;
      clauses.push(
        search.range
          ? `(${exact} OR (l.path >= $${params.push(search.range.lo)} COLLATE "C" AND l.path < $${params.push(search.range.hi)} COLLATE "C"))`
          : exact,
      );
    }
    if (filter.agentId) clauses.push(`l.holder_type = 'agent' AND l.holder_id = $${params.push(filter.agentId)}`);
    if (filter.taskId) clauses.push(`l.task_id = $${params.push(filter.taskId)}::uuid`);
    if (afterToken !== undefined) clauses.push(`l.fencing_token > $${params.push(afterToken)}::bigint`);
    return this.dataSource.query<LockRow[]>(
      `SELECT ${COLUMNS} FROM file_locks l WHERE ${clauses.join(' AND ')}
        ORDER BY l.fencing_token LIMIT $${params.push(limit)}`,
      params,
    );
  }

  /**
   * The agent's status, with its row share-locked until commit: a concurrent disable or
   * deregistration (which releases the agent's locks) then either sees this lock or makes us
   * see the agent gone. Take it before any path lock (the agent row, then paths: one order).
   */
  async lockAgentForLocking(manager: EntityManager, agentId: string): Promise<string | undefined> {
    const result = await manager.query<{ status: string }[]>('SELECT status FROM agents WHERE id = $1 FOR SHARE', [agentId]);
    return result[0]?.status;
  }

  /**
   * Row-locks the agent before its locks are released as it leaves, so an acquisition holding the
   * agent row (lockAgentForLocking) finishes first and is released with the rest, and a later one
   * waits and then finds the agent gone or disabled.
   */
  async lockAgentRow(manager: EntityManager, agentId: string): Promise<void> {
    await manager.query('SELECT 1 FROM agents WHERE id = $1 FOR UPDATE', [agentId]);
  }

  async taskStatus(manager: EntityManager, taskId: string): Promise<string | undefined> {
    const result = await manager.query<{ status: string }[]>('SELECT status FROM tasks WHERE id = $1', [taskId]);
    return result[0]?.status;
  }
}
