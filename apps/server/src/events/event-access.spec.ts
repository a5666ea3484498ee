import { EVENT_CHANNELS } from '@agentmanager/contracts';
import { Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { eventRooms, matches, mayUseChannel, mayView, narrowed, type RoutableEvent, type Subscription,subscriptionRooms, viewerFor } from './event-access';

const principal = (permissions: string[], kind: 'user' | 'api_key' = 'user', id = 'p1'): Principal => ({
  kind,
  id,
  userId: id,
  username: 'x',
  roles: [],
  permissions: new Set(permissions),
  actor: { type: kind, id },
});

const taskEvent = (agentId: string | null) => ({
  type: 'task_update',
  payload: { task_id: 't1', assigned_agent: agentId },
  agent_id: agentId,
  agent_owner: null,
});

describe('event access', () => {
  it('says when a viewer narrowed: a channel lost, or another scope; a wider viewer is not narrower', () => {
    const tasksAndAgents = viewerFor(principal([Permission.EventsRead, Permission.TasksRead, Permission.AgentsRead]))!;
    const agentsOnly = viewerFor(principal([Permission.EventsRead, Permission.AgentsRead]))!;
    const agentKey = viewerFor(principal([Permission.AgentsAct, Permission.TasksRead]))!;
    expect(narrowed(tasksAndAgents, agentsOnly)).toBe(true);
    expect(narrowed(agentsOnly, tasksAndAgents)).toBe(false);
    expect(narrowed(tasksAndAgents, tasksAndAgents)).toBe(false);
    expect(narrowed(tasksAndAgents, agentKey)).toBe(true);
    expect(narrowed(agentKey, viewerFor(principal([Permission.AgentsAct]))!)).toBe(false);
    expect(narrowed(agentKey, viewerFor(principal([Permission.AgentsAct], 'user', 'p2'))!)).toBe(true);
  });

  it('gives events:read holders every channel they may read', () => {
    const viewer = viewerFor(principal([Permission.EventsRead, Permission.TasksRead]))!;
    expect(viewer.scope).toBe('all');
    expect(mayUseChannel(viewer, 'tasks')).toBe(true);
    expect(mayUseChannel(viewer, 'pipelines')).toBe(false);
    expect(mayView(viewer, taskEvent('a1'), new Set())).toBe(true);
    expect(mayView(viewer, { type: 'workflow_update', payload: {}, agent_id: null, agent_owner: null }, new Set())).toBe(false);
  });

  it("limits an agent credential to its own agents' events", () => {
    const viewer = viewerFor(principal([Permission.AgentsAct], 'api_key', 'k1'))!;
    expect(viewer.scope).toBe('own');
    expect(mayUseChannel(viewer, 'workflows')).toBe(false);
    expect(mayView(viewer, taskEvent('mine'), new Set(['mine']))).toBe(true);
    expect(mayView(viewer, taskEvent('theirs'), new Set(['mine']))).toBe(false);
    expect(mayView(viewer, { type: 'agent_update', payload: {}, agent_id: 'new', agent_owner: 'api_key:k1' }, new Set())).toBe(true);
  });

  it('refuses callers with neither permission', () => {
    expect(viewerFor(principal([Permission.UsersRead]))).toBeNull();
  });

  it('matches subscriptions by channel and optional id', () => {
    const event = { type: 'task_update', payload: { task_id: 't1', workflow_id: 'w1' } };
    expect(matches({ channel: 'tasks' }, event)).toBe(true);
    expect(matches({ channel: 'all' }, event)).toBe(true);
    expect(matches({ channel: 'agents' }, event)).toBe(false);
    expect(matches({ channel: 'tasks', id: 't1' }, event)).toBe(true);
    expect(matches({ channel: 'tasks', id: 't2' }, event)).toBe(false);
    expect(matches({ channel: 'all', id: 'w1' }, event)).toBe(true);
  });

  it('joins a subscription only to the rooms its viewer may hear', () => {
    const reader = viewerFor(principal([Permission.EventsRead, Permission.TasksRead, Permission.LocksRead]))!;
    expect(subscriptionRooms(reader, { channel: 'all' })).toEqual(['ch:tasks', 'ch:locks']);
    expect(subscriptionRooms(reader, { channel: 'tasks', id: 't1' })).toEqual(['ch:tasks:t1']);
    expect(subscriptionRooms(reader, { channel: 'pipelines' })).toEqual([]);
    const agent = viewerFor(principal([Permission.AgentsAct], 'api_key', 'k1'))!;
    expect(subscriptionRooms(agent, { channel: 'all' })).toEqual(['own:api_key:k1:ch:tasks', 'own:api_key:k1:ch:agents', 'own:api_key:k1:ch:locks']);
  });

  it("sends an event to its channel's rooms, and to its owners' rooms on the channels agents may read", () => {
    const task = { type: 'task_update', payload: { task_id: 't1', assigned_agent: 'a1', workflow_id: null }, agent_id: 'a1', agent_owner: null };
    expect(eventRooms(task, ['api_key:k1'])).toEqual(['ch:tasks', 'ch:tasks:t1', 'ch:tasks:a1', 'own:api_key:k1:ch:tasks', 'own:api_key:k1:ch:tasks:t1', 'own:api_key:k1:ch:tasks:a1']);
    const workflow = { type: 'workflow_update', payload: { workflow_id: 'w1' }, agent_id: null, agent_owner: null };
    expect(eventRooms(workflow, ['api_key:k1'])).toEqual(['ch:workflows', 'ch:workflows:w1']);
  });

  it('routes through rooms exactly as mayView and matches decide, for every viewer, subscription and event', () => {
    const ownerOfAgent: Record<string, string> = { mine: 'api_key:k1', theirs: 'api_key:k2' };
    const viewers = [
      viewerFor(principal([Permission.EventsRead, Permission.TasksRead, Permission.AgentsRead]))!,
      viewerFor(principal(['*']))!,
      viewerFor(principal([Permission.AgentsAct], 'api_key', 'k1'))!,
    ];
    const agents = ['mine', 'theirs', null];
    const events: RoutableEvent[] = agents.flatMap((agent) => [
      { type: 'task_update', payload: { task_id: 't1', assigned_agent: agent, workflow_id: 'w1' }, agent_id: agent, agent_owner: null },
      { type: 'agent_update', payload: { agent_id: agent }, agent_id: agent, agent_owner: agent ? ownerOfAgent[agent] : null },
      { type: 'lock_update', payload: { lock_id: 'l1' }, agent_id: agent, agent_owner: null },
      { type: 'error', payload: { run_id: 'r1' }, agent_id: agent, agent_owner: null },
      { type: 'workflow_update', payload: { workflow_id: 'w1' }, agent_id: null, agent_owner: null },
    ]);
    const subs: Subscription[] = EVENT_CHANNELS.flatMap((channel) => [undefined, 't1', 'w1', 'mine', 'l1', 'x'].map((id) => ({ channel, ...(id ? { id } : {}) })));
    for (const viewer of viewers) {
      const owned = new Set(Object.keys(ownerOfAgent).filter((agent) => ownerOfAgent[agent] === viewer.owner));
      for (const event of events) {
        const owners = [event.agent_owner, event.agent_id ? ownerOfAgent[event.agent_id] : null].filter((o): o is string => !!o);
        const rooms = new Set(eventRooms(event, owners));
        for (const sub of subs) {
          const heard = subscriptionRooms(viewer, sub).some((room) => rooms.has(room));
          const expected = mayUseChannel(viewer, sub.channel) && mayView(viewer, event, owned) && matches(sub, event);
          expect({ viewer: viewer.permissions, event, sub, heard }).toEqual({ viewer: viewer.permissions, event, sub, heard: expected });
        }
      }
    }
  });
});
