import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { prepared, rows } from '@agentmanager/database';
import { cursorTimestamp, cursorTimestampParam } from '../common/pagination';
import type { AgentStatus, AgentType } from './agent.entity';

export interface AgentRow {
  id: string;
  name: string;
  owner: string;
  type: AgentType;
  status: AgentStatus;
  capabilities: string[];
  endpoints: Record<string, unknown>;
  resources: Record<string, unknown>;
  metadata: Record<string, unknown>;
  max_parallel_tasks: number;
  current_load: number;
  running_tasks: number;
  last_heartbeat: Date;
  created_at: Date;
  cursor_ts: string;
}

export interface AgentRegistration {
  name: string;
  owner: string;
  type: AgentType;
  capabilities: string[];
  endpoints: Record<string, unknown>;
  resources: Record<string, unknown>;
  metadata: Record<string, unknown>;
  maxParallelTasks: number;
}

const AGENT_COLUMNS = `a.id, a.name, a.owner, a.type, a.status, a.capabilities, a.endpoints, a.resources, a.metadata,
  a.max_parallel_tasks, a.current_load, a.last_heartbeat, a.created_at, ${cursorTimestamp('a.created_at')} AS cursor_ts,
  (SELECT count(*)::int FROM tasks t WHERE t.assigned_agent = a.id AND t.status = 'running') AS running_tasks`;

@Injectable()
export class AgentsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Registers by (owner, name): a new row (inserted = true), or the existing one updated in place
   * so a restarted worker keeps its id. A disabled agent stays disabled; any other comes back active.
   */
  async upsert(manager: EntityManager, r: AgentRegistration): Promise<{ id: string; inserted: boolean }> {
    const rows = await manager.query<{ id: string; inserted: boolean }[]>(
      `INSERT INTO agents (name, owner, type, capabilities, endpoints, resources, metadata, max_parallel_tasks, status, last_heartbeat)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', clock_timestamp())
       ON CONFLICT ON CONSTRAINT uq_agents_owner_name DO UPDATE SET
         type = EXCLUDED.type, capabilities = EXCLUDED.capabilities, endpoints = EXCLUDED.endpoints,
         resources = EXCLUDED.resources, metadata = EXCLUDED.metadata, max_parallel_tasks = EXCLUDED.max_parallel_tasks,
         status = CASE WHEN agents.status = 'disabled' THEN 'disabled' ELSE 'active' END,
         last_heartbeat = clock_timestamp(), updated_at = clock_timestamp()
       RETURNING id, (xmax = 0) AS inserted`,
      [r.name, r.owner, r.type, r.capabilities, r.endpoints, r.resources, r.metadata, r.maxParallelTasks],
    );
    return rows[0];
  }

  async findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<AgentRow | undefined> {
    const rows = await manager.query<AgentRow[]>(`SELECT ${AGENT_COLUMNS} FROM agents a WHERE a.id = $1`, [id]);
    return rows[0];
  }

  /** The identity fields of an agent `owner` may act as (owner null: an admin). Cheap: hot paths call it. */
  async findActable(
    id: string,
    owner: string | null,
    manager: EntityManager,
  ): Promise<{ id: string; name: string; owner: string; status: AgentStatus; current_load: number } | undefined> {
    const found = await rows<{ id: string; name: string; owner: string; status: AgentStatus; current_load: number }>(
      manager,
      'SELECT id, name, owner, status, current_load FROM agents WHERE id = $1 AND ($2::text IS NULL OR owner = $2)',
      [id, owner],
    );
    return found[0];
  }

  /** The agent, only if `owner` registered it (or owner is null: an admin acting on anyone's). */
  async findOwned(id: string, owner: string | null, manager: EntityManager = this.dataSource.manager): Promise<AgentRow | undefined> {
    const rows = await manager.query<AgentRow[]>(
      `SELECT ${AGENT_COLUMNS} FROM agents a WHERE a.id = $1 AND ($2::text IS NULL OR a.owner = $2)`,
      [id, owner],
    );
    return rows[0];
  }

  async list(
    filter: { capability?: string; status?: string; type?: string },
    limit: number,
    after?: [string, string],
  ): Promise<AgentRow[]> {
    const params: unknown[] = [];
    const clauses: string[] = [];
    if (filter.capability) clauses.push(`$${params.push(filter.capability)} = ANY(a.capabilities)`);
    if (filter.status) clauses.push(`a.status = $${params.push(filter.status)}`);
    if (filter.type) clauses.push(`a.type = $${params.push(filter.type)}`);
    if (after) {
      params.push(after[0], after[1]);
      clauses.push(`(a.created_at, a.id) > (${cursorTimestampParam(`$${params.length - 1}`)}, $${params.length}::uuid)`);
    }
    params.push(limit);
    return this.dataSource.query<AgentRow[]>(
      `SELECT ${AGENT_COLUMNS} FROM agents a ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
       ORDER BY a.created_at, a.id LIMIT $${params.length}`,
      params,
    );
  }

  /** Records a heartbeat; an offline agent that beats again is active again (draining/disabled stay). */
  async heartbeat(
    manager: EntityManager,
    id: string,
    currentLoad: number | undefined,
    status: AgentStatus | undefined,
  ): Promise<{ status: AgentStatus; current_load: number; now: Date }> {
    const updated = await prepared<{ status: AgentStatus; current_load: number; now: Date }>(
      manager,
      'agents.heartbeat',
      `UPDATE agents SET last_heartbeat = clock_timestamp(), updated_at = clock_timestamp(),
              current_load = COALESCE($2, current_load),
              status = CASE WHEN status = 'disabled' THEN 'disabled'
                            WHEN $3::text IS NOT NULL THEN $3::text
                            WHEN status = 'offline' THEN 'active' ELSE status END
        WHERE id = $1
        RETURNING status, current_load, clock_timestamp() AS now`,
      [id, currentLoad ?? null, status ?? null],
    );
    return updated[0];
  }

  /** Row-locks the agent, so whatever it holds cannot change under a deregistration. */
  async lockRow(manager: EntityManager, id: string): Promise<void> {
    await manager.query('SELECT 1 FROM agents WHERE id = $1 FOR UPDATE', [id]);
  }

  async setStatus(manager: EntityManager, id: string, status: AgentStatus): Promise<void> {
    await manager.query('UPDATE agents SET status = $2, updated_at = clock_timestamp() WHERE id = $1', [id, status]);
  }

  async delete(manager: EntityManager, id: string): Promise<void> {
    await manager.query('DELETE FROM agents WHERE id = $1', [id]);
  }

  /**
   * Marks agents silent for longer than `offlineAfterSec` (database clock) offline and returns
   * their ids; SKIP LOCKED leaves rows another transaction is updating to the next sweep.
   */
  async markSilentOffline(manager: EntityManager, offlineAfterSec: number): Promise<{ id: string; owner: string; current_load: number }[]> {
    return rows<{ id: string; owner: string; current_load: number }>(
      manager,
      `UPDATE agents SET status = 'offline', updated_at = clock_timestamp()
        WHERE id IN (SELECT id FROM agents
                      WHERE status IN ('active', 'draining')
                        AND last_heartbeat < clock_timestamp() - make_interval(secs => $1)
                      FOR UPDATE SKIP LOCKED)
        RETURNING id, owner, current_load`,
      [offlineAfterSec],
    );
  }

  async serverTime(): Promise<Date> {
    const rows = await this.dataSource.query<{ now: Date }[]>('SELECT clock_timestamp() AS now');
    return rows[0].now;
  }
}
