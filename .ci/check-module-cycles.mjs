#!/usr/bin/env node
// Fails when feature folders import each other in a cycle (issue 15): apps/server/src/<folder>,
// libs/<lib>, and, within a lib, its files. A cycle between two folders means neither can be
// understood, tested or moved without the other; types both need belong in the lower one or in
// libs/contracts. Type-only imports count too: they couple the folders just the same.
//
//   node .ci/check-module-cycles.mjs      (part of `npm run lint`)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const SCOPES = ['apps/server/src', 'libs', 'libs/client/src'];
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function* sourceFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules') yield* sourceFiles(path);
    } else if (name.endsWith('.ts') && !name.endsWith('.spec.ts') && !name.endsWith('.d.ts')) {
      yield path;
    }
  }
}

/** The node a file belongs to in `scope`: its first path segment below the scope (a file in a flat lib counts as itself). */
function nodeOf(scope, file) {
  const rel = relative(join(ROOT, scope), file);
  if (rel.startsWith('..')) return undefined;
  const [first, ...rest] = rel.split(sep);
  return scope === 'libs/client/src' || rest.length ? first.replace(/\.ts$/, '') : undefined;
}

function resolveImport(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* next candidate */
    }
  }
  return undefined;
}

/** Strongly connected components with more than one node (Tarjan). */
function cycles(graph) {
  let index = 0;
  const idx = new Map(), low = new Map(), stack = [], onStack = new Set(), out = [];
  const visit = (v) => {
    idx.set(v, index), low.set(v, index++), stack.push(v), onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!idx.has(w)) visit(w), low.set(v, Math.min(low.get(v), low.get(w)));
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do (w = stack.pop()), onStack.delete(w), scc.push(w);
      while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

let failed = false;
for (const scope of SCOPES) {
  const graph = new Map(); // node -> (node -> example "file -> import")
  for (const file of sourceFiles(join(ROOT, scope))) {
    const from = nodeOf(scope, file);
    if (!from) continue;
    if (!graph.has(from)) graph.set(from, new Map());
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = resolveImport(file, m[1] ?? m[2]);
      const to = target && nodeOf(scope, target);
      if (to && to !== from && !graph.get(from).has(to)) graph.get(from).set(to, `${relative(ROOT, file)} imports ${m[1] ?? m[2]}`);
    }
  }
  for (const scc of cycles(graph)) {
    failed = true;
    console.error(`import cycle in ${scope}: ${scc.join(' <-> ')}`);
    for (const a of scc) for (const [b, why] of graph.get(a)) if (scc.includes(b)) console.error(`  ${a} -> ${b}: ${why}`);
  }
}
if (failed) {
  console.error('Break each cycle: move what both sides need to the lower folder (or libs/contracts), or invert the call through a port.');
  process.exit(1);
}
console.log('no import cycles between feature folders');
