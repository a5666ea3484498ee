/**
 * Task-graph validation shared by workflows, planner output and pipeline definitions: a pure
 * function, no I/O. Nodes are identified by `key` and list the keys they depend on.
 */
export interface DagNode {
  key: string;
  depends_on?: string[];
}

export type DagResult =
  | { ok: true; order: string[] }
  | { ok: false; code: 'duplicate_key'; keys: string[] }
  | { ok: false; code: 'unknown_dependency'; missing: { key: string; depends_on: string }[] }
  | { ok: false; code: 'dependency_cycle'; cycle: string[] };

/**
 * Checks keys are unique, every dependency names a node, and there is no cycle. On success
 * returns a topological order (dependencies first; ties keep the submitted order). A cycle comes
 * back as its path with the first key repeated at the end, e.g. ['a', 'b', 'c', 'a'].
 */
export function validateDag(nodes: readonly DagNode[]): DagResult {
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const n of nodes) (seen.has(n.key) ? duplicates : seen).add(n.key);
  if (duplicates.size) return { ok: false, code: 'duplicate_key', keys: [...duplicates] };

  const missing: { key: string; depends_on: string }[] = [];
  for (const n of nodes) for (const d of n.depends_on ?? []) if (!seen.has(d)) missing.push({ key: n.key, depends_on: d });
  if (missing.length) return { ok: false, code: 'unknown_dependency', missing };

  const cycle = findCycle(nodes);
  if (cycle) return { ok: false, code: 'dependency_cycle', cycle };
  return { ok: true, order: topologicalOrder(nodes) };
}

/** Kahn's algorithm, stable in submission order. Assumes the graph is acyclic and closed. */
function topologicalOrder(nodes: readonly DagNode[]): string[] {
  const index = new Map(nodes.map((n, i) => [n.key, i]));
  const remaining = new Map(nodes.map((n) => [n.key, new Set(n.depends_on ?? [])]));
  const dependents = new Map<string, string[]>(nodes.map((n) => [n.key, []]));
  for (const n of nodes) for (const d of new Set(n.depends_on ?? [])) dependents.get(d)!.push(n.key);
  const order: string[] = [];
  const ready = nodes.filter((n) => remaining.get(n.key)!.size === 0).map((n) => n.key);
  while (ready.length) {
    ready.sort((a, b) => index.get(a)! - index.get(b)!);
    const key = ready.shift()!;
    order.push(key);
    for (const dep of dependents.get(key)!) {
      const left = remaining.get(dep)!;
      left.delete(key);
      if (left.size === 0) ready.push(dep);
    }
  }
  return order;
}

/** Depth-first search with colours; returns the first cycle found as a closed path. */
function findCycle(nodes: readonly DagNode[]): string[] | undefined {
  const deps = new Map(nodes.map((n) => [n.key, n.depends_on ?? []]));
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (key: string): string[] | undefined => {
    state.set(key, 'active');
    stack.push(key);
    for (const d of deps.get(key) ?? []) {
      const s = state.get(d);
      if (s === 'active') {
        // key depends on d, which is on the stack: the cycle runs d → ... → key → d in dependency order.
        const path = stack.slice(stack.indexOf(d));
        return [...path, d];
      }
      if (s === undefined) {
        const found = visit(d);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(key, 'done');
    return undefined;
  };
  for (const n of nodes) {
    if (state.get(n.key) === undefined) {
      const found = visit(n.key);
      if (found) return found;
    }
  }
  return undefined;
}

/** Every key that transitively depends on any of `roots` (not including the roots). */
export function downstreamOf(nodes: readonly DagNode[], roots: Iterable<string>): Set<string> {
  const dependents = new Map<string, string[]>();
  for (const n of nodes) for (const d of n.depends_on ?? []) dependents.set(d, [...(dependents.get(d) ?? []), n.key]);
  const out = new Set<string>();
  const queue = [...roots];
  while (queue.length) {
    for (const k of dependents.get(queue.shift()!) ?? []) {
      if (!out.has(k)) {
        out.add(k);
        queue.push(k);
      }
    }
  }
  return out;
}

/**
 * Orders tasks so every task comes before the tasks it depends on (dependents first), looking only
 * at edges inside the given set. Used to cancel a graph without tripping dependency_failed cascades.
 */
export function dependentsFirst<T extends { id: string; depends_on: string[] }>(tasks: readonly T[]): T[] {
  const ids = new Set(tasks.map((t) => t.id));
  const r = validateDag(tasks.map((t) => ({ key: t.id, depends_on: t.depends_on.filter((d) => ids.has(d)) })));
  if (!r.ok) return [...tasks];
  const byId = new Map(tasks.map((t) => [t.id, t]));
  return r.order.reverse().map((id) => byId.get(id)!);
}
