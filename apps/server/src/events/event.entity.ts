import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * The outbox's sealed events. A change stages its events in events_pending, in its own
 * transaction; the sealer (outbox/sealer.service.ts) numbers them from events_head and moves them
 * here right after commit, so `seq` has no gaps and follows causal order: a reader that has seen
 * seq n has seen every event before it.
 */
@Entity('events')
@Index('idx_events_created_at', ['createdAt'])
export class EventEntity {
  @PrimaryColumn({ type: 'bigint' })
  seq: string;

  @Column({ type: 'text' })
  type: string;

  /** The API.md payload without `seq`. */
  @Column({ type: 'jsonb' })
  payload: Record<string, unknown>;

  /** The agent the event concerns (the task's holder, the lock's agent), for agent-scoped readers. */
  @Column({ name: 'agent_id', type: 'uuid', nullable: true })
  agentId: string | null;

  /** The owner credential of that agent when known at emit time (agent_update). */
  @Column({ name: 'agent_owner', type: 'text', nullable: true })
  agentOwner: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /** When the sealer numbered it (null for events sealed before sealing moved after commit). */
  @Column({ name: 'sealed_at', type: 'timestamptz', nullable: true })
  sealedAt: Date | null;
}

@Entity('events_head')
export class EventsHeadEntity {
  @PrimaryColumn({ type: 'smallint' })
  id: number;

  @Column({ name: 'last_seq', type: 'bigint' })
  lastSeq: string;
}
