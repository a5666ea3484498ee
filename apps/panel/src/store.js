// One in-memory model of the fleet, loaded over REST and kept live by Socket.IO events.
import { useEffect, useState } from 'preact/hooks';
import { io } from 'socket.io-client';
import { accessToken, get, listAll, onSessionChange, optional } from './api.js';

export const state = {
  me: null,
  connection: 'offline', // 'connecting' | 'live' | 'offline' | 'resyncing'
  lastSeq: 0,
  tasks: new Map(),
  agents: new Map(),
  locks: new Map(),
  runs: new Map(),
  workflows: new Map(),
  pipelines: null, // null: the server has no /pipelines; otherwise a list
  completions: [], // timestamps (ms) of task completions, for the throughput sparkline
  loaded: false,
  version: 0,
};

const subscribers = new Set();
let scheduled = false;
/** Batches many events into one render per animation frame. */
export function changed() {
  state.version++;
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const fn of subscribers) fn(state.version);
  });
}

export function useStore() {
  const [, setV] = useState(0);
  useEffect(() => {
    const fn = (v) => setV(v);
    subscribers.add(fn);
    return () => subscribers.delete(fn);
  }, []);
  return state;
}

export function can(permission) {
  const perms = state.me?.permissions ?? [];
  return perms.includes('*') || perms.includes(permission) || perms.includes(`${permission.split(':')[0]}:*`);
}

export function upsertTask(t) {
  const prev = state.tasks.get(t.id);
  if (t.status === 'completed' && prev && prev.status !== 'completed') state.completions.push(Date.now());
  state.tasks.set(t.id, { ...prev, ...t });
  changed();
}

// ---- loading ---------------------------------------------------------------------------------

export async function loadAll() {
  const jobs = [];
  if (can('tasks:read')) {
    jobs.push(
      listAll('/tasks', 'tasks', {}, 20000).then((tasks) => {
        const prev = state.tasks;
        state.tasks = new Map(tasks.map((t) => [t.id, { ...t, ...liveFields(prev.get(t.id), t) }]));
        state.completions = tasks.filter((t) => t.completed_at && t.status === 'completed').map((t) => Date.parse(t.completed_at));
      }),
    );
  }
  if (can('agents:read')) jobs.push(reloadAgents());
  if (can('locks:read')) jobs.push(reloadLocks());
  if (can('workflows:read')) {
    jobs.push(
      optional('/workflows?limit=200').then((page) => {
        state.workflows = new Map((page?.workflows ?? []).map((w) => [w.id, w]));
      }),
    );
  }
  if (can('pipelines:read')) jobs.push(reloadPipelines());
  await Promise.allSettled(jobs);
  state.loaded = true;
  changed();
}

export async function reloadAgents() {
  const agents = await listAll('/agents', 'agents');
  state.agents = new Map(agents.map((a) => [a.id, a]));
  changed();
}

export async function reloadLocks() {
  const page = await get('/locks');
  state.locks = new Map(page.locks.map((l) => [l.id, l]));
  changed();
}

export async function reloadPipelines() {
  const page = await optional('/pipelines?limit=200');
  if (!page) {
    state.pipelines = null;
    return;
  }
  state.pipelines = page.pipelines ?? [];
  // The most recent runs of every pipeline, newest first (one page is plenty for a dashboard).
  const runs = await optional('/pipeline-runs?limit=200');
  for (const r of runs?.runs ?? []) upsertRun(r);
  changed();
}

/**
 * Merges a fetched run into the store. A run only moves forward (stages complete, it ends), so a
 * snapshot that is behind what events already showed keeps the newer progress fields.
 */
export function upsertRun(run) {
  const prev = state.runs.get(run.id);
  const behind = prev && run.status === 'running' && (prev.status !== 'running' || (prev.progress ?? 0) > (run.progress ?? 0));
  const live = behind ? { status: prev.status, progress: prev.progress, current_stage: prev.current_stage, completed_stages: prev.completed_stages } : {};
  state.runs.set(run.id, { ...prev, ...run, ...live });
  changed();
}

export async function loadRun(id) {
  upsertRun(await get(`/pipeline-runs/${id}`));
}

// ---- live events -----------------------------------------------------------------------------

const pending = new Set();
const unknownTasks = new Set();
let unknownTimer = null;
/** New tasks seen in events: a few are fetched one by one, a burst reloads the list once. */
function fetchTaskLater(id) {
  unknownTasks.add(id);
  unknownTimer ??= setTimeout(() => {
    unknownTimer = null;
    const ids = [...unknownTasks];
    unknownTasks.clear();
    if (ids.length <= 20) ids.forEach((x) => fetchLater('task', x));
    else void reloadTasks().catch(() => undefined);
  }, 200);
}

async function reloadTasks() {
  const tasks = await listAll('/tasks', 'tasks', {}, 20000);
  for (const t of tasks) state.tasks.set(t.id, { ...t, ...liveFields(state.tasks.get(t.id), t) });
  changed();
}

/** Keeps fields from events that are newer than a fetched snapshot. */
function liveFields(prev, fetched) {
  if (!prev?.updated_at || !fetched.updated_at || prev.updated_at <= fetched.updated_at) return {};
  return { status: prev.status, progress: prev.progress, attempt: prev.attempt, assigned_agent: prev.assigned_agent };
}

function fetchLater(kind, id) {
  const key = `${kind}:${id}`;
  if (pending.has(key)) return;
  pending.add(key);
  const path = { task: `/tasks/${id}`, agent: `/agents/${id}`, run: `/pipeline-runs/${id}`, workflow: `/workflows/${id}` }[kind];
  void optional(path)
    .then((obj) => {
      if (!obj) return;
      if (kind === 'task') upsertTask({ ...obj, ...liveFields(state.tasks.get(id), obj) });
      if (kind === 'agent') state.agents.set(id, obj);
      if (kind === 'run') upsertRun(obj);
      if (kind === 'workflow') state.workflows.set(id, { ...obj, ...state.workflows.get(id) });
      changed();
    })
    .catch(() => undefined)
    .finally(() => pending.delete(key));
}

let lockReload = null;
function reloadLocksSoon() {
  if (lockReload) return;
  lockReload = setTimeout(() => {
    lockReload = null;
    void reloadLocks().catch(() => undefined);
  }, 150);
}

let pipelinesReload = null;
function reloadPipelinesSoon() {
  pipelinesReload ??= setTimeout(() => {
    pipelinesReload = null;
    void reloadPipelines().catch(() => undefined);
  }, 300);
}

export function applyEvent(e) {
  if (typeof e.seq === 'number') {
    if (e.seq <= state.lastSeq) return; // already applied (live and replayed overlap)
    state.lastSeq = e.seq;
  }
  switch (e.type) {
    case 'task_update': {
      const known = state.tasks.get(e.task_id);
      const patch = { id: e.task_id, status: e.status, progress: e.progress, attempt: e.attempt, assigned_agent: e.assigned_agent, updated_at: e.timestamp };
      // Only defined links, so an event never blanks what a fetched task already knows.
      for (const k of ['pipeline_id', 'run_id', 'workflow_id']) if (e[k]) patch[k] = e[k];
      if (e.status === 'completed') patch.completed_at = e.timestamp;
      upsertTask(patch);
      if (!known?.type) fetchTaskLater(e.task_id);
      break;
    }
    case 'agent_update': {
      const a = state.agents.get(e.agent_id);
      if (a) state.agents.set(e.agent_id, { ...a, status: e.status, current_load: e.current_load, last_heartbeat: e.timestamp });
      else fetchLater('agent', e.agent_id);
      break;
    }
    case 'lock_update':
      if (e.state === 'acquired') state.locks.set(e.lock_id, { id: e.lock_id, path: e.path, access: e.access, holder: e.holder, ...state.locks.get(e.lock_id) });
      else state.locks.delete(e.lock_id);
      reloadLocksSoon();
      break;
    case 'pipeline_progress': {
      const r = state.runs.get(e.run_id);
      state.runs.set(e.run_id, { ...r, id: e.run_id, pipeline_id: e.pipeline_id, status: e.status, current_stage: e.current_stage, completed_stages: e.completed_stages, progress: e.progress });
      // The event carries no per-stage detail (timestamps, skipped stages): fetch the run once more.
      fetchLater('run', e.run_id);
      // A run of a pipeline defined after the panel loaded: no event announces definitions.
      if (state.pipelines && !state.pipelines.some((p) => p.id === e.pipeline_id)) reloadPipelinesSoon();
      break;
    }
    case 'workflow_update': {
      const w = state.workflows.get(e.workflow_id);
      state.workflows.set(e.workflow_id, { ...w, id: e.workflow_id, status: e.status, completed_tasks: e.completed_tasks, total_tasks: e.total_tasks });
      if (!w?.created_at) fetchLater('workflow', e.workflow_id); // created after the panel loaded
      break;
    }
    default:
      break;
  }
  changed();
}

let socket = null;
let everConnected = false;
let held = null; // live events held back during a replay

async function replay() {
  // Catch up on everything missed while disconnected, oldest first.
  let after = state.lastSeq;
  for (let i = 0; i < 100; i++) {
    const page = await get(`/events?after=${after}&limit=1000`);
    for (const e of page.events) applyEvent(e);
    if (!page.next_cursor) break;
    after = page.next_cursor;
  }
}

export function connect() {
  disconnect();
  if (!can('events:read')) {
    state.connection = 'offline';
    changed();
    return;
  }
  state.connection = 'connecting';
  changed();
  socket = io({ auth: (cb) => cb({ token: accessToken() }), transports: ['websocket', 'polling'], reconnectionDelayMax: 3000 });
  socket.on('connect', () => {
    // Live events that arrive while the replay is in flight wait behind it: applied first, a newer
    // live event would move lastSeq past the missed ones and the replay would drop them as seen.
    held = everConnected ? [] : null;
    socket.emit('subscribe', { channel: 'all' }, async () => {
      if (everConnected) {
        state.connection = 'resyncing';
        changed();
        try {
          // With a known seq, replay what was missed; before the first event, reload instead.
          if (state.lastSeq > 0) await replay();
          else await loadAll();
        } catch {
          /* the next reconnect tries again */
        }
        const waiting = held ?? [];
        held = null;
        for (const e of waiting) applyEvent(e);
      }
      everConnected = true;
      state.connection = socket?.connected ? 'live' : 'offline';
      changed();
    });
  });
  socket.on('disconnect', (reason) => {
    state.connection = 'offline';
    changed();
    // A disconnect the server chose (shutdown, a cut socket) is not retried by socket.io itself;
    // come back like after a network drop (a restarted or other instance answers).
    if (reason === 'io server disconnect') setTimeout(() => socket?.connect(), 500 + Math.random() * 1000);
  });
  socket.on('connect_error', () => {
    state.connection = 'offline';
    changed();
  });
  const live = (e) => (held ? held.push(e) : applyEvent(e));
  for (const type of ['task_update', 'agent_update', 'lock_update', 'pipeline_progress', 'workflow_update']) socket.on(type, live);
}

export function disconnect() {
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
    socket = null;
  }
  everConnected = false;
  held = null;
}

onSessionChange((s) => {
  if (!s) {
    disconnect();
    state.me = null;
    state.tasks = new Map();
    state.agents = new Map();
    state.locks = new Map();
    state.runs = new Map();
    state.workflows = new Map();
    state.lastSeq = 0;
    state.loaded = false;
    state.connection = 'offline';
    changed();
  }
});

/** After login: who am I, then events (so nothing is missed while loading), then the data. */
export async function start() {
  state.me = await get('/auth/me');
  changed();
  connect();
  await loadAll();
}
