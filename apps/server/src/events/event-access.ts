import type { EventChannel } from '@agentmanager/contracts';
import { grants,Permission } from '../access/permissions';
import { ownerOf, type Principal } from '../access/principal';

/**
 * Who may see which events. A caller with events:read sees every event of the channels it may
 * read. An agent credential without events:read sees only events about agents it registered
 * (their agent_update, and the task and lock events of tasks those agents hold).
 */
export interface EventViewer {
  scope: 'all' | 'own';
  owner: string;
  permissions: ReadonlySet<string>;
}

const CHANNEL_PERMISSION: Record<Exclude<EventChannel, 'all'>, Permission> = {
  tasks: Permission.TasksRead,
  agents: Permission.AgentsRead,
  pipelines: Permission.PipelinesRead,
  workflows: Permission.WorkflowsRead,
  locks: Permission.LocksRead,
};

const OWN_SCOPE_CHANNELS: EventChannel[] = ['tasks', 'agents', 'locks', 'all'];
const CHANNELS = Object.keys(CHANNEL_PERMISSION) as Exclude<EventChannel, 'all'>[];

export function viewerFor(principal: Principal): EventViewer | null {
  if (grants(principal.permissions, Permission.EventsRead)) {
    return { scope: 'all', owner: ownerOf(principal), permissions: principal.permissions };
  }
  if (grants(principal.permissions, Permission.AgentsAct)) {
    return { scope: 'own', owner: ownerOf(principal), permissions: principal.permissions };
  }
  return null;
}

export function channelOfEvent(event: { type: string; payload: Record<string, unknown> }): Exclude<EventChannel, 'all'> {
  switch (event.type) {
    case 'task_update':
      return 'tasks';
    case 'agent_update':
      return 'agents';
    case 'pipeline_progress':
      return 'pipelines';
    case 'workflow_update':
      return 'workflows';
    case 'lock_update':
      return 'locks';
    default:
      return event.payload.run_id ? 'pipelines' : 'tasks';
  }
}

export function mayUseChannel(viewer: EventViewer, channel: EventChannel): boolean {
  if (viewer.scope === 'own') return OWN_SCOPE_CHANNELS.includes(channel);
  return channel === 'all' || grants(viewer.permissions, CHANNEL_PERMISSION[channel]);
}

/**
 * Does `after` see less than `before` did: another scope or owner, or a channel it may no longer
 * read. A socket whose viewer narrowed is disconnected (its rooms were chosen for `before`).
 */
export function narrowed(before: EventViewer, after: EventViewer): boolean {
  if (before.scope !== after.scope || before.owner !== after.owner) return true;
  return CHANNELS.some((channel) => mayUseChannel(before, channel) && !mayUseChannel(after, channel));
}

/** What decides who may see an event: its type and payload, and the agent it concerns. */
export interface RoutableEvent {
  type: string;
  payload: Record<string, unknown>;
  agent_id: string | null;
  agent_owner: string | null;
}

export function mayView(viewer: EventViewer, event: RoutableEvent, ownedAgents: ReadonlySet<string>): boolean {
  const channel = channelOfEvent(event);
  if (viewer.scope === 'all') return grants(viewer.permissions, CHANNEL_PERMISSION[channel]);
  if (!OWN_SCOPE_CHANNELS.includes(channel)) return false;
  return event.agent_owner === viewer.owner || (event.agent_id !== null && ownedAgents.has(event.agent_id));
}

export interface Subscription {
  channel: EventChannel;
  id?: string;
}

const ID_FIELDS = ['task_id', 'agent_id', 'run_id', 'pipeline_id', 'workflow_id', 'lock_id', 'assigned_agent'];

/** Does an event fall under a subscription: its channel (or `all`), and its id when one was given. */
export function matches(sub: Subscription, event: { type: string; payload: Record<string, unknown> }): boolean {
  if (sub.channel !== 'all' && sub.channel !== channelOfEvent(event)) return false;
  if (!sub.id) return true;
  return ID_FIELDS.some((field) => event.payload[field] === sub.id);
}

/*
 * Socket.IO rooms: `mayView` and `matches` decided once, when a socket subscribes, so that an
 * event is sent to its rooms with one encode however many sockets hear it.
 *   ch:<channel>[:<id>]                callers with events:read (`all` joins each readable channel)
 *   own:<owner>:ch:<channel>[:<id>]    agent credentials: events about agents `owner` registered
 * The client's id comes last, so no id can spell another room.
 */
function room(channel: Exclude<EventChannel, 'all'>, id: string | undefined, owner: string | undefined): string {
  return `${owner === undefined ? '' : `own:${owner}:`}ch:${channel}${id ? `:${id}` : ''}`;
}

/** The rooms a subscription joins: none the viewer may not see. */
export function subscriptionRooms(viewer: EventViewer, sub: Subscription): string[] {
  const owner = viewer.scope === 'own' ? viewer.owner : undefined;
  return (sub.channel === 'all' ? CHANNELS : [sub.channel])
    .filter((channel) => mayUseChannel(viewer, channel))
    .map((channel) => room(channel, sub.id, owner));
}

/** The rooms an event goes to. `owners`: who registered its agent (agent_owner, and the owner of agent_id). */
export function eventRooms(event: RoutableEvent, owners: Iterable<string>): string[] {
  const channel = channelOfEvent(event);
  const ids = new Set<string>();
  for (const field of ID_FIELDS) {
    const value = event.payload[field];
    if (typeof value === 'string' && value) ids.add(value);
  }
  const scopes: (string | undefined)[] = [undefined];
  if (OWN_SCOPE_CHANNELS.includes(channel)) scopes.push(...owners);
  return scopes.flatMap((owner) => [room(channel, undefined, owner), ...[...ids].map((id) => room(channel, id, owner))]);
}
