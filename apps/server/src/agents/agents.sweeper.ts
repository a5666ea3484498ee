import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { SYSTEM_ACTOR } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { EventsService } from '../events/events.service';
import { JOB_LOCKS } from '../scheduler/job-locks';
import { Scheduler } from '../scheduler/scheduler.service';
import { AgentLifecycle } from './agent-lifecycle';
import { AgentsRepository } from './agents.repository';

/** Every SWEEP_INTERVAL_MS, on one instance: agents gone silent → offline, and their work ends (AgentLifecycle). */
@Injectable()
export class AgentsSweeper implements OnModuleInit {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly scheduler: Scheduler,
    private readonly agents: AgentsRepository,
    private readonly lifecycle: AgentLifecycle,
    private readonly audit: AuditService,
    private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.scheduler.register({
      kind: 'locked',
      name: 'offline-agents',
      intervalMs: this.config.sweepIntervalMs,
      lockKey: JOB_LOCKS.offlineAgents,
      run: (manager) => this.sweepOfflineAgents(manager),
    });
  }

  private async sweepOfflineAgents(manager: EntityManager): Promise<number> {
    const gone = await this.agents.markSilentOffline(manager, this.config.agentOfflineAfterSec);
    const ids = gone.map((a) => a.id);
    for (const agent of gone) {
      await this.lifecycle.agentGone(manager, agent.id, 'offline');
      this.events.emit(
        manager,
        { type: 'agent_update', agent_id: agent.id, status: 'offline', current_load: agent.current_load, timestamp: new Date().toISOString() },
        { agentId: agent.id, agentOwner: agent.owner },
      );
    }
    await this.audit.recordMany(
      manager,
      ids.map((id) => ({ actor: SYSTEM_ACTOR, action: 'agent.offline', resourceType: 'agent', resourceId: id })),
    );
    return ids.length;
  }
}
