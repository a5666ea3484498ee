import { BUILT_IN_ROLES, expand, grants, intersectGrants, isGrantablePermission, isSubset, Permission } from './permissions';

describe('permissions', () => {
  it('grants exact, resource-wildcard and global-wildcard permissions', () => {
    expect(grants(new Set([Permission.TasksRead]), Permission.TasksRead)).toBe(true);
    expect(grants(new Set([Permission.TasksRead]), Permission.TasksWrite)).toBe(false);
    expect(grants(new Set(['tasks:*']), Permission.TasksManage)).toBe(true);
    expect(grants(new Set(['tasks:*']), Permission.AgentsRead)).toBe(false);
    expect(grants(new Set(['*']), Permission.UsersWrite)).toBe(true);
  });

  it('intersects grants without widening a wildcard', () => {
    const sorted = (a: string[], b: string[]) => [...intersectGrants(a, b)].sort();
    expect(sorted(['*'], ['tasks:read', 'locks:*'])).toEqual(['locks:*', 'tasks:read']);
    expect(sorted(['tasks:*', 'agents:read'], ['tasks:read', 'agents:write'])).toEqual(['tasks:read']);
    expect(sorted(['tasks:*'], ['tasks:*', '*'])).toEqual(['tasks:*']);
    expect(sorted(['tasks:write'], ['tasksx:*'])).toEqual([]);
    expect(sorted(['*'], ['*'])).toEqual(['*']);
  });

  it('accepts only known permissions and wildcards of known resources', () => {
    expect(isGrantablePermission('tasks:read')).toBe(true);
    expect(isGrantablePermission('tasks:*')).toBe(true);
    expect(isGrantablePermission('*')).toBe(true);
    expect(isGrantablePermission('tasks:delete')).toBe(false);
    expect(isGrantablePermission('nothing:*')).toBe(false);
    expect(isGrantablePermission('')).toBe(false);
  });

  it('compares permission sets through their wildcards', () => {
    const operator = new Set(BUILT_IN_ROLES.operator.permissions);
    expect(isSubset(BUILT_IN_ROLES.viewer.permissions, operator)).toBe(true);
    expect(isSubset(['*'], operator)).toBe(false);
    expect(isSubset(['tasks:*'], operator)).toBe(true);
    expect(isSubset(['users:read'], operator)).toBe(false);
    expect(expand(['*']).size).toBe(Object.values(Permission).length);
  });

  it('keeps viewer read-only', () => {
    for (const p of BUILT_IN_ROLES.viewer.permissions) expect(p.endsWith(':read')).toBe(true);
  });
});
