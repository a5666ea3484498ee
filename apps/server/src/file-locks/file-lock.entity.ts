import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { LockAccess } from './lock-compatibility';

export type LockHolderType = 'agent' | 'user';

/** Why a lock stopped being held (kept with the row: released locks stay as history). */
export type LockReleaseReason =
  | 'released'
  | 'force_released'
  | 'expired'
  | 'task_finished'
  | 'agent_deregistered'
  | 'agent_offline'
  | 'agent_disabled';

/**
 * One file lock. A lock is live while `released_at IS NULL AND expires_at > clock_timestamp()`;
 * an expired one stops counting at once and the sweeper stamps `released_at` later. Released rows
 * are kept (history, and hold intervals for audits); every hot query reads the partial indexes
 * over the unreleased rows only, so the history does not slow them down.
 *
 * `path` uses collation "C" (byte order) so "everything under a/b/" is one btree range scan.
 * `fencing_token` comes from the sequence `file_lock_fencing_seq` (hand-written in the migration).
 * `task_id` deliberately has no foreign key: a key-share lock on the task row from a lock insert
 * could deadlock with a claim that holds the task row and waits for the path lock.
 */
@Entity('file_locks')
@Index('idx_file_locks_active_path', ['path'], { where: 'released_at IS NULL' })
@Index('idx_file_locks_active_holder', ['holderType', 'holderId'], { where: 'released_at IS NULL' })
@Index('idx_file_locks_active_task', ['taskId'], { where: 'released_at IS NULL AND task_id IS NOT NULL' })
@Index('idx_file_locks_active_expiry', ['expiresAt'], { where: 'released_at IS NULL' })
// GET /locks pages in fencing-token order (unique and in acquisition order, so an exact keyset).
@Index('idx_file_locks_active_token', ['fencingToken'], { where: 'released_at IS NULL' })
@Check('ck_file_locks_access', `access IN ('read', 'write', 'exclusive')`)
@Check('ck_file_locks_holder_type', `holder_type IN ('agent', 'user')`)
@Check(
  'ck_file_locks_release_reason',
  `release_reason IS NULL OR release_reason IN ('released', 'force_released', 'expired', 'task_finished', 'agent_deregistered', 'agent_offline', 'agent_disabled')`,
)
@Check('ck_file_locks_released', `(released_at IS NULL) = (release_reason IS NULL)`)
export class FileLockEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text', collation: 'C' })
  path: string;

  @Column({ type: 'text' })
  access: LockAccess;

  @Column({ name: 'holder_type', type: 'text' })
  holderType: LockHolderType;

  /** An agent id, or a user id (text: an external identity provider's subject need not be a UUID). */
  @Column({ name: 'holder_id', type: 'text' })
  holderId: string;

  @Column({ name: 'task_id', type: 'uuid', nullable: true })
  taskId: string | null;

  @Column({ name: 'fencing_token', type: 'bigint' })
  fencingToken: string;

  /** The TTL asked for; a renew without ttl_seconds extends by this much again. */
  @Column({ name: 'ttl_sec', type: 'integer' })
  ttlSec: number;

  @Column({ name: 'acquired_at', type: 'timestamptz' })
  acquiredAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  /** When the hold ended: the release time, or `expires_at` for a lock that lapsed. */
  @Column({ name: 'released_at', type: 'timestamptz', nullable: true })
  releasedAt: Date | null;

  @Column({ name: 'release_reason', type: 'text', nullable: true })
  releaseReason: LockReleaseReason | null;
}
