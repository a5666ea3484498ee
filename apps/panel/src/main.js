// The AgentManager control panel: Preact + htm (no JSX build step), one page, live over Socket.IO.
import './styles.css';
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { login, logout, onSessionChange } from './api.js';
import { can, start, useStore } from './store.js';
import { Link, navigate, useRoute } from './ui.js';
import { AdminView, canSeeAdmin } from './views/admin.js';
import { AgentsView } from './views/agents.js';
import { LocksView } from './views/locks.js';
import { Overview } from './views/overview.js';
import { PipelinesView, RunDetail } from './views/pipelines.js';
import { TaskDetail, TasksView } from './views/tasks.js';
import { WorkflowDetail, WorkflowsView } from './views/workflows.js';

function Login() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
    } catch (err) {
      setError(err.status === 401 ? 'Wrong username or password.' : err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <form onSubmit=${submit} aria-labelledby="login-h">
      <h1 id="login-h">AgentManager</h1>
      <label>Username <input name="username" autocomplete="username" required value=${username} onInput=${(e) => setUsername(e.currentTarget.value)} /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} /></label>
      <button type="submit" disabled=${busy}>Sign in</button>
      ${error && html`<p role="alert" class="error">${error}</p>`}
    </form>
  </main>`;
}

const CONNECTION_TEXT = { live: 'Live', connecting: 'Connecting…', resyncing: 'Catching up…', offline: 'Offline' };

function Shell() {
  const st = useStore();
  const path = useRoute();
  const [error, setError] = useState(null);
  useEffect(() => {
    start().catch((err) => setError(err.message));
  }, []);
  const nav = [
    ['/', 'Overview', true],
    ['/tasks', 'Tasks', can('tasks:read')],
    ['/agents', 'Agents', can('agents:read')],
    ['/workflows', 'Workflows', can('workflows:read')],
    ['/pipelines', 'Pipelines', can('pipelines:read')],
    ['/locks', 'Locks', can('locks:read')],
    ['/admin', 'Admin', canSeeAdmin()],
  ].filter(([, , ok]) => ok);
  const current = (href) => (href === '/' ? path === '/' : path.startsWith(href));
  let view;
  let m;
  if ((m = path.match(/^\/tasks\/([0-9a-f-]{36})$/))) view = html`<${TaskDetail} id=${m[1]} />`;
  else if (path.startsWith('/tasks')) view = html`<${TasksView} />`;
  else if ((m = path.match(/^\/workflows\/([0-9a-f-]{36})$/))) view = html`<${WorkflowDetail} id=${m[1]} />`;
  else if (path.startsWith('/workflows')) view = html`<${WorkflowsView} />`;
  else if ((m = path.match(/^\/pipelines\/runs\/([0-9a-f-]{36})$/))) view = html`<${RunDetail} id=${m[1]} />`;
  else if (path.startsWith('/pipelines')) view = html`<${PipelinesView} />`;
  else if (path.startsWith('/agents')) view = html`<${AgentsView} />`;
  else if (path.startsWith('/locks')) view = html`<${LocksView} />`;
  else if (path.startsWith('/admin') && canSeeAdmin()) view = html`<${AdminView} />`;
  else view = html`<h1 class="sr-only">Overview</h1><${Overview} />`;
  return html`<a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <span class="brand">AgentManager</span>
      <nav aria-label="Main"><ul>
        ${nav.map(([href, label]) => html`<li><${Link} href=${href} aria-current=${current(href) ? 'page' : undefined}>${label}<//></li>`)}
      </ul></nav>
      <span class=${`conn conn-${st.connection}`} role="status" aria-live="polite" data-connection=${st.connection} title="Live event stream">
        <span class="dot" aria-hidden="true"></span>${CONNECTION_TEXT[st.connection]}
      </span>
      <span class="who">${st.me?.username} <span class="muted">(${(st.me?.roles ?? []).join(', ')})</span></span>
      <button type="button" onClick=${() => { void logout(); navigate('/'); }}>Sign out</button>
    </header>
    <main id="main" tabindex="-1">
      ${error && html`<p role="alert" class="error">${error}</p>`}
      ${st.me ? view : html`<p class="muted">Loading…</p>`}
    </main>`;
}

function App() {
  const [signedIn, setSignedIn] = useState(false);
  useEffect(() => onSessionChange((s) => setSignedIn(!!s)), []);
  return signedIn ? html`<${Shell} />` : html`<${Login} />`;
}

render(html`<${App} />`, document.getElementById('app'));
