import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '../../../../libs/database/src';
import type { UnsequencedEvent } from '../../../../libs/contracts/src';

export interface OutboxEntry {
  event: UnsequencedEvent;
  agentId: string | null;
  agentOwner: string | null;
}

export interface StoredEvent {
  seq: string;
  type: string;
  payload: Record<string, unknown>;
  agent_id: string | null;
  agent_owner: string | null;
}

@Injectable()
export class EventsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Appends in one statement. The events_head row lock (held until commit) orders appends, so
   * seqs are handed out in commit order without gaps — a reader never sees seq n+1 before n.
   */
  async append(manager: EntityManager, entries: OutboxEntry[]): Promise<string> {
    const r = await rows<{ last_seq: string }>(
      manager,
      `WITH head AS (
         SELECT last_seq FROM events_head WHERE id = 1 FOR UPDATE
       ), input AS (
         SELECT * FROM unnest($1::text[], $2::jsonb[], $3::uuid[], $4::text[]) WITH ORDINALITY AS x(type, payload, agent_id, agent_owner, ord)
       ), ins AS (
         INSERT INTO events (seq, type, payload, agent_id, agent_owner)
         SELECT head.last_seq + input.ord, input.type, input.payload, input.agent_id, input.agent_owner FROM head, input
         RETURNING seq
       )
       UPDATE events_head SET last_seq = (SELECT max(seq) FROM ins) WHERE id = 1
       RETURNING last_seq::text`,
      [
        entries.map((e) => e.event.type),
        entries.map((e) => JSON.stringify(e.event)),
        entries.map((e) => e.agentId),
        entries.map((e) => e.agentOwner),
      ],
    );
    return r[0].last_seq;
  }

  async lastSeq(): Promise<string> {
    const r = await rows<{ last_seq: string }>(this.dataSource.manager, 'SELECT last_seq::text FROM events_head WHERE id = 1');
    return r[0].last_seq;
  }

  /**
   * Events after `after`, oldest first. `owner` (an agent credential without events:read) limits
   * them to events about agents that credential registered.
   */
  async after(after: string, limit: number, types: string[] | null, owner: string | null): Promise<StoredEvent[]> {
    return rows<StoredEvent>(
      this.dataSource.manager,
      `SELECT e.seq::text AS seq, e.type, e.payload, e.agent_id, e.agent_owner
         FROM events e
        WHERE e.seq > $1
          AND ($3::text[] IS NULL OR e.type = ANY($3))
          AND ($4::text IS NULL OR e.agent_owner = $4 OR e.agent_id IN (SELECT a.id FROM agents a WHERE a.owner = $4))
        ORDER BY e.seq LIMIT $2`,
      [after, limit, types, owner],
    );
  }

  async ownedAgentIds(owner: string): Promise<string[]> {
    const r = await rows<{ id: string }>(this.dataSource.manager, 'SELECT id FROM agents WHERE owner = $1', [owner]);
    return r.map((x) => x.id);
  }

  /** Retention: drops events older than `ageSec` (the newest row always stays, so seq never restarts). */
  async prune(manager: EntityManager, ageSec: number, limit: number): Promise<number> {
    const r = await rows<{ seq: string }>(
      manager,
      `DELETE FROM events WHERE seq IN (
         SELECT seq FROM events WHERE created_at < clock_timestamp() - make_interval(secs => $1)
          AND seq < (SELECT last_seq FROM events_head WHERE id = 1)
          ORDER BY seq LIMIT $2)
       RETURNING seq`,
      [ageSec, limit],
    );
    return r.length;
  }
}
