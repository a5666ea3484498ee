import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import { grants,Permission } from '../access/permissions';
import { type AuditActor, isAdmin, ownerOf, type Principal,SYSTEM_ACTOR } from '../access/principal';
import type { AgentGoneReason } from '../agents/agent-lifecycle';
import { AgentLifecycle } from '../agents/agent-lifecycle';
import { AgentsRepository } from '../agents/agents.repository';
import { AgentsService } from '../agents/agents.service';
import type { AuditEntry } from '../audit/audit.service';
import { AuditService } from '../audit/audit.service';
import { DomainError, notFound, validationFailed } from '../common/errors';
import { IdempotencyService, type IdempotentRequest } from '../common/idempotency';
import { type LockPath, normalizeLockPath } from '../common/lock-path';
import { decodeCursor, encodeCursor } from '../common/pagination';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { PgListener } from '../database/pg-listener.service';
import { EventsService } from '../events/events.service';
import { JOB_LOCKS } from '../scheduler/job-locks';
import { Scheduler } from '../scheduler/scheduler.service';
import type { AcquireLockDto, ListLocksQueryDto, LockConflictDto, LockDto, LockListDto, RenewLockDto } from './dto/file-lock.dto';
import type { LockReleaseReason } from './file-lock.entity';
import { FileLocksRepository, type LockHolder, type LockRow } from './file-locks.repository';
import { LOCK_ACCESS_MODES, type LockAccess,mergeDependencies } from './lock-compatibility';
import { acquiredEntries, releasedEntries } from './lock-records';
import { type Attempt, NotAcquired, pause, retryDelay } from './lock-wait';

export function toLockDto(row: LockRow): LockDto {
  return {
    id: row.id,
    path: row.path,
    access: row.access,
    holder: { type: row.holder_type, id: row.holder_id },
    task_id: row.task_id,
    fencing_token: Number(row.fencing_token),
    acquired_at: row.acquired_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
  };
}

function toConflict(row: LockRow): LockConflictDto {
  return {
    lock_id: row.id,
    path: row.path,
    access: row.access,
    holder: { type: row.holder_type, id: row.holder_id },
    expires_at: row.expires_at.toISOString(),
  };
}

/** What a claim gets back from acquireForTask. */
export type TaskLockOutcome =
  /** `audit`: the lock.acquire rows; pass them to AuditService.recordMany with the claim's own, last. */
  | { ok: true; locks: LockDto[]; audit: AuditEntry[] }
  /**
   * Nothing was taken. 'conflict': live locks of others are in the way; 'busy': another
   * transaction was locking one of these paths and this claim could not wait (it already holds
   * path locks for an earlier task); 'cap': the agent is at LOCK_MAX_PER_HOLDER.
   */
  | { ok: false; reason: 'conflict' | 'busy' | 'cap'; conflicts: LockConflictDto[] };

/** Lapsed locks stamped released per expired-locks run. */
const SWEEP_BATCH = 500;

@Injectable()
export class FileLocksService implements OnModuleInit {
  /** Open lock waits on this instance, per credential owner (LOCK_MAX_WAITS_PER_PRINCIPAL). */
  private readonly waits = new Map<string, number>();

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly locks: FileLocksRepository,
    private readonly agents: AgentsService,
    private readonly agentRows: AgentsRepository,
    private readonly lifecycle: AgentLifecycle,
    private readonly audit: AuditService,
    private readonly scheduler: Scheduler,
    private readonly events: EventsService,
    private readonly idempotency: IdempotencyService,
    private readonly listener: PgListener,
  ) {}

  onModuleInit(): void {
    this.lifecycle.onAgentGone('file-locks', async (manager, agentId, reason) => {
      await this.releaseAllForAgent(manager, agentId, reason);
    });
    // Expired locks stopped counting at their expiry; this stamps them released and audits it.
    this.scheduler.register({
      kind: 'locked',
      name: 'expired-locks',
      intervalMs: this.config.sweepIntervalMs,
      lockKey: JOB_LOCKS.expiredLocks,
      run: (manager) => this.sweepExpired(manager),
    });
  }

  // ---- REST -------------------------------------------------------------------------------

  /**
   * Takes a lock, or waits up to `wait_seconds` for the conflicting ones to go. Each attempt is its
   * own short transaction, so no connection is held while waiting; between attempts the waiter
   * sleeps until a release commits anywhere (am_locks_released), the first conflicting lock's TTL
   * runs out, or WAIT_FALLBACK_MS passes, whichever is first. A principal may have
   * LOCK_MAX_WAITS_PER_PRINCIPAL waits open on this instance. `signal` aborts the wait when the
   * client goes away. With an Idempotency-Key, a repeated request gets the original lock back
   * (only an acquisition is stored: a conflict or a full holder leaves the key free for the retry).
   */
  async acquire(principal: Principal, body: AcquireLockDto, signal?: AbortSignal, idempotencyKey?: string): Promise<LockDto> {
    const path = normalizeLockPath(body.path);
    const ttlSec = this.checkedTtl(body.ttl_seconds ?? this.config.lockDefaultTtlSec);
    const holder = this.holderFor(principal, body.agent_id);
    const deadline = Date.now() + (body.wait_seconds ?? 0) * 1000;
    const request = { owner: ownerOf(principal), route: 'POST /locks', key: idempotencyKey, body };
    const attempt = () => this.attemptAcquire(principal, body, holder, path, ttlSec, request);
    let outcome = await attempt();
    if (!outcome.ok && outcome.reason !== 'cap' && deadline > Date.now()) outcome = await this.waitAndRetry(principal, deadline, attempt, signal);
    if (outcome.ok) {
      // The client left while this attempt ran: nobody will use or release the lock.
      if (signal?.aborted && !outcome.replayed) await this.releaseAbandoned(outcome.body.id);
      return outcome.body;
    }
    if (outcome.reason === 'cap') {
      const retryAfter = outcome.soonestExpiry ? (outcome.soonestExpiry.getTime() - Date.now()) / 1000 : undefined;
      throw new DomainError(
        'too_many_locks',
        `This holder already has ${outcome.active} live locks; the limit is ${this.config.lockMaxPerHolder}`,
        { limit: this.config.lockMaxPerHolder, active: outcome.active },
        retryAfter,
      );
    }
    if (signal?.aborted) throw new DomainError('lock_conflict', 'The client went away while waiting for the lock');
    throw new DomainError('lock_conflict', `${path.key} is locked by someone else`, { conflicts: outcome.conflicts.map(toConflict) });
  }

  /** One acquisition attempt in its own transaction: the lock, or why not (nothing changed then). */
  private attemptAcquire(principal: Principal, body: AcquireLockDto, holder: LockHolder, path: LockPath, ttlSec: number, request: IdempotentRequest): Promise<Attempt> {
    return inTransaction(this.dataSource, (manager) =>
      this.idempotency.within(manager, request, 201, async () => {
        if (holder.type === 'agent') await this.assertAgentMayLock(principal, holder.id, manager);
        if (body.task_id) await this.assertTaskOpen(manager, body.task_id);
        const result = await this.locks.tryAcquire(manager, holder, body.task_id ?? null, [{ path, access: body.access }], ttlSec, this.config.lockMaxPerHolder);
        if (!result.ok) throw new NotAcquired(result);
        await this.audit.recordMany(manager, acquiredEntries(this.events, manager, principal.actor, result.locks));
        return toLockDto(result.locks[0]);
      }),
    ).then(
      (acquired) => ({ ok: true as const, ...acquired }),
      (err: unknown) => {
        if (err instanceof NotAcquired) return err.outcome;
        throw err;
      },
    );
  }

  /** Retries `attempt` as releases commit (or TTLs lapse) until it acquires, the deadline passes or the client leaves. */
  private async waitAndRetry(principal: Principal, deadline: number, attempt: () => Promise<Attempt>, signal?: AbortSignal): Promise<Attempt> {
    const who = ownerOf(principal);
    const open = this.waits.get(who) ?? 0;
    if (open >= this.config.lockMaxWaitsPerPrincipal) {
      throw new DomainError('rate_limited', `At most ${this.config.lockMaxWaitsPerPrincipal} lock waits may be open at once per credential`, {}, 1);
    }
    this.waits.set(who, open + 1);
    // Subscribed for the whole wait, so a release that commits between an attempt and the pause wakes the next pause at once.
    let released = false;
    let wake: (() => void) | undefined;
    const off = this.listener.on('am_locks_released', () => {
      released = true;
      wake?.();
    });
    try {
      let outcome: Attempt | undefined;
      for (;;) {
        const remaining = deadline - Date.now();
        if (outcome && (outcome.ok || outcome.reason === 'cap' || remaining <= 0 || signal?.aborted)) return outcome;
        if (!released) await pause(Math.min(remaining, retryDelay(outcome)), signal, (w) => (wake = w));
        released = false;
        outcome = await attempt();
      }
    } finally {
      off();
      const left = (this.waits.get(who) ?? 1) - 1;
      if (left > 0) this.waits.set(who, left);
      else this.waits.delete(who);
    }
  }

  private async releaseAbandoned(id: string): Promise<void> {
    await inTransaction(this.dataSource, async (manager) => {
      const released = await this.locks.release(manager, [id], 'released');
      await this.audit.recordMany(
        manager,
        releasedEntries(this.events, manager, SYSTEM_ACTOR, released, 'lock.release').map((e) => ({ ...e, details: { ...e.details, client_gone: true } })),
      );
    });
  }

  /** Extends a live lock; only its holder (or an admin) may, anyone else gets a 404. */
  async renew(principal: Principal, id: string, body: RenewLockDto): Promise<LockDto> {
    const requested = body.ttl_seconds === undefined ? undefined : this.checkedTtl(body.ttl_seconds);
    return inTransaction(this.dataSource, async (manager) => {
      const lock = await this.locks.findLive(id, manager);
      if (!lock || !(await this.holds(principal, lock, manager, true))) throw notFound('Lock', id);
      const ttlSec = requested ?? Math.min(lock.ttl_sec, this.config.lockMaxTtlSec);
      const renewed = await this.locks.renew(manager, lock, ttlSec);
      if (!renewed) throw notFound('Lock', id); // it lapsed while we waited for its path
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'lock.renew',
        resourceType: 'lock',
        resourceId: id,
        details: { path: lock.path, ttl_seconds: ttlSec, expires_at: renewed.expires_at.toISOString() },
      });
      return toLockDto(renewed);
    });
  }

  /**
   * Releases a live lock. Its holder releases it (lock.release); anyone else with locks:force
   * (operators, admins acting on a lock that is not theirs) force-releases it (lock.force_release);
   * for everyone else it does not exist (404). A lock that lapsed is gone already: 404.
   */
  async release(principal: Principal, id: string): Promise<void> {
    await inTransaction(this.dataSource, async (manager) => {
      const lock = await this.locks.findLive(id, manager, true);
      if (!lock) throw notFound('Lock', id);
      const own = await this.holds(principal, lock, manager, false);
      if (!own && !grants(principal.permissions, Permission.LocksForce)) throw notFound('Lock', id);
      const reason: LockReleaseReason = own ? 'released' : 'force_released';
      const released = await this.locks.release(manager, [id], reason);
      await this.audit.recordMany(manager, releasedEntries(this.events, manager, principal.actor, released, own ? 'lock.release' : 'lock.force_release'));
    });
  }

  async list(query: ListLocksQueryDto): Promise<LockListDto> {
    const after = decodeCursor(query.cursor, ['seq'])?.[0];
    const rows = await this.locks.listLive(
      { path: query.path === undefined ? undefined : normalizeLockPath(query.path), agentId: query.agent_id, taskId: query.task_id },
      query.limit + 1,
      after,
    );
    const items = rows.slice(0, query.limit);
    const nextCursor = rows.length > query.limit ? encodeCursor([items[items.length - 1].fencing_token]) : null;
    return { locks: items.map(toLockDto), next_cursor: nextCursor };
  }

  // ---- For claims, leases and the sweeper (called inside their transactions) ----------------

  /**
   * Takes a task's declared `file_dependencies` for `agentId`, all or none, in the caller's (READ
   * COMMITTED) transaction. Duplicate paths merge to the strongest mode; the task's own locks are
   * not checked against each other, but against every other live lock, the agent's own included.
   * The first call in a transaction waits for busy paths; later calls only try (so two claims
   * cannot deadlock) and report 'busy'. Take the agent row lock, if any, before calling this.
   * Records nothing itself: the returned `audit` entries go into the caller's last recordMany.
   */
  async acquireForTask(
    manager: EntityManager,
    args: { actor: AuditActor; agentId: string; taskId: string; dependencies: { path: string; access: string }[]; ttlSec: number },
  ): Promise<TaskLockOutcome> {
    if (args.dependencies.length === 0) return { ok: true, locks: [], audit: [] };
    const wanted = mergeDependencies(
      args.dependencies.map((d, i) => {
        if (!(LOCK_ACCESS_MODES as readonly string[]).includes(d.access)) {
          throw validationFailed([{ field: `file_dependencies[${i}].access`, errors: ['access must be read, write or exclusive'] }]);
        }
        return { key: normalizeLockPath(d.path, `file_dependencies[${i}].path`).key, access: d.access as LockAccess };
      }),
    );
    const holder: LockHolder = { type: 'agent', id: args.agentId };
    const result = await this.locks.tryAcquire(manager, holder, args.taskId, wanted, args.ttlSec, this.config.lockMaxPerHolder);
    if (!result.ok) return { ok: false, reason: result.reason, conflicts: result.conflicts.map(toConflict) };
    return { ok: true, locks: result.locks.map(toLockDto), audit: acquiredEntries(this.events, manager, args.actor, result.locks) };
  }

  /**
   * Releases every lock of a task (completed, failed, cancelled, lease lapsed). Returns the
   * lock.release / lock.expire entries for the caller's last recordMany.
   */
  async releaseForTask(
    manager: EntityManager,
    taskId: string,
    actor: AuditActor = SYSTEM_ACTOR,
    reason: LockReleaseReason = 'task_finished',
  ): Promise<{ released: number; audit: AuditEntry[] }> {
    const released = await this.locks.releaseForTask(manager, taskId, reason);
    return { released: released.length, audit: releasedEntries(this.events, manager, actor, released, 'lock.release') };
  }

  /**
   * Extends the live locks of these tasks with their leases (not audited, like heartbeats). Waits
   * for their paths: call it once per transaction, and not after acquireForTask in the same one.
   */
  async renewForTasks(manager: EntityManager, taskIds: string[], ttlSec: number): Promise<number> {
    return this.locks.renewForTasks(manager, taskIds, ttlSec);
  }

  /**
   * Stamps up to `limit` lapsed locks released at their expiry and records lock.expire for each.
   * They stopped counting when they expired; this is bookkeeping. Records audit rows: run it in
   * its own transaction, or last in the sweeper's.
   */
  async sweepExpired(manager: EntityManager, limit = SWEEP_BATCH): Promise<number> {
    const expired = await this.locks.sweepExpired(manager, limit);
    await this.audit.recordMany(manager, releasedEntries(this.events, manager, SYSTEM_ACTOR, expired, 'lock.expire'));
    return expired.length;
  }

  /**
   * Registered as the agents' "gone" hook: a deregistered, disabled or offline agent's locks end
   * in the transaction that takes it out of service (lock.release, or lock.expire when it went
   * silent). The agent row is locked first: see FileLocksRepository.lockAgentRow.
   */
  async releaseAllForAgent(manager: EntityManager, agentId: string, reason: AgentGoneReason): Promise<number> {
    await this.locks.lockAgentRow(manager, agentId);
    const why: LockReleaseReason = reason === 'offline' ? 'agent_offline' : reason === 'disabled' ? 'agent_disabled' : 'agent_deregistered';
    const released = await this.locks.releaseForHolder(manager, { type: 'agent', id: agentId }, why);
    await this.audit.recordMany(manager, releasedEntries(this.events, manager, SYSTEM_ACTOR, released, reason === 'offline' ? 'lock.expire' : 'lock.release'));
    return released.length;
  }

  // ---- helpers ------------------------------------------------------------------------------

  private checkedTtl(ttlSec: number): number {
    if (ttlSec > this.config.lockMaxTtlSec) {
      throw validationFailed([{ field: 'ttl_seconds', errors: [`ttl_seconds must be at most ${this.config.lockMaxTtlSec}`] }]);
    }
    return ttlSec;
  }

  /**
   * With agent_id the agent holds the lock (checked in the transaction); without it a signed-in
   * user holds it. An API key is a machine credential: it must say which agent it acts as.
   */
  private holderFor(principal: Principal, agentId: string | undefined): LockHolder {
    if (agentId) return { type: 'agent', id: agentId };
    if (principal.kind === 'user') return { type: 'user', id: principal.id };
    throw validationFailed([{ field: 'agent_id', errors: ['agent_id is required when calling with an API key'] }]);
  }

  private async assertAgentMayLock(principal: Principal, agentId: string, manager: EntityManager): Promise<void> {
    await this.agents.actingAgent(principal, agentId, manager);
    const status = await this.locks.lockAgentForLocking(manager, agentId);
    if (status === undefined) throw notFound('Agent', agentId);
    if (status === 'disabled') throw new DomainError('illegal_transition', 'This agent is disabled');
  }

  private async assertTaskOpen(manager: EntityManager, taskId: string): Promise<void> {
    const status = await this.locks.taskStatus(manager, taskId);
    if (status === undefined) throw notFound('Task', taskId);
    if (status === 'completed' || status === 'failed' || status === 'cancelled') {
      throw new DomainError('illegal_transition', `Task ${taskId} has finished (${status}); a lock cannot be tied to it`);
    }
  }

  /**
   * Is `principal` the lock's holder? A user holds their own user locks; an agent's locks are held
   * by the credential that registered it. `adminActsForAll`: admins count as every holder (renew);
   * a release by an admin who is not the holder is a force release instead.
   */
  private async holds(principal: Principal, lock: LockRow, manager: EntityManager, adminActsForAll: boolean): Promise<boolean> {
    if (adminActsForAll && isAdmin(principal)) return true;
    if (lock.holder_type === 'user') return principal.kind === 'user' && principal.id === lock.holder_id;
    return (await this.agentRows.findOwned(lock.holder_id, ownerOf(principal), manager)) !== undefined;
  }

}
