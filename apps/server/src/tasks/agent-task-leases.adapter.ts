import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AgentTaskLeases } from '../agents/agent-lifecycle';
import { TasksRepository } from './tasks.repository';

/** The agents module's view of task leases (AGENT_TASK_LEASES): a heartbeat keeps its agent's tasks. */
@Injectable()
export class AgentTaskLeasesAdapter implements AgentTaskLeases {
  constructor(private readonly tasks: TasksRepository) {}

  async extendLeases(manager: EntityManager, agentId: string, leaseSec: number): Promise<number> {
    return this.tasks.extendLeases(manager, agentId, leaseSec);
  }
}
