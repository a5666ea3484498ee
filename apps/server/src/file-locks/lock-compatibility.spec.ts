import { normalizeLockPath } from '../common/lock-path';
import { accessCompatible, type LockAccess,locksConflict, mergeDependencies } from './lock-compatibility';

const scope = (path: string, access: LockAccess) => ({ path: normalizeLockPath(path), access });

describe('the compatibility matrix (API.md)', () => {
  it.each<[LockAccess, LockAccess, boolean]>([
    ['read', 'read', true],
    ['read', 'write', true],
    ['read', 'exclusive', false],
    ['write', 'read', true],
    ['write', 'write', false],
    ['write', 'exclusive', false],
    ['exclusive', 'read', false],
    ['exclusive', 'write', false],
    ['exclusive', 'exclusive', false],
  ])('held %s, wanted %s → %s', (held, wanted, ok) => {
    expect(accessCompatible(held, wanted)).toBe(ok);
    expect(locksConflict(scope('src/a.ts', held), scope('./src//a.ts', wanted))).toBe(!ok);
  });

  it.each<[LockAccess, LockAccess, boolean]>([
    ['read', 'read', true],
    ['read', 'write', true],
    ['read', 'exclusive', false],
    ['write', 'read', true],
    ['write', 'write', false],
    ['write', 'exclusive', false],
    ['exclusive', 'read', false],
    ['exclusive', 'write', false],
    ['exclusive', 'exclusive', false],
  ])('applies the same matrix between a directory and a file under it, both ways: %s / %s', (a, b, ok) => {
    expect(locksConflict(scope('src/', a), scope('src/lib/a.ts', b))).toBe(!ok);
    expect(locksConflict(scope('src/lib/a.ts', a), scope('src/', b))).toBe(!ok);
    expect(locksConflict(scope('src/lib/', a), scope('src/', b))).toBe(!ok);
  });

  it('never conflicts across paths that do not overlap, whatever the modes', () => {
    expect(locksConflict(scope('src/', 'exclusive'), scope('srcx/a.ts', 'exclusive'))).toBe(false);
    expect(locksConflict(scope('src/a.ts', 'exclusive'), scope('src/b.ts', 'exclusive'))).toBe(false);
  });
});

describe('mergeDependencies', () => {
  it('keeps one lock per key, with the strongest mode asked for', () => {
    const merged = mergeDependencies([
      { key: 'a', access: 'read' },
      { key: 'b/', access: 'exclusive' },
      { key: 'a', access: 'write' },
      { key: 'b/', access: 'read' },
      { key: 'a', access: 'read' },
    ]);
    expect(merged).toEqual([
      { path: { key: 'a', isDirectory: false }, access: 'write' },
      { path: { key: 'b/', isDirectory: true }, access: 'exclusive' },
    ]);
  });
});
