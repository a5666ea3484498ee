import { excessPermissions } from './permission-bounds';

describe('excessPermissions', () => {
  it('allows anything to a holder of *', () => {
    expect(excessPermissions(['*', 'users:write', 'tasks:*'], new Set(['*']))).toEqual([]);
  });

  it('lists concrete permissions the caller does not hold', () => {
    expect(excessPermissions(['tasks:read', 'users:write'], new Set(['tasks:read']))).toEqual(['users:write']);
  });

  it('counts resource wildcards the caller holds', () => {
    expect(excessPermissions(['tasks:read', 'tasks:manage'], new Set(['tasks:*']))).toEqual([]);
    expect(excessPermissions(['tasks:*'], new Set(['tasks:*']))).toEqual([]);
  });

  it('does not let concrete grants add up to a wildcard', () => {
    const everyTaskPermission = new Set(['tasks:read', 'tasks:write', 'tasks:manage']);
    expect(excessPermissions(['tasks:*'], everyTaskPermission)).toEqual(['tasks:*']);
    expect(excessPermissions(['*'], new Set(['tasks:*']))).toEqual(expect.arrayContaining(['*', 'users:write']));
  });

  it('ignores what an edited role already had', () => {
    const held = new Set(['roles:write']);
    expect(excessPermissions(['users:write', 'tasks:read'], held, new Set(['users:write']))).toEqual(['tasks:read']);
    expect(excessPermissions(['*'], held, new Set(['*']))).toEqual([]);
  });
});
