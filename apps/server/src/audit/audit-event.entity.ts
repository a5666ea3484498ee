import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { AuditRecordColumns } from '../outbox/audit-record-columns';

/**
 * One row of the append-only audit trail. `hash = sha256(prev_hash | seq | canonical(row))`; a
 * trigger refuses UPDATE, DELETE and TRUNCATE.
 */
@Entity('audit_events')
@Check('ck_audit_events_outcome', `outcome IN ('success', 'denied', 'error')`)
@Check('ck_audit_events_actor_type', `actor_type IN ('user', 'agent', 'api_key', 'system')`)
@Index('idx_audit_events_action', ['action', 'seq'])
@Index('idx_audit_events_resource', ['resourceType', 'resourceId', 'seq'])
@Index('idx_audit_events_actor', ['actorId', 'seq'])
@Index('idx_audit_events_occurred_at', ['occurredAt'])
export class AuditEventEntity extends AuditRecordColumns {
  @PrimaryColumn({ type: 'bigint' })
  seq: string;

  @Column({ type: 'uuid', unique: true })
  id: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  details: Record<string, unknown>;

  @Column({ name: 'prev_hash', type: 'text' })
  prevHash: string;

  @Column({ type: 'text' })
  hash: string;
}

/** The chain's tip, advanced only by the sealer (outbox/sealer.service.ts); verify checks the last row against it. */
@Entity('audit_chain_head')
export class AuditChainHeadEntity {
  @PrimaryColumn({ type: 'smallint' })
  id: number;

  @Column({ name: 'last_seq', type: 'bigint' })
  lastSeq: string;

  @Column({ name: 'last_hash', type: 'text' })
  lastHash: string;
}
