import type { RoutableEvent } from './event-access';

/**
 * Who registered which agent, for the owners with agent-scoped sockets on this instance: an
 * event names its agent, and this says which owner's rooms it goes to. An owner's agents are
 * read from the database when its first socket connects, learnt from agent_update after, and
 * forgotten with its last socket, so the map stays as small as the audience.
 */
export class AgentOwners {
  private readonly owners = new Map<string, { sockets: number; agents: Set<string> }>();
  private readonly ownerOfAgent = new Map<string, string>();

  retain(owner: string, agents: Iterable<string>): void {
    const entry = this.owners.get(owner) ?? { sockets: 0, agents: new Set<string>() };
    entry.sockets++;
    this.owners.set(owner, entry);
    for (const agent of agents) this.add(entry.agents, agent, owner);
  }

  release(owner: string): void {
    const entry = this.owners.get(owner);
    if (!entry || --entry.sockets > 0) return;
    this.owners.delete(owner);
    for (const agent of entry.agents) this.ownerOfAgent.delete(agent);
  }

  /** Call for each event in order, before routing it: a new agent's own events follow its agent_update. */
  learn(event: RoutableEvent): void {
    if (event.type !== 'agent_update' || !event.agent_id || !event.agent_owner) return;
    const entry = this.owners.get(event.agent_owner);
    if (entry) this.add(entry.agents, event.agent_id, event.agent_owner);
  }

  ownersOf(event: RoutableEvent): string[] {
    const owners: string[] = [];
    if (event.agent_owner) owners.push(event.agent_owner);
    const owner = event.agent_id ? this.ownerOfAgent.get(event.agent_id) : undefined;
    if (owner && owner !== event.agent_owner) owners.push(owner);
    return owners;
  }

  private add(agents: Set<string>, agent: string, owner: string): void {
    agents.add(agent);
    this.ownerOfAgent.set(agent, owner);
  }
}
