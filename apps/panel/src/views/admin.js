import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, get, qs } from '../api.js';
import { can, state } from '../store.js';
import { Badge, ConfirmButton, ErrorNote, json, short, useLoad } from '../ui.js';

/** Every permission the server checks (apps/server/src/auth/permissions.ts). */
export const ALL_PERMISSIONS = [
  'users:read', 'users:write', 'roles:read', 'roles:write', 'api_keys:read', 'api_keys:write', 'audit:read',
  'agents:read', 'agents:write', 'agents:act', 'tasks:read', 'tasks:write', 'tasks:manage',
  'workflows:read', 'workflows:write', 'pipelines:read', 'pipelines:write', 'pipelines:execute',
  'locks:read', 'locks:write', 'locks:force', 'events:read',
];

function CreateUser({ onCreated }) {
  const empty = { username: '', email: '', password: '', roles: 'viewer' };
  const [f, setF] = useState(empty);
  const [err, setErr] = useState(null);
  const field = (k, label, type = 'text', extra = {}) =>
    html`<label>${label} <input name=${k} type=${type} required=${k !== 'email'} value=${f[k]} onInput=${(e) => setF({ ...f, [k]: e.currentTarget.value })} ...${extra} /></label>`;
  const create = async (e) => {
    e.preventDefault();
    setErr(null);
    try {
      const roles = f.roles.split(',').map((r) => r.trim()).filter(Boolean);
      await api('POST', '/users', { username: f.username, email: f.email || undefined, password: f.password, roles });
      setF(empty);
      onCreated();
    } catch (e2) {
      setErr(e2);
    }
  };
  return html`<form class="inline" onSubmit=${create} aria-label="Create a user">
    ${field('username', 'Username', 'text', { autocomplete: 'off' })} ${field('email', 'Email', 'email')}
    ${field('password', 'Password', 'password', { autocomplete: 'new-password', minlength: 8 })} ${field('roles', 'Roles (comma-separated)')}
    <button type="submit">Create user</button>
    <${ErrorNote} error=${err} />
  </form>`;
}

function Users() {
  const { data, error, reload } = useLoad(() => get('/users?limit=200'), []);
  const write = can('users:write');
  const setDisabled = async (u, disabled) => {
    await api('PATCH', `/users/${u.id}`, { disabled });
    reload();
  };
  return html`<section class="card" aria-labelledby="users-h"><h2 id="users-h">Users</h2>
    <${ErrorNote} error=${error} />
    ${write && html`<${CreateUser} onCreated=${reload} />`}
    ${data && html`<table><thead><tr><th scope="col">Username</th><th scope="col">Email</th><th scope="col">Roles</th><th scope="col">State</th>${write && html`<th scope="col">Actions</th>`}</tr></thead><tbody>
      ${data.users.map((u) => html`<tr data-user=${u.username}><td>${u.username}</td><td>${u.email ?? '—'}</td><td>${(u.roles ?? []).join(', ')}</td><td>${u.disabled ? html`<${Badge} status="disabled" />` : html`<${Badge} status="active" />`}</td>
        ${write && html`<td>${u.id === state.me?.id ? html`<span class="muted">you</span>` : u.disabled
          ? html`<button type="button" onClick=${() => setDisabled(u, false)}>Enable</button>`
          : html`<${ConfirmButton} label="Disable" confirmLabel=${`Disable ${u.username}? Their sessions stop working at once.`} onConfirm=${() => setDisabled(u, true)} />`}</td>`}</tr>`)}
    </tbody></table>`}
  </section>`;
}

function RoleEditor({ role, onSaved }) {
  const [perms, setPerms] = useState(new Set(role.permissions));
  const [msg, setMsg] = useState(null);
  const write = can('roles:write');
  const wildcard = perms.has('*');
  const toggle = (p) => {
    const next = new Set(perms);
    if (next.has(p)) next.delete(p);
    else next.add(p);
    setPerms(next);
  };
  const save = async (e) => {
    e.preventDefault();
    try {
      await api('PATCH', `/roles/${encodeURIComponent(role.name)}`, { permissions: [...perms] });
      setMsg('Saved.');
      onSaved();
    } catch (err) {
      setMsg(err.message);
    }
  };
  return html`<form class="role" onSubmit=${save} aria-label=${`Permissions of role ${role.name}`}>
    <h3>${role.name} <span class="muted">${role.description ?? ''}</span></h3>
    ${wildcard ? html`<p class="muted">Holds every permission (<code>*</code>).</p>` : html`<fieldset><legend class="sr-only">Permissions</legend><div class="checks">
      ${ALL_PERMISSIONS.map((p) => html`<label><input type="checkbox" checked=${perms.has(p)} disabled=${!write} onChange=${() => toggle(p)} /> ${p}</label>`)}
    </div></fieldset>`}
    ${write && !wildcard && html`<button type="submit">Save ${role.name}</button>`} <span role="status">${msg}</span>
  </form>`;
}

function Roles() {
  const { data, error, reload } = useLoad(() => get('/roles?limit=200'), []);
  return html`<section class="card" aria-labelledby="roles-h"><h2 id="roles-h">Roles</h2>
    <${ErrorNote} error=${error} />
    ${data?.roles.map((r) => html`<${RoleEditor} key=${r.name + r.permissions.join()} role=${r} onSaved=${reload} />`)}
  </section>`;
}

function ApiKeys() {
  const { data, error, reload } = useLoad(() => get('/api-keys?limit=200'), []);
  const [name, setName] = useState('');
  const [roles, setRoles] = useState('agent');
  const [created, setCreated] = useState(null);
  const [err, setErr] = useState(null);
  const write = can('api_keys:write');
  const create = async (e) => {
    e.preventDefault();
    setErr(null);
    try {
      setCreated(await api('POST', '/api-keys', { name, roles: roles.split(',').map((r) => r.trim()).filter(Boolean) }));
      setName('');
      reload();
    } catch (e2) {
      setErr(e2);
    }
  };
  return html`<section class="card" aria-labelledby="keys-h"><h2 id="keys-h">API keys</h2>
    <${ErrorNote} error=${error} />
    ${write && html`<form class="inline" onSubmit=${create}>
      <label>Name <input required value=${name} onInput=${(e) => setName(e.currentTarget.value)} /></label>
      <label>Roles (comma-separated) <input value=${roles} onInput=${(e) => setRoles(e.currentTarget.value)} /></label>
      <button type="submit">Create key</button>
    </form>`}
    <${ErrorNote} error=${err} />
    ${created && html`<div class="secret" role="status"><strong>Copy this key now; it is shown only once:</strong> <code data-testid="new-key">${created.key}</code> <button type="button" onClick=${() => setCreated(null)}>Done</button></div>`}
    ${data && html`<table><thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Roles</th><th scope="col">Expires</th>${write && html`<th scope="col">Actions</th>`}</tr></thead><tbody>
      ${data.api_keys.map((k) => html`<tr><td>${k.name}</td><td><code>${k.prefix}</code></td><td>${(k.roles ?? []).join(', ')}</td><td>${k.expires_at ?? 'never'}</td>
        ${write && html`<td><${ConfirmButton} label="Revoke" confirmLabel=${`Revoke ${k.name}? Clients using it stop working.`} onConfirm=${async () => { await api('DELETE', `/api-keys/${k.id}`); reload(); }} /></td>`}</tr>`)}
    </tbody></table>`}
  </section>`;
}

function Audit() {
  const [f, setF] = useState({ action: '', actor_id: '', resource_type: '', outcome: '' });
  const [applied, setApplied] = useState(f);
  const { data, error } = useLoad(() => get(`/audit-events${qs({ ...applied, limit: 100 })}`), [applied]);
  const verify = useLoad(() => get('/audit-events/verify'), []);
  const field = (k, label) => html`<label>${label} <input name=${k} value=${f[k]} onInput=${(e) => setF({ ...f, [k]: e.currentTarget.value })} size="14" /></label>`;
  return html`<section class="card" aria-labelledby="audit-h"><h2 id="audit-h">Audit log</h2>
    <p role="status">Hash chain:
      ${verify.data ? (verify.data.valid ? html` <${Badge} status="valid" /> ${verify.data.checked} events verified` : html` <${Badge} status="invalid" /> broken at seq ${verify.data.first_invalid_seq}`) : verify.error ? verify.error.message : ' checking…'}
      <button type="button" class="gap" onClick=${verify.reload}>Verify again</button></p>
    <form class="filters" onSubmit=${(e) => { e.preventDefault(); setApplied(f); }}>
      ${field('action', 'Action')} ${field('actor_id', 'Actor id')} ${field('resource_type', 'Resource type')}
      <label>Outcome <select value=${f.outcome} onChange=${(e) => setF({ ...f, outcome: e.currentTarget.value })}><option value="">any</option><option>success</option><option>denied</option><option>error</option></select></label>
      <button type="submit">Filter</button>
    </form>
    <${ErrorNote} error=${error} />
    ${data && html`<table class="audit"><thead><tr><th scope="col">Seq</th><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Resource</th><th scope="col">Outcome</th><th scope="col">Details</th></tr></thead><tbody>
      ${data.audit_events.map((a) => html`<tr><td>${a.seq}</td><td>${a.occurred_at}</td><td>${a.actor?.type} <code>${short(a.actor?.id)}</code></td><td><code>${a.action}</code></td><td>${a.resource_type} <code>${short(a.resource_id)}</code></td><td><${Badge} status=${a.outcome} /></td><td><details><summary>details</summary><pre>${json(a.details)}</pre></details></td></tr>`)}
    </tbody></table>`}
  </section>`;
}

export function AdminView() {
  return html`<section aria-labelledby="admin-h">
    <h1 id="admin-h">Administration</h1>
    ${can('users:read') && html`<${Users} />`}
    ${can('roles:read') && html`<${Roles} />`}
    ${can('api_keys:read') && html`<${ApiKeys} />`}
    ${can('audit:read') && html`<${Audit} />`}
  </section>`;
}

export const canSeeAdmin = () => ['users:read', 'roles:read', 'api_keys:read', 'audit:read'].some(can);
export { short };
