/** Every permission the server checks, as `resource:action`. Roles hold these (or `*`, `resource:*`). */
export enum Permission {
  UsersRead = 'users:read',
  UsersWrite = 'users:write',
  RolesRead = 'roles:read',
  RolesWrite = 'roles:write',
  ApiKeysRead = 'api_keys:read',
  ApiKeysWrite = 'api_keys:write',
  AuditRead = 'audit:read',
  AgentsRead = 'agents:read',
  /** Change any agent's status (drain, disable). */
  AgentsWrite = 'agents:write',
  /** Register agents and act as them: heartbeat, claim, progress, complete, fail. */
  AgentsAct = 'agents:act',
  TasksRead = 'tasks:read',
  TasksWrite = 'tasks:write',
  /** Cancel and retry any task. */
  TasksManage = 'tasks:manage',
  WorkflowsRead = 'workflows:read',
  WorkflowsWrite = 'workflows:write',
  PipelinesRead = 'pipelines:read',
  PipelinesWrite = 'pipelines:write',
  PipelinesExecute = 'pipelines:execute',
  LocksRead = 'locks:read',
  LocksWrite = 'locks:write',
  LocksForce = 'locks:force',
  EventsRead = 'events:read',
}

export const ALL_PERMISSIONS: readonly string[] = Object.values(Permission);

export const WILDCARD = '*';

export type BuiltInRole = 'admin' | 'operator' | 'viewer' | 'agent';

export const BUILT_IN_ROLES: Record<BuiltInRole, { description: string; permissions: string[] }> = {
  admin: { description: 'Everything, including users, roles, API keys and the audit trail', permissions: [WILDCARD] },
  operator: {
    description: 'Runs the fleet: tasks, workflows, pipelines, agents, locks and events',
    permissions: [
      Permission.AgentsRead,
      Permission.AgentsWrite,
      Permission.TasksRead,
      Permission.TasksWrite,
      Permission.TasksManage,
      Permission.WorkflowsRead,
      Permission.WorkflowsWrite,
      Permission.PipelinesRead,
      Permission.PipelinesWrite,
      Permission.PipelinesExecute,
      Permission.LocksRead,
      Permission.LocksWrite,
      Permission.LocksForce,
      Permission.EventsRead,
    ],
  },
  viewer: {
    description: 'Read-only access to the fleet, including events',
    permissions: [
      Permission.AgentsRead,
      Permission.TasksRead,
      Permission.WorkflowsRead,
      Permission.PipelinesRead,
      Permission.LocksRead,
      Permission.EventsRead,
    ],
  },
  agent: {
    description: 'Registers agents and acts as them: claim, progress, complete, fail, heartbeat, locks',
    permissions: [
      Permission.AgentsRead,
      Permission.AgentsAct,
      Permission.TasksRead,
      Permission.TasksWrite,
      Permission.LocksRead,
      Permission.LocksWrite,
      // No events:read: an agent credential receives only the events of agents it registered.
    ],
  },
};

export function isBuiltInRole(name: string): name is BuiltInRole {
  return Object.prototype.hasOwnProperty.call(BUILT_IN_ROLES, name);
}

/** A permission string a role may hold: a known permission, `resource:*` for a known resource, or `*`. */
export function isGrantablePermission(value: string): boolean {
  if (value === WILDCARD || ALL_PERMISSIONS.includes(value)) return true;
  const [resource, action] = value.split(':');
  return action === '*' && ALL_PERMISSIONS.some((p) => p.startsWith(`${resource}:`));
}

/** Does a set of granted permissions (possibly with wildcards) include `wanted`? */
export function grants(granted: ReadonlySet<string>, wanted: string): boolean {
  if (granted.has(WILDCARD) || granted.has(wanted)) return true;
  const resource = wanted.slice(0, wanted.indexOf(':'));
  return granted.has(`${resource}:*`);
}

/** Expands wildcards into concrete permissions (for display and for subset checks). */
export function expand(granted: Iterable<string>): Set<string> {
  const set = new Set(granted);
  return new Set(ALL_PERMISSIONS.filter((p) => grants(set, p)));
}

/** True when every permission `wanted` grants is also granted by `held`. */
export function isSubset(wanted: Iterable<string>, held: ReadonlySet<string>): boolean {
  for (const p of expand(wanted)) if (!grants(held, p)) return false;
  return true;
}

/** The most one grant and another both allow, e.g. `tasks:*` ∩ `tasks:read` is `tasks:read`; null when nothing. */
function meet(a: string, b: string): string | null {
  if (a === WILDCARD || a === b) return b;
  if (b === WILDCARD) return a;
  if (a.endsWith(':*') && b.startsWith(a.slice(0, -1))) return b;
  if (b.endsWith(':*') && a.startsWith(b.slice(0, -1))) return a;
  return null;
}

/**
 * What both sets grant: `grants(result, p)` holds exactly when it holds for `a` and for `b`.
 * Wildcards survive only where both sides hold them, so nothing is widened.
 */
export function intersectGrants(a: Iterable<string>, b: Iterable<string>): Set<string> {
  const right = [...b];
  const both = new Set<string>();
  for (const x of a) {
    for (const y of right) {
      const m = meet(x, y);
      if (m !== null) both.add(m);
    }
  }
  return both;
}
