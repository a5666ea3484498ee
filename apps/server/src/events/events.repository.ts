import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '@agentmanager/database';

export interface StoredEvent {
  seq: string;
  type: string;
  payload: Record<string, unknown>;
  agent_id: string | null;
  agent_owner: string | null;
  /** Seconds since the sealer numbered it, when read by the relay. */
  sealed_ago?: number | null;
}

@Injectable()
export class EventsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

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

  /**
   * The relay's read: every event after `after`, with how long ago each was sealed. ORDER BY
   * names the column: a bare `seq` would sort the text alias (100 before 99).
   */
  async forRelay(after: string, limit: number): Promise<StoredEvent[]> {
    return rows<StoredEvent>(
      this.dataSource.manager,
      `SELECT seq::text AS seq, type, payload, agent_id, agent_owner,
              extract(epoch FROM clock_timestamp() - sealed_at)::float8 AS sealed_ago
         FROM events WHERE events.seq > $1 ORDER BY events.seq LIMIT $2`,
      [after, limit],
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
