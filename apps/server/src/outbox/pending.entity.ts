import { Column, Entity, PrimaryColumn } from 'typeorm';
import { AuditRecordColumns } from './audit-record-columns';

/**
 * Staging for audit rows a committed change wrote but the sealer has not chained yet. A change
 * only INSERTs here (no shared row lock); the sealer moves rows to `audit_events` — assigning
 * `seq`, `prev_hash` and `hash` — and deletes them here, in one transaction. So `audit_events`
 * itself stays insert-only, and its append-only trigger needs no exception for unsealed rows.
 *
 * `ticket` is drawn from `commit_ticket_seq` in the change's commit statement, one per
 * transaction: a change that saw another's commit draws a larger ticket, so sealing in ticket
 * order keeps causal order (transaction ids do not: see outbox/sealer.service.ts).
 */
@Entity('audit_pending')
export class AuditPendingEntity extends AuditRecordColumns {
  @PrimaryColumn({ type: 'bigint' })
  ticket: string;

  /** Position within the transaction. */
  @PrimaryColumn({ type: 'int' })
  ord: number;

  /** The writing transaction's id (xid8 as a number), for diagnostics. */
  @Column({ type: 'bigint', default: () => '(pg_current_xact_id()::text)::bigint' })
  xid: string;

  /** Taken in the commit statement: seal lag is measured from it. */
  @Column({ name: 'committed_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  committedAt: Date;

  @Column({ type: 'uuid' })
  id: string;

  @Column({ type: 'jsonb' })
  details: Record<string, unknown>;
}

/** Staging for events, as audit_pending is for audit rows; the sealer gives them their `seq`. */
@Entity('events_pending')
export class EventPendingEntity {
  @PrimaryColumn({ type: 'bigint' })
  ticket: string;

  @PrimaryColumn({ type: 'int' })
  ord: number;

  @Column({ type: 'bigint', default: () => '(pg_current_xact_id()::text)::bigint' })
  xid: string;

  @Column({ name: 'committed_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  committedAt: Date;

  @Column({ type: 'text' })
  type: string;

  /** The API.md payload without `seq`; its `timestamp` is the commit statement's clock. */
  @Column({ type: 'jsonb' })
  payload: Record<string, unknown>;

  @Column({ name: 'agent_id', type: 'uuid', nullable: true })
  agentId: string | null;

  @Column({ name: 'agent_owner', type: 'text', nullable: true })
  agentOwner: string | null;
}
