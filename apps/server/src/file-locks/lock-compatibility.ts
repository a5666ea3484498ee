import { fromKey, type LockPath,pathsOverlap } from '../common/lock-path';

export const LOCK_ACCESS_MODES = ['read', 'write', 'exclusive'] as const;
export type LockAccess = (typeof LOCK_ACCESS_MODES)[number];

/**
 * API.md's matrix: may a lock `wanted` be granted while `held` is live on an overlapping path?
 * read = shared; write = one writer, readers may still look; exclusive = complete isolation.
 * The matrix is symmetric, so which side is "held" never matters.
 */
const COMPATIBLE: Record<LockAccess, Record<LockAccess, boolean>> = {
  read: { read: true, write: true, exclusive: false },
  write: { read: true, write: false, exclusive: false },
  exclusive: { read: false, write: false, exclusive: false },
};

export function accessCompatible(held: LockAccess, wanted: LockAccess): boolean {
  return COMPATIBLE[held][wanted];
}

export interface LockScope {
  path: LockPath;
  access: LockAccess;
}

/**
 * Two locks conflict when their paths overlap (same name, or a directory containing the other)
 * and their modes are incompatible. Holders do not matter: locks are not re-entrant, so a holder
 * asking again for a write lock it already holds is refused like anyone else.
 */
export function locksConflict(a: LockScope, b: LockScope): boolean {
  return pathsOverlap(a.path, b.path) && !accessCompatible(a.access, b.access);
}

const STRENGTH: Record<LockAccess, number> = { read: 0, write: 1, exclusive: 2 };

/**
 * A task's declared dependencies as the locks to take: one per key, the strongest mode asked for
 * that key (`[{a, read}, {a, write}]` → one write lock on `a`). Keys arrive normalised.
 */
export function mergeDependencies(deps: { key: string; access: LockAccess }[]): LockScope[] {
  const byKey = new Map<string, LockAccess>();
  for (const d of deps) {
    const seen = byKey.get(d.key);
    if (seen === undefined || STRENGTH[d.access] > STRENGTH[seen]) byKey.set(d.key, d.access);
  }
  return [...byKey].map(([key, access]) => ({ path: fromKey(key), access }));
}
