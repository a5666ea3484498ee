import { html } from 'htm/preact';
import { api } from '../api.js';
import { can, changed, state, useStore } from '../store.js';
import { Badge, ConfirmButton, fmtDuration, short, useTick } from '../ui.js';

/** Groups locks into a directory tree by path segment. */
function buildTree(locks) {
  const root = { name: '', children: new Map(), locks: [] };
  for (const l of locks) {
    const parts = l.path.replace(/\/$/, '').split('/').filter(Boolean);
    let node = root;
    for (const p of parts) {
      if (!node.children.has(p)) node.children.set(p, { name: p, children: new Map(), locks: [] });
      node = node.children.get(p);
    }
    node.locks.push(l);
  }
  return root;
}

function Node({ node, depth, now, force }) {
  const kids = [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name));
  return html`<li role="treeitem" aria-expanded=${kids.length ? 'true' : undefined} aria-level=${depth}>
    <span class="seg">${node.name}${kids.length ? '/' : ''}</span>
    ${node.locks.map((l) => {
      const left = l.expires_at ? Math.max(0, Math.round((Date.parse(l.expires_at) - now) / 1000)) : null;
      return html`<div class="lock" data-lock=${l.id}>
        <code>${l.path}</code> <${Badge} status=${l.access} />
        <span>held by ${l.holder?.type} <code>${short(l.holder?.id)}</code></span>
        ${l.task_id && html`<span class="muted">task <code>${short(l.task_id)}</code></span>`}
        <span class=${left !== null && left < 60 ? 'warn' : 'muted'} aria-label="Time until expiry">${left === null ? '' : `expires in ${fmtDuration(left)}`}</span>
        <span class="muted">token ${l.fencing_token ?? ''}</span>
        ${force && html`<${ConfirmButton} label="Force release" confirmLabel=${`Release ${l.path}? The holder loses it at once.`} onConfirm=${async () => {
          await api('DELETE', `/locks/${l.id}`);
          state.locks.delete(l.id);
          changed();
        }} />`}
      </div>`;
    })}
    ${kids.length > 0 && html`<ul role="group">${kids.map((k) => html`<${Node} node=${k} depth=${depth + 1} now=${now} force=${force} />`)}</ul>`}
  </li>`;
}

export function LocksView() {
  const st = useStore();
  const now = useTick(1000);
  const locks = [...st.locks.values()].filter((l) => !l.expires_at || Date.parse(l.expires_at) > now);
  const tree = buildTree(locks);
  const force = can('locks:force');
  return html`<section aria-labelledby="locks-h">
    <h1 id="locks-h">File locks <span class="pill">${locks.length}</span></h1>
    ${locks.length === 0
      ? html`<p class="muted">No file is locked.</p>`
      : html`<ul class="tree" role="tree" aria-label="Locked paths">
          ${[...tree.children.values()].map((k) => html`<${Node} node=${k} depth=${1} now=${now} force=${force} />`)}
          ${tree.locks.length > 0 && html`<${Node} node=${{ name: '/', children: new Map(), locks: tree.locks }} depth=${1} now=${now} force=${force} />`}
        </ul>`}
  </section>`;
}
