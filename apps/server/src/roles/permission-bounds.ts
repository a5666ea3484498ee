import { expand, grants, WILDCARD } from '../access/permissions';

/** Does `set` hold the wildcard `w` itself (or a wider one)? Concrete grants never add up to a wildcard. */
function holdsWildcard(set: ReadonlySet<string>, w: string): boolean {
  return set.has(WILDCARD) || set.has(w);
}

/**
 * What `wanted` would grant beyond both `held` (the caller) and `existing` (what the role or key
 * already had, for edits), sorted; empty when the grant is allowed. This is the isSubset rule,
 * made stricter for wildcards: `*` and `resource:*` also reach permissions added in later
 * versions, so granting one needs the same (or a wider) wildcard.
 */
export function excessPermissions(
  wanted: Iterable<string>,
  held: ReadonlySet<string>,
  existing: ReadonlySet<string> = new Set(),
): string[] {
  const list = [...wanted];
  const excess = new Set<string>();
  for (const p of list) {
    if ((p === WILDCARD || p.endsWith(':*')) && !holdsWildcard(held, p) && !holdsWildcard(existing, p)) excess.add(p);
  }
  for (const p of expand(list)) if (!grants(held, p) && !grants(existing, p)) excess.add(p);
  return [...excess].sort();
}
