import { html } from 'htm/preact';
import { can, useStore } from '../store.js';
import { Badge, Link, Progress, useTick } from '../ui.js';

const TASK_STATUSES = ['pending', 'ready', 'running', 'retrying', 'completed', 'failed', 'cancelled'];
const AGENT_STATUSES = ['active', 'draining', 'offline', 'disabled'];

function countBy(items, key) {
  const out = {};
  for (const it of items) out[it[key]] = (out[it[key]] ?? 0) + 1;
  return out;
}

function Counts({ title, counts, order, hrefFor }) {
  return html`<section class="card" aria-label=${title}>
    <h2>${title}</h2>
    <dl class="counts">
      ${order.map(
        (s) => html`<div class=${`count s-${s}`}>
          <dt>${hrefFor ? html`<${Link} href=${hrefFor(s)}>${s}<//>` : s}</dt>
          <dd data-status=${s}>${counts[s] ?? 0}</dd>
        </div>`,
      )}
    </dl>
  </section>`;
}

/** Completions per minute over the last 30 minutes, as an SVG polyline. */
function Sparkline({ completions, now }) {
  const minutes = 30;
  const buckets = new Array(minutes).fill(0);
  // `now` comes from a tick every few seconds; a completion an event delivered since then is newer
  // than it, so measure from the moment of this render.
  const end = Math.max(now, Date.now());
  for (const t of completions) {
    const m = Math.floor((end - t) / 60000);
    if (m >= 0 && m < minutes) buckets[minutes - 1 - m]++;
  }
  const max = Math.max(1, ...buckets);
  const w = 300;
  const h = 60;
  const pts = buckets.map((b, i) => `${((i / (minutes - 1)) * w).toFixed(1)},${(h - 4 - (b / max) * (h - 8)).toFixed(1)}`).join(' ');
  const last = buckets[minutes - 1];
  return html`<section class="card" aria-label="Throughput">
    <h2>Throughput</h2>
    <svg class="spark" viewBox=${`0 0 ${w} ${h}`} width=${w} height=${h} role="img" aria-label=${`Task completions per minute over the last 30 minutes; peak ${max}, this minute ${last}`}>
      <polyline points=${pts} fill="none" stroke="currentColor" stroke-width="2" />
    </svg>
    <p class="muted">${last} completed this minute · peak ${max}/min · last 30 min: ${buckets.reduce((a, b) => a + b, 0)}</p>
  </section>`;
}

/** "2 of 3 stages done · running transform", from whatever the run snapshot and events tell. */
function runStageText(r) {
  const done = (r.completed_stages ?? []).length;
  const total = r.stages?.length;
  const current = r.current_stage == null ? null : (r.stages?.find((s) => s.index === r.current_stage)?.name ?? `#${r.current_stage}`);
  return `${done}${total ? ` of ${total}` : ''} stages done${current ? ` · running ${current}` : ''}`;
}

export function Overview() {
  const st = useStore();
  const now = useTick(5000);
  const tasks = [...st.tasks.values()];
  const agents = [...st.agents.values()];
  const runs = [...st.runs.values()].filter((r) => r.status === 'running');
  const locks = [...st.locks.values()];
  return html`<div class="grid">
    ${can('agents:read') && html`<${Counts} title="Agents by status" counts=${countBy(agents, 'status')} order=${AGENT_STATUSES} />`}
    ${can('tasks:read') && html`<${Counts} title="Tasks by status" counts=${countBy(tasks, 'status')} order=${TASK_STATUSES} hrefFor=${(s) => `/tasks?status=${s}`} />`}
    ${can('tasks:read') && html`<${Sparkline} completions=${st.completions} now=${now} />`}
    ${can('locks:read') &&
    html`<section class="card" aria-label="Active locks">
      <h2>Active locks <span class="pill">${locks.length}</span></h2>
      ${locks.length === 0 ? html`<p class="muted">No file is locked.</p>` : html`<ul class="plain">
        ${locks.slice(0, 8).map((l) => html`<li><code>${l.path}</code> <${Badge} status=${l.access} /> <span class="muted">${l.holder?.type} ${String(l.holder?.id ?? '').slice(0, 8)}</span></li>`)}
      </ul>`}
      <${Link} href="/locks">All locks<//>
    </section>`}
    <section class="card wide" aria-label="Running pipeline runs">
      <h2>Running pipeline runs</h2>
      ${st.pipelines === null && runs.length === 0
        ? html`<p class="muted">This server has no pipelines API yet.</p>`
        : runs.length === 0
          ? html`<p class="muted">No pipeline run is in progress.</p>`
          : html`<ul class="plain runs">
              ${runs.map(
                (r) => html`<li data-run=${r.id}>
                  <span class="run-name"><${Link} href=${`/pipelines/runs/${r.id}`}>${(st.pipelines ?? []).find((p) => p.id === r.pipeline_id)?.name ?? `run ${r.id.slice(0, 8)}`}<//></span>
                  <span class="muted">${runStageText(r)}</span>
                  <${Progress} value=${r.progress} label=${`Progress of run ${r.id}`} />
                </li>`,
              )}
            </ul>`}
    </section>
  </div>`;
}
