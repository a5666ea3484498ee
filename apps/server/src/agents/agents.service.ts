import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import { actingOwner, ownerOf, type Principal } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { DomainError, notFound } from '../common/errors';
import { decodeCursor, page } from '../common/pagination';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { EventsService } from '../events/events.service';
import type { AgentStatus } from './agent.entity';
import { AGENT_TASK_LEASES, AgentLifecycle, type AgentTaskLeases } from './agent-lifecycle';
import { type AgentRow,AgentsRepository } from './agents.repository';
import type {
  AgentDto,
  AgentListDto,
  HeartbeatDto,
  HeartbeatResponseDto,
  ListAgentsQueryDto,
  RegisterAgentDto,
  UpdateAgentDto,
} from './dto/agent.dto';

export function toAgentDto(row: AgentRow): AgentDto {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    status: row.status,
    capabilities: row.capabilities,
    endpoints: row.endpoints,
    resources: row.resources,
    metadata: row.metadata,
    max_parallel_tasks: row.max_parallel_tasks,
    current_load: row.current_load,
    running_tasks: row.running_tasks,
    last_heartbeat: row.last_heartbeat.toISOString(),
    created_at: row.created_at.toISOString(),
  };
}

@Injectable()
export class AgentsService {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly agents: AgentsRepository,
    private readonly lifecycle: AgentLifecycle,
    private readonly audit: AuditService,
    private readonly events: EventsService,
    @Inject(AGENT_TASK_LEASES) private readonly taskLeases: AgentTaskLeases,
  ) {}

  private emitUpdate(manager: EntityManager, agent: { id: string; owner: string; status: string; current_load: number }): void {
    this.events.emit(
      manager,
      { type: 'agent_update', agent_id: agent.id, status: agent.status, current_load: agent.current_load, timestamp: new Date().toISOString() },
      { agentId: agent.id, agentOwner: agent.owner },
    );
  }

  /**
   * The agent `principal` may act as: one it registered, or any agent for an admin. Anything else
   * is a 404, so agent ids of other tenants are not even confirmed to exist.
   */
  async actingAgent(
    principal: Principal,
    agentId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<{ id: string; name: string; owner: string; status: AgentStatus; current_load: number }> {
    const agent = await this.agents.findActable(agentId, actingOwner(principal), manager);
    if (!agent) throw notFound('Agent', agentId);
    return agent;
  }

  async register(principal: Principal, body: RegisterAgentDto): Promise<{ agent: AgentDto; created: boolean }> {
    return inTransaction(this.dataSource, async (manager) => {
      const { id, inserted } = await this.agents.upsert(manager, {
        name: body.name,
        owner: ownerOf(principal),
        type: body.type,
        capabilities: [...new Set(body.capabilities)],
        endpoints: body.endpoints ?? {},
        resources: body.resources ?? {},
        metadata: body.metadata ?? {},
        maxParallelTasks: body.max_parallel_tasks ?? 1,
      });
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'agent.register',
        resourceType: 'agent',
        resourceId: id,
        details: { name: body.name, type: body.type, capabilities: body.capabilities, re_registered: !inserted },
      });
      const agent = (await this.agents.findById(id, manager)) as AgentRow;
      this.emitUpdate(manager, agent);
      return { agent: toAgentDto(agent), created: inserted };
    });
  }

  async list(query: ListAgentsQueryDto): Promise<AgentListDto> {
    const after = decodeCursor(query.cursor, ['micros', 'uuid']) as [string, string] | undefined;
    const rows = await this.agents.list(query, query.limit + 1, after);
    const { items, nextCursor } = page(rows, query.limit, (r) => [r.cursor_ts, r.id]);
    return { agents: items.map(toAgentDto), next_cursor: nextCursor };
  }

  async get(id: string): Promise<AgentDto> {
    const row = await this.agents.findById(id);
    if (!row) throw notFound('Agent', id);
    return toAgentDto(row);
  }

  /** Not audited: heartbeats are frequent and change nothing but liveness. */
  async heartbeat(principal: Principal, id: string, body: HeartbeatDto): Promise<HeartbeatResponseDto> {
    return inTransaction(this.dataSource, async (manager) => {
      const agent = await this.actingAgent(principal, id, manager);
      if (agent.status === 'disabled') throw new DomainError('illegal_transition', 'This agent is disabled');
      const after = await this.agents.heartbeat(manager, id, body.current_load, body.status);
      if (after.status !== agent.status || after.current_load !== agent.current_load) this.emitUpdate(manager, { ...agent, ...after });
      const extended = await this.taskLeases.extendLeases(manager, id, this.config.taskLeaseSec);
      return {
        server_time: after.now.toISOString(),
        heartbeat_interval_sec: this.config.agentHeartbeatIntervalSec,
        lease_extended: extended,
      };
    });
  }

  async updateStatus(principal: Principal, id: string, body: UpdateAgentDto): Promise<AgentDto> {
    return inTransaction(this.dataSource, async (manager) => {
      const before = await this.agents.findById(id, manager);
      if (!before) throw notFound('Agent', id);
      await this.agents.lockRow(manager, id);
      await this.agents.setStatus(manager, id, body.status);
      if (body.status === 'disabled' && before.status !== 'disabled') {
        await this.lifecycle.agentGone(manager, id, 'disabled');
      }
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'agent.update',
        resourceType: 'agent',
        resourceId: id,
        details: { status_before: before.status, status_after: body.status },
      });
      const after = (await this.agents.findById(id, manager)) as AgentRow;
      this.emitUpdate(manager, after);
      return toAgentDto(after);
    });
  }

  async deregister(principal: Principal, id: string): Promise<void> {
    await inTransaction(this.dataSource, async (manager) => {
      const agent = await this.actingAgent(principal, id, manager);
      // Lock the agent before its tasks and locks, the order every other path takes them in.
      await this.agents.lockRow(manager, id);
      await this.lifecycle.agentGone(manager, id, 'deregistered');
      await this.agents.delete(manager, id);
      // It is gone: dashboards see it go offline for good.
      this.emitUpdate(manager, { ...agent, status: 'offline' });
      await this.audit.record(manager, {
        actor: principal.actor,
        action: 'agent.deregister',
        resourceType: 'agent',
        resourceId: id,
        details: { name: agent.name },
      });
    });
  }
}
