import { dependentsFirst, downstreamOf, validateDag } from './dag';

describe('validateDag', () => {
  it('orders a diamond with dependencies first, ties in submission order', () => {
    const r = validateDag([
      { key: 'd', depends_on: ['b', 'c'] },
      { key: 'b', depends_on: ['a'] },
      { key: 'c', depends_on: ['a'] },
      { key: 'a' },
    ]);
    expect(r).toEqual({ ok: true, order: ['a', 'b', 'c', 'd'] });
  });

  it('accepts an empty graph and independent nodes', () => {
    expect(validateDag([])).toEqual({ ok: true, order: [] });
    expect(validateDag([{ key: 'x' }, { key: 'y' }])).toEqual({ ok: true, order: ['x', 'y'] });
  });

  it('reports duplicate keys', () => {
    expect(validateDag([{ key: 'a' }, { key: 'a' }])).toEqual({ ok: false, code: 'duplicate_key', keys: ['a'] });
  });

  it('names unknown dependencies', () => {
    expect(validateDag([{ key: 'a', depends_on: ['nope'] }, { key: 'b', depends_on: ['a', 'gone'] }])).toEqual({
      ok: false,
      code: 'unknown_dependency',
      missing: [
        { key: 'a', depends_on: 'nope' },
        { key: 'b', depends_on: 'gone' },
      ],
    });
  });

  it('returns the cycle as a closed path', () => {
    const r = validateDag([{ key: 'root' }, { key: 'a', depends_on: ['root', 'c'] }, { key: 'b', depends_on: ['a'] }, { key: 'c', depends_on: ['b'] }]);
    expect(r.ok).toBe(false);
    if (r.ok || r.code !== 'dependency_cycle') throw new Error('expected a cycle');
    expect(r.cycle[0]).toBe(r.cycle[r.cycle.length - 1]);
    expect(new Set(r.cycle)).toEqual(new Set(['a', 'b', 'c']));
    // Each step of the path is a real edge: cycle[i] depends on cycle[i + 1].
    const deps: Record<string, string[]> = { a: ['root', 'c'], b: ['a'], c: ['b'] };
    for (let i = 0; i < r.cycle.length - 1; i++) expect(deps[r.cycle[i]]).toContain(r.cycle[i + 1]);
  });

  it('finds a self-loop', () => {
    expect(validateDag([{ key: 'a', depends_on: ['a'] }])).toEqual({ ok: false, code: 'dependency_cycle', cycle: ['a', 'a'] });
  });

  it('every order it returns respects every edge (random DAGs)', () => {
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(Math.random() * 15);
      const nodes = Array.from({ length: n }, (_, i) => ({
        key: `k${i}`,
        depends_on: Array.from({ length: i }, (_, j) => `k${j}`).filter(() => Math.random() < 0.3),
      }));
      nodes.sort(() => Math.random() - 0.5);
      const r = validateDag(nodes);
      if (!r.ok) throw new Error('a DAG was rejected');
      const pos = new Map(r.order.map((k, i) => [k, i]));
      expect(r.order).toHaveLength(n);
      for (const node of nodes) for (const d of node.depends_on) expect(pos.get(d)!).toBeLessThan(pos.get(node.key)!);
    }
  });
});

describe('downstreamOf', () => {
  it('collects transitive dependents only', () => {
    const nodes = [{ key: 'a' }, { key: 'b', depends_on: ['a'] }, { key: 'c', depends_on: ['b'] }, { key: 'x' }];
    expect(downstreamOf(nodes, ['a'])).toEqual(new Set(['b', 'c']));
    expect(downstreamOf(nodes, ['c'])).toEqual(new Set());
  });
});

describe('dependentsFirst', () => {
  it('puts every task before the tasks it depends on, ignoring edges leaving the set', () => {
    const tasks = [
      { id: 'a', depends_on: [] },
      { id: 'c', depends_on: ['b', 'outside'] },
      { id: 'b', depends_on: ['a'] },
    ];
    expect(dependentsFirst(tasks).map((t) => t.id)).toEqual(['c', 'b', 'a']);
  });
});
