import { html } from 'htm/preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, get, qs } from '../api.js';
import { can, upsertTask, useStore } from '../store.js';
import { ago, Badge, ConfirmButton, ErrorNote, json, Link, navigate, Progress, short, useLoad } from '../ui.js';

const STATUSES = ['pending', 'ready', 'running', 'retrying', 'completed', 'failed', 'cancelled'];
const ROW = 34; // px; fixed row height makes the table virtualisable
const VIEW_ROWS = 18;
const OVERSCAN = 8;

/** Render timings of the task table, read by the browser e2e test (and handy in devtools). */
const perf = (window.__panelPerf ??= { tableRenders: [], scrollRenders: [], scrollAt: 0 });
const keepLast = (list, n = 50) => list.length > n && list.shift();

function readFilters() {
  const p = new URLSearchParams(location.search);
  return { status: p.get('status') ?? '', type: p.get('type') ?? '', agent: p.get('agent') ?? '', group: p.get('group') ?? '' };
}

/** The pipeline/workflow filter: `pipeline:<id>`, `run:<id>` or `workflow:<id>`, matched on the task's link field. */
function inGroup(t, group) {
  if (!group) return true;
  const [kind, id] = group.split(':');
  return t[`${kind}_id`] === id;
}

function GroupOptions({ st }) {
  const pipelines = st.pipelines ?? [];
  const workflows = [...st.workflows.values()];
  return html`<option value="">any</option>
    ${pipelines.length > 0 && html`<optgroup label="Pipelines">${pipelines.map((p) => html`<option value=${`pipeline:${p.id}`}>${p.name}</option>`)}</optgroup>`}
    ${workflows.length > 0 && html`<optgroup label="Workflows">${workflows.map((w) => html`<option value=${`workflow:${w.id}`}>${w.name || short(w.id)}</option>`)}</optgroup>`}`;
}

export function TasksView() {
  const st = useStore();
  const [filters, setFilters] = useState(readFilters);
  const [scrollTop, setScrollTop] = useState(0);
  const scroller = useRef(null);
  const started = useRef(0);

  useEffect(() => {
    navigate(`/tasks${qs(filters)}`);
  }, [filters]);

  const all = st.tasks;
  const version = st.version;
  const types = useMemo(() => [...new Set([...all.values()].map((t) => t.type).filter(Boolean))].sort(), [version]);
  const rows = useMemo(() => {
    started.current = performance.now();
    const out = [];
    for (const t of all.values()) {
      if (filters.status && t.status !== filters.status) continue;
      if (filters.type && t.type !== filters.type) continue;
      if (filters.agent && !(t.assigned_agent ?? '').startsWith(filters.agent)) continue;
      if (!inGroup(t, filters.group)) continue;
      out.push(t);
    }
    return out.sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? ''));
  }, [version, filters]);

  useLayoutEffect(() => {
    perf.tableRenders.push({ rows: rows.length, ms: performance.now() - started.current });
    keepLast(perf.tableRenders);
  }, [rows]);

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(rows.length, first + VIEW_ROWS + OVERSCAN * 2);
  const visible = rows.slice(first, last);
  // Scroll event → committed rows: the JavaScript cost of one scroll step.
  useLayoutEffect(() => {
    if (!perf.scrollAt) return;
    perf.scrollRenders.push(performance.now() - perf.scrollAt);
    perf.scrollAt = 0;
    keepLast(perf.scrollRenders);
  }, [first]);
  const onScroll = (e) => {
    perf.scrollAt ||= performance.now();
    setScrollTop(e.currentTarget.scrollTop);
  };
  const set = (k) => (e) => {
    setFilters({ ...filters, [k]: e.currentTarget.value });
    if (scroller.current) scroller.current.scrollTop = 0;
    setScrollTop(0);
  };

  return html`<section aria-labelledby="tasks-h">
    <h1 id="tasks-h">Tasks</h1>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label>Status <select name="status" value=${filters.status} onChange=${set('status')}>
        <option value="">any</option>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <label>Type <select name="type" value=${filters.type} onChange=${set('type')}>
        <option value="">any</option>${types.map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <label>Pipeline / workflow <select name="group" value=${filters.group} onChange=${set('group')}>
        <${GroupOptions} st=${st} />${filters.group.startsWith('run:') && html`<option value=${filters.group}>run ${short(filters.group.slice(4))}</option>`}
      </select></label>
      <label>Agent id <input name="agent" value=${filters.agent} onInput=${set('agent')} placeholder="id or prefix" size="14" /></label>
      <span class="muted" aria-live="polite">${rows.length} of ${all.size} tasks</span>
    </form>
    <div class="table-scroll" ref=${scroller} style=${{ height: `${VIEW_ROWS * ROW + 40}px` }} onScroll=${onScroll} tabindex="0" aria-label="Task list, scrollable">
      <table class="tasks" aria-rowcount=${rows.length + 1}>
        <colgroup><col style="width:11%" /><col style="width:17%" /><col style="width:12%" /><col style="width:9%" /><col style="width:9%" /><col style="width:9%" /><col style="width:13%" /><col style="width:20%" /></colgroup>
        <thead><tr><th scope="col">Id</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Priority</th><th scope="col">Progress</th><th scope="col">Attempt</th><th scope="col">Agent</th><th scope="col">Created</th></tr></thead>
        <tbody>
          ${first > 0 && html`<tr class="spacer" aria-hidden="true"><td colspan="8" style=${{ height: `${first * ROW}px` }}></td></tr>`}
          ${visible.map(
            (t, i) => html`<tr key=${t.id} data-task=${t.id} data-status=${t.status} aria-rowindex=${first + i + 2}>
              <td><${Link} href=${`/tasks/${t.id}`} aria-label=${`Task ${t.id}`}><code>${short(t.id)}</code><//></td>
              <td>${t.type ?? '…'}</td>
              <td><${Badge} status=${t.status} /></td>
              <td>${t.priority ?? ''}</td>
              <td>${Math.round((t.progress ?? 0) * 100)}%</td>
              <td>${t.attempt ?? 0}/${t.max_attempts ?? '?'}</td>
              <td>${t.assigned_agent ? html`<code>${short(t.assigned_agent)}</code>` : '—'}</td>
              <td>${ago(t.created_at)}</td>
            </tr>`,
          )}
          ${last < rows.length && html`<tr class="spacer" aria-hidden="true"><td colspan="8" style=${{ height: `${(rows.length - last) * ROW}px` }}></td></tr>`}
        </tbody>
      </table>
      ${rows.length === 0 && html`<p class="muted empty">${st.loaded ? 'No task matches these filters.' : 'Loading…'}</p>`}
    </div>
  </section>`;
}

// ---- detail -------------------------------------------------------------------------------------

function Timeline({ history }) {
  const its = history?.iterations ?? [];
  if (!its.length && history?.final_result === undefined) return html`<p class="muted">No reasoning history was reported.</p>`;
  return html`<ol class="timeline">
    ${its.map(
      (it, i) => html`<li>
        <div class="step-n">#${i + 1} <span class="muted">${it.timestamp ?? ''}</span></div>
        <div class="tl thought"><strong>Thought</strong><p>${it.thought}</p></div>
        <div class="tl action"><strong>Action</strong><pre>${typeof it.action === 'string' ? it.action : json(it.action)}</pre></div>
        <div class="tl observation"><strong>Observation</strong><pre>${typeof it.observation === 'string' ? it.observation : json(it.observation)}</pre></div>
      </li>`,
    )}
    ${history?.final_result !== undefined && html`<li class="final"><strong>Final result</strong><pre>${json(history.final_result)}</pre></li>`}
  </ol>`;
}

const COMPAT = { read: { read: true, write: true, exclusive: false }, write: { read: true, write: false, exclusive: false }, exclusive: { read: false, write: false, exclusive: false } };
function covers(lockPath, path) {
  return lockPath === path || (lockPath.endsWith('/') && path.startsWith(lockPath)) || (path.endsWith('/') && lockPath.startsWith(path));
}

/** Why is this ready task not being claimed? Capabilities, agent availability, blocking locks. */
function WhyNotClaimed({ task }) {
  const caps = task.required_capabilities?.length ? task.required_capabilities : [task.type];
  const { data, error } = useLoad(async () => {
    const perCap = await Promise.all(caps.map((c) => get(`/agents${qs({ capability: c, limit: 200 })}`).then((p) => p.agents)));
    const byId = new Map();
    for (const a of perCap.flat()) byId.set(a.id, a);
    const capable = [...byId.values()].filter((a) => caps.every((c) => a.capabilities.includes(c)));
    const locks = can('locks:read')
      ? (await Promise.all((task.file_dependencies ?? []).map((d) => get(`/locks${qs({ path: d.path })}`).then((p) => p.locks.map((l) => ({ dep: d, lock: l })))))).flat()
      : [];
    const blocking = locks.filter(({ dep, lock }) => covers(lock.path, dep.path) && !COMPAT[lock.access]?.[dep.access] && lock.task_id !== task.id);
    return { capable, blocking };
  }, [task.id, task.status]);
  const now = Date.now();
  const notYet = task.next_attempt_at && Date.parse(task.next_attempt_at) > now ? task.next_attempt_at : task.run_at && Date.parse(task.run_at) > now ? task.run_at : null;
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!data) return html`<p class="muted">Checking agents and locks…</p>`;
  const reason = (a) =>
    a.status === 'draining' ? 'draining: takes no new tasks' : a.status === 'offline' ? 'offline: missed its heartbeats' : a.status === 'disabled' ? 'disabled' : a.running_tasks >= a.max_parallel_tasks ? `busy: ${a.running_tasks}/${a.max_parallel_tasks} tasks` : 'free: should claim it on its next poll';
  const free = data.capable.filter((a) => a.status === 'active' && a.running_tasks < a.max_parallel_tasks);
  return html`<div class="why" aria-live="polite">
    <p>Needs capabilities ${caps.map((c) => html`<code class="cap">${c}</code> `)}.</p>
    ${notYet && html`<p>⏳ Not due until ${notYet}.</p>`}
    ${data.capable.length === 0
      ? html`<p class="warn"><strong>No registered agent has all of these capabilities.</strong></p>`
      : html`<ul class="plain">${data.capable.map((a) => html`<li><${Link} href="/agents">${a.name}<//> <${Badge} status=${a.status} /> — ${reason(a)}</li>`)}</ul>`}
    ${data.capable.length > 0 && free.length === 0 && html`<p class="warn"><strong>Every capable agent is busy, draining, offline or disabled.</strong></p>`}
    ${(task.file_dependencies ?? []).length > 0 &&
    (data.blocking.length
      ? html`<p class="warn"><strong>Blocked by file locks:</strong></p><ul class="plain">${data.blocking.map(({ dep, lock }) => html`<li><code>${lock.path}</code> held (${lock.access}) by ${lock.holder.type} <code>${short(lock.holder.id)}</code>; the task wants ${dep.access} on <code>${dep.path}</code></li>`)}</ul>`
      : html`<p>No file lock blocks its ${task.file_dependencies.length} file dependencies.</p>`)}
  </div>`;
}

export function TaskDetail({ id }) {
  const st = useStore();
  const live = st.tasks.get(id);
  const { data, error, reload } = useLoad(() => get(`/tasks/${id}`), [id, live?.status, live?.attempt]);
  useEffect(() => {
    if (data) upsertTask(data);
  }, [data]);
  if (error) return html`<${ErrorNote} error=${error} />`;
  const t = data ? { ...data, ...live, logs: data.logs, result: data.result, error: data.error, ra_history: data.ra_history } : live;
  if (!t) return html`<p class="muted">Loading task…</p>`;
  const act = async (verb) => {
    upsertTask(await api('POST', `/tasks/${id}/${verb}`));
    reload();
  };
  const manage = can('tasks:manage');
  const cancellable = ['pending', 'ready', 'running', 'retrying'].includes(t.status);
  const retryable = ['failed', 'cancelled'].includes(t.status);
  return html`<section aria-labelledby="task-h" class="detail">
    <p><${Link} href="/tasks">← All tasks<//></p>
    <h1 id="task-h">Task <code>${short(t.id)}</code> <span class="muted">${t.type}</span> <span data-testid="task-status"><${Badge} status=${t.status} /></span></h1>
    <div class="actions">
      ${manage && cancellable && html`<${ConfirmButton} label="Cancel task" confirmLabel="Cancel this task? A running holder is told to stop." onConfirm=${() => act('cancel')} />`}
      ${manage && retryable && html`<${ConfirmButton} label="Retry task" confirmLabel="Put this task back in the queue?" onConfirm=${() => act('retry')} />`}
    </div>
    <dl class="facts">
      <div><dt>Id</dt><dd><code>${t.id}</code></dd></div>
      <div><dt>Priority</dt><dd>${t.priority}</dd></div>
      <div><dt>Progress</dt><dd><${Progress} value=${t.progress} label="Task progress" /></dd></div>
      <div><dt>Attempt</dt><dd>${t.attempt} of ${t.max_attempts}</dd></div>
      <div><dt>Agent</dt><dd>${t.assigned_agent ? html`<code>${t.assigned_agent}</code>` : '—'}</dd></div>
      <div><dt>Lease expires</dt><dd>${t.lease_expires_at ?? '—'}</dd></div>
      <div><dt>Created</dt><dd>${t.created_at}</dd></div>
      <div><dt>Started</dt><dd>${t.started_at ?? '—'}</dd></div>
      <div><dt>Completed</dt><dd>${t.completed_at ?? '—'}</dd></div>
      <div><dt>Next attempt</dt><dd>${t.next_attempt_at ?? '—'}</dd></div>
      ${t.workflow_id && html`<div><dt>Workflow</dt><dd><${Link} href=${`/workflows/${t.workflow_id}`}>${short(t.workflow_id)}<//></dd></div>`}
      ${t.run_id && html`<div><dt>Pipeline run</dt><dd><code>${short(t.run_id)}</code> stage ${t.stage}</dd></div>`}
    </dl>
    ${t.status === 'ready' && html`<section class="card"><h2>Why is this not claimed?</h2><${WhyNotClaimed} task=${t} /></section>`}
    ${t.error && html`<section class="card"><h2>Error</h2><pre class="err">${json(t.error)}</pre></section>`}
    <div class="two">
      <section class="card"><h2>Payload</h2><pre>${json(t.payload)}</pre></section>
      <section class="card"><h2>Result</h2><pre>${json(t.result)}</pre></section>
    </div>
    <section class="card"><h2>Reasoning (thought → action → observation)</h2><${Timeline} history=${t.ra_history} /></section>
    <section class="card"><h2>Logs</h2>
      ${(t.logs ?? []).length === 0 ? html`<p class="muted">No log lines.</p>` : html`<table class="logs"><thead><tr><th scope="col">Time</th><th scope="col">Attempt</th><th scope="col">Level</th><th scope="col">Message</th></tr></thead><tbody>
        ${t.logs.map((l) => html`<tr><td>${l.timestamp}</td><td>${l.attempt}</td><td><${Badge} status=${l.level} /></td><td>${l.message}</td></tr>`)}
      </tbody></table>`}
    </section>
  </section>`;
}
