import {
  type AuthHeader,
  claimTasks,
  completeTask,
  createApiKey,
  createUser,
  eventually,
  expectError,
  failTask,
  loginAdmin,
  registerAgent,
  type Session,
  uniqueName,
} from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';

type Task = { id: string; key: string | null; status: string; attempt: number; payload: Record<string, unknown>; depends_on: string[]; [k: string]: unknown };
type Workflow = {
  id: string;
  status: string;
  total_tasks: number;
  completed_tasks: number;
  rework_cycle: number;
  tasks: Task[];
  audit_reports: Record<string, unknown>[];
  error: { code: string; message: string } | null;
  [k: string]: unknown;
};

describe('workflows (e2e)', () => {
  let app: TestApp;
  let operator: Session;
  let viewer: Session;
  let key: AuthHeader;

  beforeAll(async () => {
    app = await createTestApp({ env: { SWEEP_INTERVAL_MS: '200' } });
    const admin = await loginAdmin(app);
    operator = await createUser(app, admin, ['operator']);
    viewer = await createUser(app, admin, ['viewer']);
    key = (await createApiKey(app, admin, ['agent'])).auth;
  });
  afterAll(() => app.close());

  async function worker(capabilities: string[]) {
    return (await registerAgent(app, key, { capabilities, max_parallel_tasks: 20 })).id;
  }
  const getWf = async (id: string): Promise<Workflow> => {
    const res = await app.http.get(`/api/v1/workflows/${id}`).set(viewer.auth);
    expect(res.status).toBe(200);
    return res.body as Workflow;
  };
  const byKey = (wf: Workflow) => Object.fromEntries(wf.tasks.map((t) => [t.key, t]));
  const statuses = (wf: Workflow) => Object.fromEntries(wf.tasks.map((t) => [t.key, t.status]));
  const create = (body: Record<string, unknown>, auth = operator.auth) => app.http.post('/api/v1/workflows').set(auth).send(body);
  async function claimKeys(agent: string): Promise<Map<string, Task>> {
    const claimed = (await claimTasks(app, key, agent, { max_tasks: 20 })) as unknown as Task[];
    return new Map(claimed.map((t) => [t.key ?? t.type, t] as [string, Task]));
  }

  it('runs a diamond in dependency order with fan-in, and completes', async () => {
    const type = uniqueName('wf');
    const agent = await worker([type]);
    const res = await create({
      name: 'diamond',
      tasks: [
        { key: 'd', type, depends_on: ['b', 'c'], payload: { step: 'd' } },
        { key: 'b', type, depends_on: ['a'] },
        { key: 'c', type, depends_on: ['a'] },
        { key: 'a', type, description: 'the root' },
      ],
    });
    expect(res.status).toBe(201);
    const wf = res.body as Workflow;
    expect(wf).toMatchObject({ status: 'running', total_tasks: 4, completed_tasks: 0, rework_cycle: 0, audit_reports: [] });
    expect(statuses(wf)).toEqual({ a: 'ready', b: 'pending', c: 'pending', d: 'pending' });
    const t = byKey(wf);
    expect(new Set(t.d.depends_on)).toEqual(new Set([t.b.id, t.c.id]));
    expect(t.d.payload).toEqual({ step: 'd' });
    expect(t.a.workflow_id).toBe(wf.id);

    let claimed = await claimKeys(agent);
    expect([...claimed.keys()]).toEqual(['a']);
    await completeTask(app, key, claimed.get('a')!, agent, { a: 1 });
    expect(statuses(await getWf(wf.id))).toEqual({ a: 'completed', b: 'ready', c: 'ready', d: 'pending' });

    claimed = await claimKeys(agent);
    expect(new Set(claimed.keys())).toEqual(new Set(['b', 'c']));
    await completeTask(app, key, claimed.get('b')!, agent);
    // Fan-in: d waits for both.
    expect((await getWf(wf.id)).tasks.find((x) => x.key === 'd')!.status).toBe('pending');
    expect(await claimKeys(agent)).toEqual(new Map());
    await completeTask(app, key, claimed.get('c')!, agent);
    const mid = await getWf(wf.id);
    expect(statuses(mid).d).toBe('ready');
    expect(mid).toMatchObject({ status: 'running', completed_tasks: 3 });

    claimed = await claimKeys(agent);
    await completeTask(app, key, claimed.get('d')!, agent);
    const done = await getWf(wf.id);
    expect(done).toMatchObject({ status: 'completed', completed_tasks: 4, total_tasks: 4, completed_at: expect.any(String) });

    const events = await eventually(async () => {
      const res = await app.http.get('/api/v1/events?after=0&limit=1000').set(operator.auth);
      const mine = (res.body.events as { type: string; workflow_id?: string; status?: string }[]).filter(
        (e) => e.type === 'workflow_update' && e.workflow_id === wf.id,
      );
      return mine.some((e) => e.status === 'completed') ? mine : undefined;
    });
    expect(events[0]).toMatchObject({ status: 'running', completed_tasks: 0, total_tasks: 4 });
    expect(events[events.length - 1]).toMatchObject({ status: 'completed', completed_tasks: 4, total_tasks: 4 });
    const list = await app.http.get('/api/v1/workflows?limit=200').set(viewer.auth);
    expect(list.status).toBe(200);
    expect(list.body.workflows.some((w: Workflow) => w.id === wf.id)).toBe(true);
    const audit = await app.sql(`SELECT action FROM audit_events WHERE resource_id = $1 ORDER BY seq`, [wf.id]);
    expect(audit.map((r) => r.action)).toEqual(['workflow.create', 'workflow.complete']);
  });

  it('rejects a cycle, an unknown dependency and duplicate keys with 422, creating nothing', async () => {
    const type = uniqueName('wf');
    const before = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM tasks');
    const cycle = await create({
      tasks: [
        { key: 'a', type },
        { key: 'b', type, depends_on: ['a', 'd'] },
        { key: 'c', type, depends_on: ['b'] },
        { key: 'd', type, depends_on: ['c'] },
      ],
    });
    expectError(cycle, 422, 'dependency_cycle');
    expect(cycle.body.details.cycle).toHaveLength(4);
    expect(new Set(cycle.body.details.cycle)).toEqual(new Set(['b', 'c', 'd']));
    expect(cycle.body.message).toMatch(/cycle/i);

    const unknown = await create({ tasks: [{ key: 'a', type, depends_on: ['ghost'] }] });
    expectError(unknown, 422, 'unknown_dependency');
    expect(unknown.body.details.missing).toEqual([{ key: 'a', depends_on: 'ghost' }]);
    expect(unknown.body.message).toContain('ghost');

    expectError(await create({ tasks: [{ key: 'a', type }, { key: 'a', type }] }), 422, 'unprocessable');
    expectError(await create({ tasks: [] }), 400, 'validation_failed');
    expectError(await create({ tasks: [{ key: 'a', type }] }, viewer.auth), 403, 'forbidden');
    const after = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM tasks');
    expect(after[0].n).toBe(before[0].n);
  });

  it('replays a create with the same Idempotency-Key and refuses another body', async () => {
    const type = uniqueName('wf');
    const ik = uniqueName('idem');
    const first = await create({ tasks: [{ key: 'a', type }] }).set('Idempotency-Key', ik);
    const again = await create({ tasks: [{ key: 'a', type }] }).set('Idempotency-Key', ik);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    expectError(await create({ tasks: [{ key: 'b', type }] }).set('Idempotency-Key', ik), 422, 'idempotency_key_reused');
  });

  it('a permanently failed task fails the workflow: dependents dependency_failed, the rest cancelled', async () => {
    const type = uniqueName('wf');
    const agent = await worker([type]);
    const wf = (
      await create({
        tasks: [
          { key: 'a', type, retry_count: 0 },
          { key: 'b', type, depends_on: ['a'] },
          { key: 'c', type, depends_on: ['b'] },
          { key: 'x', type: `${type}-other` },
        ],
      })
    ).body as Workflow;
    const claimed = await claimKeys(agent);
    await failTask(app, key, claimed.get('a')!, agent, true); // retryable, but no attempts left
    const after = await getWf(wf.id);
    expect(after.status).toBe('failed');
    expect(after.error).toMatchObject({ code: 'task_failed' });
    expect(statuses(after)).toEqual({ a: 'failed', b: 'failed', c: 'failed', x: 'cancelled' });
    expect(byKey(after).c.error).toMatchObject({ code: 'dependency_failed' });
    expect(after.completed_at).toEqual(expect.any(String));
  });

  it('cancel cascades to every unfinished task, running ones included; a second cancel is 409', async () => {
    const type = uniqueName('wf');
    const agent = await worker([type]);
    const wf = (await create({ tasks: [{ key: 'a', type }, { key: 'b', type, depends_on: ['a'] }] })).body as Workflow;
    await claimKeys(agent);
    expectError(await app.http.post(`/api/v1/workflows/${wf.id}/cancel`).set(viewer.auth), 403, 'forbidden');
    const res = await app.http.post(`/api/v1/workflows/${wf.id}/cancel`).set(operator.auth);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('cancelled');
    expect(statuses(res.body as Workflow)).toEqual({ a: 'cancelled', b: 'cancelled' });
    expectError(await app.http.post(`/api/v1/workflows/${wf.id}/cancel`).set(operator.auth), 409, 'illegal_transition');
    const audit = await app.sql(`SELECT action FROM audit_events WHERE resource_id = $1 AND action = 'workflow.cancel'`, [wf.id]);
    expect(audit).toHaveLength(1);
  });

  it('audit → rework → approve: two reports, the named task redone with its note, downstream redone', async () => {
    const type = uniqueName('wf');
    const auditor = uniqueName('auditor');
    const agent = await worker([type]);
    const auditAgent = await worker([auditor]);
    const wf = (
      await create({
        tasks: [
          { key: 'research', type, payload: { topic: 'x' } },
          { key: 'write', type, depends_on: ['research'] },
          { key: 'art', type },
        ],
        audit: { required_capabilities: [auditor], max_rework_cycles: 2 },
      })
    ).body as Workflow;

    const runAll = async (round: number) => {
      for (;;) {
        const claimed = await claimKeys(agent);
        if (!claimed.size) break;
        for (const [k, t] of claimed) await completeTask(app, key, t, agent, { key: k, round });
      }
    };
    await runAll(1);
    let now = await getWf(wf.id);
    expect(now).toMatchObject({ status: 'auditing', completed_tasks: 3, audit_task_id: expect.any(String) });

    let audits = (await claimTasks(app, key, auditAgent)) as unknown as Task[];
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ type: 'audit', workflow_id: wf.id });
    expect(audits[0].payload.results).toEqual({ research: { key: 'research', round: 1 }, write: { key: 'write', round: 1 }, art: { key: 'art', round: 1 } });
    await completeTask(app, key, audits[0], auditAgent, {
      is_successful: false,
      feedback: 'research is thin',
      rework_suggestions: [{ key: 'research', note: 'cite sources' }],
      confidence_score: 0.4,
    });
    now = await getWf(wf.id);
    expect(now).toMatchObject({ status: 'running', rework_cycle: 1, completed_tasks: 1 });
    expect(statuses(now)).toEqual({ research: 'ready', write: 'pending', art: 'completed' });
    expect(byKey(now).research.payload).toEqual({ topic: 'x', rework_note: 'cite sources' });
    expect(byKey(now).research.result).toBeNull();
    expect(now.audit_reports).toHaveLength(1);
    expect(now.audit_reports[0]).toMatchObject({ is_successful: false, feedback: 'research is thin', rework_cycle: 0, confidence_score: 0.4 });

    await runAll(2);
    now = await getWf(wf.id);
    expect(now.status).toBe('auditing');
    audits = (await claimTasks(app, key, auditAgent)) as unknown as Task[];
    expect(audits[0].payload.results).toMatchObject({ research: { round: 2 }, write: { round: 2 }, art: { round: 1 } });
    await completeTask(app, key, audits[0], auditAgent, { is_successful: true, feedback: 'good', rework_suggestions: [], confidence_score: 0.9 });
    now = await getWf(wf.id);
    expect(now).toMatchObject({ status: 'completed', rework_cycle: 1, completed_tasks: 3 });
    expect(now.audit_reports.map((r) => r.is_successful)).toEqual([false, true]);
    const verdicts = await app.sql(`SELECT details->>'verdict' AS v FROM audit_events WHERE resource_id = $1 AND action = 'workflow.audit_verdict' ORDER BY seq`, [wf.id]);
    expect(verdicts.map((r) => r.v)).toEqual(['rework', 'approved']);
  });

  it('bounds the rework loop: at max_rework_cycles an unsuccessful audit fails the workflow with its feedback', async () => {
    const type = uniqueName('wf');
    const auditor = uniqueName('auditor');
    const agent = await worker([type]);
    const auditAgent = await worker([auditor]);
    const wf = (await create({ tasks: [{ key: 'only', type }], audit: { required_capabilities: [auditor], max_rework_cycles: 1 } })).body as Workflow;
    for (let cycle = 0; cycle < 2; cycle++) {
      const [t] = await claimTasks(app, key, agent);
      await completeTask(app, key, t, agent, { cycle });
      const [a] = await claimTasks(app, key, auditAgent);
      await completeTask(app, key, a, auditAgent, { is_successful: false, feedback: `still wrong ${cycle}`, rework_suggestions: [{ key: 'only', note: 'again' }] });
    }
    const now = await getWf(wf.id);
    expect(now).toMatchObject({ status: 'failed', rework_cycle: 1, error: { code: 'audit_rejected', message: 'still wrong 1' } });
    expect(now.audit_reports).toHaveLength(2);
    expect(await claimTasks(app, key, agent)).toEqual([]);
  });

  it('a planner expands its plan into the graph; a bad plan fails the planner attempt so a retry can fix it', async () => {
    const planner = uniqueName('planner');
    const type = uniqueName('wf');
    const planAgent = await worker([planner]);
    const agent = await worker([type]);
    expectError(await create({ plan: { required_capabilities: [planner] } }), 400, 'validation_failed');
    const res = await create({ description: 'build a thing', plan: { required_capabilities: [planner] } });
    expect(res.status).toBe(201);
    const wf = res.body as Workflow;
    expect(wf).toMatchObject({ status: 'planning', total_tasks: 0, tasks: [], planner_task_id: expect.any(String) });

    let [p] = (await claimTasks(app, key, planAgent)) as unknown as Task[];
    expect(p).toMatchObject({ id: wf.planner_task_id, type: 'plan', payload: { description: 'build a thing' } });
    // A cyclic plan: the planner's attempt is turned into a failure, and it is retried.
    await completeTask(app, key, p, planAgent, {
      tasks: [
        { key: 'x', type, depends_on: ['y'] },
        { key: 'y', type, depends_on: ['x'] },
      ],
    });
    const rejected = await app.http.get(`/api/v1/tasks/${p.id}`).set(viewer.auth);
    expect(['retrying', 'ready']).toContain(rejected.body.status);
    expect(rejected.body.error).toMatchObject({ code: 'invalid_plan', details: { cycle: expect.any(Array) } });
    expect((await getWf(wf.id)).status).toBe('planning');

    p = await eventually(async () => ((await claimTasks(app, key, planAgent)) as unknown as Task[])[0]);
    expect(p.attempt).toBe(2);
    await completeTask(app, key, p, planAgent, {
      tasks: [
        { key: 'first', type, payload: { n: 1 } },
        { key: 'second', type, depends_on: ['first'] },
      ],
    });
    const now = await getWf(wf.id);
    expect(now).toMatchObject({ status: 'running', total_tasks: 2 });
    expect(statuses(now)).toEqual({ first: 'ready', second: 'pending' });
    for (let i = 0; i < 2; i++) {
      const [t] = await claimTasks(app, key, agent);
      await completeTask(app, key, t, agent);
    }
    expect((await getWf(wf.id)).status).toBe('completed');
  });

  it('a planner that never produces a valid plan fails the workflow', async () => {
    const planner = uniqueName('planner');
    const planAgent = await worker([planner]);
    const wf = (await create({ description: 'x', plan: { required_capabilities: [planner] } })).body as Workflow;
    await app.sql('UPDATE tasks SET max_attempts = 1 WHERE id = $1', [wf.planner_task_id]);
    const [p] = await claimTasks(app, key, planAgent);
    await completeTask(app, key, p, planAgent, { tasks: [{ key: 'a', type: 'has space' }] });
    const now = await getWf(wf.id);
    expect(now).toMatchObject({ status: 'failed', error: { code: 'planner_failed' } });
    const task = await app.http.get(`/api/v1/tasks/${p.id}`).set(viewer.auth);
    expect(task.body).toMatchObject({ status: 'failed', error: { code: 'invalid_plan' } });
  });
});
