import { Permission } from '../auth/permissions';
import type { Principal } from '../auth/principal';
import { matches, mayUseChannel, mayView, viewerFor } from './event-access';

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
});
