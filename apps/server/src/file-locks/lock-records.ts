import type { EntityManager } from 'typeorm';
import type { AuditActor } from '../access/principal';
import type { AuditEntry } from '../audit/audit.service';
import type { EventsService } from '../events/events.service';
import { journalNotify } from '../outbox/commit-journal';
import type { LockRow, ReleasedLockRow } from './file-locks.repository';

// What a lock's changes record: a lock_update event per lock (through the outbox, in the change's
// transaction) and the audit entries the caller appends.

/** lock_update for each lock taken or let go, in the same transaction (through the outbox). */
export function emitLockUpdates(events: EventsService, manager: EntityManager, rows: LockRow[], state: (row: LockRow) => 'acquired' | 'released' | 'expired'): void {
  const timestamp = new Date().toISOString();
  for (const row of rows) {
    events.emit(
      manager,
      {
        type: 'lock_update',
        lock_id: row.id,
        path: row.path,
        access: row.access,
        state: state(row),
        holder: { type: row.holder_type, id: row.holder_id },
        timestamp,
      },
      { agentId: row.holder_type === 'agent' ? row.holder_id : null },
    );
  }
}

/** What every lock audit row says about the lock. */
function lockDetails(row: LockRow): Record<string, unknown> {
  return {
    path: row.path,
    access: row.access,
    holder: { type: row.holder_type, id: row.holder_id },
    task_id: row.task_id,
    fencing_token: Number(row.fencing_token),
  };
}

export function acquiredEntries(events: EventsService, manager: EntityManager, actor: AuditActor, rows: LockRow[]): AuditEntry[] {
  emitLockUpdates(events, manager, rows, () => 'acquired');
  return rows.map((row) => ({
    actor,
    action: 'lock.acquire',
    resourceType: 'lock',
    resourceId: row.id,
    details: { ...lockDetails(row), ttl_seconds: row.ttl_sec },
  }));
}

/** A row that had already lapsed when released is recorded as lock.expire, whatever `action`. */
export function releasedEntries(events: EventsService, manager: EntityManager, actor: AuditActor, rows: ReleasedLockRow[], action: string): AuditEntry[] {
  // Waiters on any instance try again once this commits (FileLocksService.acquire).
  if (rows.length) journalNotify(manager, 'am_locks_released');
  emitLockUpdates(events, manager, rows, (row) => ((row as ReleasedLockRow).release_reason === 'expired' || action === 'lock.expire' ? 'expired' : 'released'));
  return rows.map((row) => ({
    actor,
    action: row.release_reason === 'expired' ? 'lock.expire' : action,
    resourceType: 'lock',
    resourceId: row.id,
    details: { ...lockDetails(row), reason: row.release_reason, released_at: row.released_at.toISOString() },
  }));
}
