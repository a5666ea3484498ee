import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

export type AgentGoneReason = 'deregistered' | 'offline' | 'disabled';

/** Runs inside the transaction that takes the agent out of service. */
export type AgentGoneHook = (manager: EntityManager, agentId: string, reason: AgentGoneReason) => Promise<void>;

/**
 * Lets the modules that hold things on an agent's behalf (tasks, file locks) clean up when the agent
 * leaves, in the same transaction, without the agents module depending on them.
 */
@Injectable()
export class AgentLifecycle {
  private readonly hooks: { name: string; hook: AgentGoneHook }[] = [];

  onAgentGone(name: string, hook: AgentGoneHook): void {
    this.hooks.push({ name, hook });
  }

  async agentGone(manager: EntityManager, agentId: string, reason: AgentGoneReason): Promise<void> {
    for (const { hook } of this.hooks) await hook(manager, agentId, reason);
  }
}

/** What a heartbeat needs from the tasks module, which provides it (globally) as AGENT_TASK_LEASES. */
export interface AgentTaskLeases {
  /** Extends the live leases of the agent's running tasks, in the caller's transaction; returns how many. */
  extendLeases(manager: EntityManager, agentId: string, leaseSec: number): Promise<number>;
}

export const AGENT_TASK_LEASES = Symbol('AGENT_TASK_LEASES');
