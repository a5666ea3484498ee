// Pipelines: definitions (stage graph), execute with input JSON, runs with progress per stage.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { can, changed, loadRun, reloadPipelines, upsertRun, useStore } from '../store.js';
import { ago, Badge, ConfirmButton, ErrorNote, json, Link, Progress, short } from '../ui.js';
import { Dag } from './workflows.js';

/** A stage's live status: the stage task's latest event wins over the run snapshot. */
function stageStatus(st, s) {
  if (s.status === 'skipped') return 'skipped';
  return st.tasks.get(s.task_id)?.status ?? s.status ?? 'pending';
}

/** Stage nodes for the graph; `dependencies` name stages, runs name them by index. */
function definitionNodes(p) {
  const deps = new Map(p.stages.map((s) => [s.name, []]));
  for (const d of p.dependencies ?? []) deps.get(d.to)?.push(d.from);
  return p.stages.map((s) => ({ key: s.name, status: 'stage', sub: `type ${s.type}${s.required === false ? ' · optional' : ''}`, deps: deps.get(s.name) ?? [] }));
}

function runNodes(st, run) {
  const names = new Map(run.stages.map((s) => [s.index, s.name]));
  return run.stages.map((s) => ({ key: s.name, status: stageStatus(st, s), deps: (s.depends_on ?? []).map((i) => names.get(i)) }));
}

function parseJson(text, field) {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${field} is not valid JSON: ${err.message}`, { cause: err });
  }
}

function ExecuteForm({ pipeline }) {
  const [input, setInput] = useState('{}');
  const [params, setParams] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [started, setStarted] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const body = { input_data: parseJson(input, 'Input'), parameters: parseJson(params, 'Parameters') };
      const run = await api('POST', `/pipelines/${pipeline.id}/execute`, body);
      upsertRun(run);
      setStarted(run);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const id = `exec-${pipeline.id}`;
  return html`<form class="execute" onSubmit=${submit} aria-label=${`Execute ${pipeline.name}`}>
    <label for=${`${id}-in`}>Input data (JSON)</label>
    <textarea id=${`${id}-in`} name="input_data" rows="3" spellcheck="false" value=${input} onInput=${(e) => setInput(e.currentTarget.value)}></textarea>
    <label for=${`${id}-params`}>Parameters (JSON, optional)</label>
    <textarea id=${`${id}-params`} name="parameters" rows="2" spellcheck="false" value=${params} onInput=${(e) => setParams(e.currentTarget.value)}></textarea>
    <div><button type="submit" disabled=${busy}>Execute ${pipeline.name}</button>
      ${started && html` <span role="status">Started <${Link} href=${`/pipelines/runs/${started.id}`}>run ${short(started.id)}<//>.</span>`}</div>
    <${ErrorNote} error=${error} />
  </form>`;
}

function Definition({ pipeline }) {
  return html`<section class="card" aria-labelledby=${`p-${pipeline.id}`} data-pipeline=${pipeline.id}>
    <h2 id=${`p-${pipeline.id}`}>${pipeline.name} <span class="muted">v${pipeline.version ?? 1} · ${pipeline.stages.length} stages</span></h2>
    ${pipeline.description && html`<p>${pipeline.description}</p>`}
    <div class="dag-wrap"><${Dag} nodes=${definitionNodes(pipeline)} label=${`Stages of pipeline ${pipeline.name}`} /></div>
    ${can('pipelines:execute') && html`<${ExecuteForm} pipeline=${pipeline} />`}
  </section>`;
}

/** One row per stage, in order, coloured by status: the run's progress per stage. */
function StageChips({ st, run }) {
  return html`<ol class="stages" aria-label="Stages">
    ${(run.stages ?? []).map((s) => {
      const status = stageStatus(st, s);
      return html`<li data-stage=${s.name} data-status=${status}><${Badge} status=${status} /> ${s.name}</li>`;
    })}
  </ol>`;
}

function cancelRun(run) {
  return api('POST', `/pipeline-runs/${run.id}/cancel`).then((r) => {
    upsertRun(r);
    changed();
  });
}

function RunsTable({ st, runs }) {
  const name = (r) => (st.pipelines ?? []).find((p) => p.id === r.pipeline_id)?.name ?? short(r.pipeline_id);
  const exec = can('pipelines:execute');
  return html`<table class="runs-table"><thead><tr><th scope="col">Run</th><th scope="col">Pipeline</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">Stages</th><th scope="col">Started</th>${exec && html`<th scope="col">Actions</th>`}</tr></thead><tbody>
    ${runs.map((r) => html`<tr data-run=${r.id} data-status=${r.status}>
      <td><${Link} href=${`/pipelines/runs/${r.id}`} aria-label=${`Run ${r.id}`}><code>${short(r.id)}</code><//></td>
      <td>${name(r)}</td>
      <td><${Badge} status=${r.status} /></td>
      <td><${Progress} value=${r.progress} label=${`Progress of run ${r.id}`} /></td>
      <td><${StageChips} st=${st} run=${r} /></td>
      <td>${ago(r.created_at)}</td>
      ${exec && html`<td>${r.status === 'running' && html`<${ConfirmButton} label="Cancel run" confirmLabel="Cancel this run and its open stages?" onConfirm=${() => cancelRun(r)} />`}</td>`}
    </tr>`)}
  </tbody></table>`;
}

export function PipelinesView() {
  const st = useStore();
  // Definitions have no events: refresh them whenever the view opens.
  useEffect(() => {
    void reloadPipelines().catch(() => undefined);
  }, []);
  if (st.pipelines === null) return html`<p class="muted">This server has no pipelines API.</p>`;
  const runs = [...st.runs.values()].sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? '')).slice(0, 100);
  return html`<section aria-labelledby="pl-h">
    <h1 id="pl-h">Pipelines <span class="pill">${st.pipelines.length}</span></h1>
    <section class="card" aria-labelledby="runs-h"><h2 id="runs-h">Runs</h2>
      ${runs.length === 0 ? html`<p class="muted">No run yet.</p>` : html`<${RunsTable} st=${st} runs=${runs} />`}
    </section>
    ${st.pipelines.length === 0 ? html`<p class="muted">No pipeline is defined.</p>` : st.pipelines.map((p) => html`<${Definition} key=${p.id} pipeline=${p} />`)}
  </section>`;
}

export function RunDetail({ id }) {
  const st = useStore();
  const run = st.runs.get(id);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!st.runs.get(id)?.stages) loadRun(id).catch(setError);
  }, [id]);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!run?.stages) return html`<p class="muted">Loading run…</p>`;
  const pipeline = (st.pipelines ?? []).find((p) => p.id === run.pipeline_id);
  return html`<section aria-labelledby="run-h">
    <p><${Link} href="/pipelines">← All pipelines<//></p>
    <h1 id="run-h">Run <code>${short(run.id)}</code> <span class="muted">${pipeline?.name ?? ''} v${run.pipeline_version}</span> <${Badge} status=${run.status} /></h1>
    <${Progress} value=${run.progress} label=${`Progress of run ${run.id}`} />
    <p><${Link} href=${`/tasks?group=run:${run.id}`}>Tasks of this run<//></p>
    ${can('pipelines:execute') && run.status === 'running' && html`<div class="actions"><${ConfirmButton} label="Cancel run" confirmLabel="Cancel this run and its open stages?" onConfirm=${() => cancelRun(run)} /></div>`}
    <div class="card dag-wrap"><${Dag} nodes=${runNodes(st, run)} label=${`Stages of run ${run.id}`} /></div>
    <section class="card" aria-label="Stages"><table><thead><tr><th scope="col">#</th><th scope="col">Stage</th><th scope="col">Status</th><th scope="col">Task</th><th scope="col">Started</th><th scope="col">Completed</th></tr></thead><tbody>
      ${run.stages.map((s) => html`<tr data-stage=${s.name}><td>${s.index}</td><td>${s.name} ${s.required === false ? html`<span class="muted">(optional)</span>` : ''}</td><td><${Badge} status=${stageStatus(st, s)} /></td>
        <td><${Link} href=${`/tasks/${s.task_id}`}><code>${short(s.task_id)}</code><//></td><td>${s.started_at ?? '—'}</td><td>${s.completed_at ?? '—'}</td></tr>`)}
    </tbody></table></section>
    <div class="two">
      <section class="card"><h2>Input</h2><pre>${json(run.input_data)}</pre></section>
      <section class="card"><h2>Output</h2><pre>${json(run.output_data)}</pre></section>
    </div>
    ${run.error && html`<section class="card"><h2>Error</h2><pre class="err">${json(run.error)}</pre></section>`}
  </section>`;
}
