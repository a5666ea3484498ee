import { html } from 'htm/preact';
import { api } from '../api.js';
import { can, changed, state, useStore } from '../store.js';
import { ago, Badge, ConfirmButton, Link, short, useTick } from '../ui.js';

export function AgentsView() {
  const st = useStore();
  const now = useTick(5000);
  const agents = [...st.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
  const held = new Map();
  for (const t of st.tasks.values()) {
    if (t.status === 'running' && t.assigned_agent) held.set(t.assigned_agent, [...(held.get(t.assigned_agent) ?? []), t]);
  }
  const locks = new Map();
  for (const l of st.locks.values()) {
    if (l.holder?.type === 'agent') locks.set(l.holder.id, [...(locks.get(l.holder.id) ?? []), l]);
  }
  const setStatus = async (a, status) => {
    const updated = await api('PATCH', `/agents/${a.id}`, { status });
    state.agents.set(a.id, updated);
    changed();
  };
  const write = can('agents:write');
  return html`<section aria-labelledby="agents-h">
    <h1 id="agents-h">Agents <span class="pill">${agents.length}</span></h1>
    ${agents.length === 0 ? html`<p class="muted">No agent has registered.</p>` : html`<table class="agents">
      <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Capabilities</th><th scope="col">Load</th><th scope="col">Last heartbeat</th><th scope="col">Held tasks</th><th scope="col">Locks</th>${write && html`<th scope="col">Actions</th>`}</tr></thead>
      <tbody>
        ${agents.map((a) => {
          const tasks = held.get(a.id) ?? [];
          const ls = locks.get(a.id) ?? [];
          return html`<tr data-agent=${a.id}>
            <td><strong>${a.name}</strong><br /><code class="muted">${short(a.id)}</code></td>
            <td>${a.type}</td>
            <td><${Badge} status=${a.status} /></td>
            <td>${(a.capabilities ?? []).map((c) => html`<code class="cap">${c}</code> `)}</td>
            <td><meter min="0" max=${a.max_parallel_tasks || 1} value=${a.running_tasks ?? 0} aria-label=${`Load of ${a.name}`}></meter> ${a.running_tasks ?? 0}/${a.max_parallel_tasks}${a.current_load != null ? html`<span class="muted"> · reported ${Math.round(a.current_load * 100) / 100}</span>` : ''}</td>
            <td title=${a.last_heartbeat}>${ago(a.last_heartbeat, now)}</td>
            <td>${tasks.length ? tasks.map((t) => html`<${Link} href=${`/tasks/${t.id}`}><code>${short(t.id)}</code><//> `) : '—'}</td>
            <td>${ls.length ? ls.map((l) => html`<code title=${l.access}>${l.path}</code> `) : '—'}</td>
            ${write &&
            html`<td class="actions">
              ${a.status === 'active' && html`<${ConfirmButton} label="Drain" confirmLabel=${`Drain ${a.name}? It finishes its tasks but takes no new ones.`} onConfirm=${() => setStatus(a, 'draining')} />`}
              ${a.status !== 'disabled' && html`<${ConfirmButton} label="Disable" confirmLabel=${`Disable ${a.name}?`} onConfirm=${() => setStatus(a, 'disabled')} />`}
              ${(a.status === 'draining' || a.status === 'disabled') && html`<button type="button" onClick=${() => setStatus(a, 'active')}>Activate</button>`}
            </td>`}
          </tr>`;
        })}
      </tbody>
    </table>`}
  </section>`;
}
