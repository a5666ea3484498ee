import { html } from 'htm/preact';
import { get } from '../api.js';
import { useStore } from '../store.js';
import { Badge, ErrorNote, Link, Progress, short, useLoad } from '../ui.js';

const COLOURS = { pending: '#6b7280', ready: '#2563eb', running: '#b45309', retrying: '#c2410c', completed: '#15803d', failed: '#b91c1c', cancelled: '#4b5563', skipped: '#6b7280' };

/** Lays a DAG out in columns by depth (longest path from a root) and draws it as SVG. */
export function Dag({ nodes, label }) {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const depth = new Map();
  const depthOf = (k, seen = new Set()) => {
    if (depth.has(k)) return depth.get(k);
    if (seen.has(k)) return 0;
    seen.add(k);
    const deps = (byKey.get(k)?.deps ?? []).filter((d) => byKey.has(d));
    const d = deps.length ? 1 + Math.max(...deps.map((x) => depthOf(x, seen))) : 0;
    depth.set(k, d);
    return d;
  };
  nodes.forEach((n) => depthOf(n.key));
  const cols = [];
  for (const n of nodes) (cols[depth.get(n.key)] ??= []).push(n);
  const W = 150, H = 44, GX = 60, GY = 18;
  const pos = new Map();
  cols.forEach((col, x) => col.forEach((n, y) => pos.set(n.key, { x: 10 + x * (W + GX), y: 10 + y * (H + GY) })));
  const width = 20 + cols.length * (W + GX);
  const height = 20 + Math.max(1, ...cols.map((c) => c.length)) * (H + GY);
  return html`<svg class="dag" viewBox=${`0 0 ${width} ${height}`} width=${width} height=${height} role="img" aria-label=${label}>
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#475569" /></marker></defs>
    ${nodes.flatMap((n) => (n.deps ?? []).filter((d) => pos.has(d)).map((d) => {
      const a = pos.get(d), b = pos.get(n.key);
      return html`<line x1=${a.x + W} y1=${a.y + H / 2} x2=${b.x} y2=${b.y + H / 2} stroke="#475569" stroke-width="1.5" marker-end="url(#arrow)" />`;
    }))}
    ${nodes.map((n) => {
      const p = pos.get(n.key);
      return html`<g data-node=${n.key} data-status=${n.status}>
        <title>${`${n.key}: ${n.sub ?? n.status}`}</title>
        <rect x=${p.x} y=${p.y} width=${W} height=${H} rx="6" fill="#fff" stroke=${COLOURS[n.status] ?? '#334155'} stroke-width="3" />
        <text x=${p.x + 8} y=${p.y + 18} font-size="12" font-weight="600" fill="#0f172a">${n.key.slice(0, 20)}</text>
        <text x=${p.x + 8} y=${p.y + 34} font-size="11" fill=${COLOURS[n.status] ?? '#334155'}>${(n.sub ?? n.status).slice(0, 24)}</text>
      </g>`;
    })}
  </svg>`;
}

export function WorkflowsView() {
  const st = useStore();
  const wfs = [...st.workflows.values()].sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? ''));
  return html`<section aria-labelledby="wf-h">
    <h1 id="wf-h">Workflows</h1>
    ${wfs.length === 0 ? html`<p class="muted">No workflow yet.</p>` : html`<table><thead><tr><th scope="col">Workflow</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">Rework cycle</th></tr></thead><tbody>
      ${wfs.map((w) => html`<tr><td><${Link} href=${`/workflows/${w.id}`}>${w.name || short(w.id)}<//></td><td><${Badge} status=${w.status} /></td>
        <td><${Progress} value=${w.total_tasks ? w.completed_tasks / w.total_tasks : 0} label=${`Progress of workflow ${w.name ?? w.id}`} /> ${w.completed_tasks ?? 0}/${w.total_tasks ?? 0}</td><td>${w.rework_cycle ?? 0}</td></tr>`)}
    </tbody></table>`}
    ${st.pipelines !== null && html`<p>Pipeline definitions and their runs: <${Link} href="/pipelines">Pipelines<//>.</p>`}
  </section>`;
}

export function WorkflowDetail({ id }) {
  const st = useStore();
  const live = st.workflows.get(id);
  const { data, error } = useLoad(() => get(`/workflows/${id}`), [id, live?.status, live?.completed_tasks]);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!data) return html`<p class="muted">Loading workflow…</p>`;
  const tasks = data.tasks ?? [];
  const keyOf = new Map(tasks.map((t) => [t.id, t.key ?? t.id]));
  const nodes = tasks.map((t) => ({ key: t.key ?? short(t.id), status: st.tasks.get(t.id)?.status ?? t.status, deps: (t.depends_on ?? []).map((d) => keyOf.get(d) ?? d) }));
  return html`<section aria-labelledby="wfd-h">
    <p><${Link} href="/workflows">← All workflows<//></p>
    <h1 id="wfd-h">${data.name || 'Workflow'} <${Badge} status=${live?.status ?? data.status} /></h1>
    <p>${data.description}</p>
    <div class="card dag-wrap"><${Dag} nodes=${nodes} label=${`Task graph of workflow ${data.name ?? id}`} /></div>
    <ul class="plain">${tasks.map((t) => html`<li><${Link} href=${`/tasks/${t.id}`}>${t.key ?? short(t.id)}<//> <${Badge} status=${st.tasks.get(t.id)?.status ?? t.status} /></li>`)}</ul>
  </section>`;
}
