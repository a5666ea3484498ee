import {
  type AuthHeader,
  claimTasks,
  createApiKey,
  createTask,
  createUser,
  eventually,
  expectError,
  loginAdmin,
  registerAgent,
  type Session,
  uniqueName,
} from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';

type Task = { id: string; status: string; attempt: number; error: { code: string } | null; [k: string]: unknown };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Boots an app with the given timing settings, an operator and one agent-role key. */
function setup(env: Record<string, string>) {
  const ctx = {} as { app: TestApp; operator: Session; key: AuthHeader };
  beforeAll(async () => {
    ctx.app = await createTestApp({ env });
    const admin = await loginAdmin(ctx.app);
    ctx.operator = await createUser(ctx.app, admin, ['operator']);
    ctx.key = (await createApiKey(ctx.app, admin, ['agent'])).auth;
  });
  afterAll(() => ctx.app.close());
  return ctx;
}

async function getTask(app: TestApp, auth: AuthHeader, id: string): Promise<Task> {
  const res = await app.http.get(`/api/v1/tasks/${id}`).set(auth);
  expect(res.status).toBe(200);
  return res.body as Task;
}

/** Claims until the task comes back (it may still be waiting for its retry time). */
function claimEventually(app: TestApp, auth: AuthHeader, agentId: string, taskId: string, timeoutMs = 10_000): Promise<Task> {
  return eventually(async () => {
    const got = (await claimTasks(app, auth, agentId)) as Task[];
    expect(got.every((t) => t.id === taskId)).toBe(true);
    return got[0];
  }, timeoutMs);
}

/** Delay the server chose for a retry, from the task it returned (both timestamps are the database clock). */
const retryDelay = (t: Task) => Date.parse(t.next_attempt_at as string) - Date.parse(t.updated_at as string);

describe('task retries (e2e)', () => {
  const ctx = setup({ RETRY_BASE_DELAY_MS: '200', SWEEP_INTERVAL_MS: '100' });

  it('retries with growing delays and attempt numbers, then fails when the attempts are exhausted', async () => {
    const { app, operator, key } = ctx;
    const type = uniqueName('type');
    const agent = await registerAgent(app, key, { capabilities: [type] });
    const task = await createTask(app, operator.auth, { type, retry_count: 2 });
    expect(task.max_attempts).toBe(3);

    const fail = (attempt: number, code: string) =>
      app.http.post(`/api/v1/tasks/${task.id}/fail`).set(key).send({ agent_id: agent.id, attempt, error: { code, message: `attempt ${attempt}` } });

    const [c1] = await claimTasks(app, key, agent.id);
    expect(c1.attempt).toBe(1);
    const f1 = (await fail(1, 'first')).body as Task;
    expect(f1).toMatchObject({ status: 'retrying', attempt: 1, error: { code: 'first' } });
    const d1 = retryDelay(f1);
    // Base 200 ms, equal jitter: retry 1 waits 100..200 ms, retry 2 waits 200..400 ms.
    expect(d1).toBeGreaterThanOrEqual(99);
    expect(d1).toBeLessThanOrEqual(201);
    // Not claimable before its time ... (the claim right after the failure is well inside 100 ms)
    const early = await claimTasks(app, key, agent.id);
    if (early.length) expect(Date.now()).toBeGreaterThan(Date.parse(f1.next_attempt_at as string));

    const back = await eventually(async () => {
      const t = await getTask(app, operator.auth, task.id);
      return t.status === 'ready' ? t : undefined;
    });
    expect(back.next_attempt_at).toBeNull();
    const c2 = early.length ? early[0] : await claimEventually(app, key, agent.id, task.id);
    expect(c2.attempt).toBe(2);

    const f2 = (await fail(2, 'second')).body as Task;
    expect(f2).toMatchObject({ status: 'retrying', attempt: 2 });
    const d2 = retryDelay(f2);
    expect(d2).toBeGreaterThan(d1);
    expect(d2).toBeGreaterThanOrEqual(199);
    expect(d2).toBeLessThanOrEqual(401);

    const c3 = await claimEventually(app, key, agent.id, task.id);
    expect(c3.attempt).toBe(3);
    const f3 = (await fail(3, 'third')).body as Task;
    expect(f3).toMatchObject({ status: 'failed', attempt: 3, next_attempt_at: null, error: { code: 'third', message: 'attempt 3' } });
    await sleep(300);
    expect(await claimTasks(app, key, agent.id)).toEqual([]);
    expect((await getTask(app, operator.auth, task.id)).status).toBe('failed');
  });
});

describe('leases, heartbeats, timeouts and delayed tasks (e2e)', () => {
  const ctx = setup({ TASK_LEASE_SEC: '1', SWEEP_INTERVAL_MS: '100', RETRY_BASE_DELAY_MS: '100' });

  it('a lapsed lease counts as a failed attempt: the task is reclaimed with attempt + 1 and the old holder gets 409', async () => {
    const { app, operator, key } = ctx;
    const type = uniqueName('type');
    const agent = await registerAgent(app, key, { capabilities: [type] });
    const task = await createTask(app, operator.auth, { type });
    const [first] = await claimTasks(app, key, agent.id);
    expect(first.attempt).toBe(1);

    const lapsed = await eventually(async () => {
      const t = await getTask(app, operator.auth, task.id);
      return t.status !== 'running' ? t : undefined;
    });
    expect(['retrying', 'ready']).toContain(lapsed.status);
    expect(lapsed.error).toMatchObject({ code: 'lease_expired' });

    const second = await claimEventually(app, key, agent.id, task.id);
    expect(second.attempt).toBe(2);
    const before = await app.sql('SELECT * FROM tasks WHERE id = $1', [task.id]);
    const stale = await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(key).send({ agent_id: agent.id, attempt: 1, result: 'late' });
    expectError(stale, 409, 'stale_attempt');
    expect(await app.sql('SELECT * FROM tasks WHERE id = $1', [task.id])).toEqual(before);
    const ok = await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(key).send({ agent_id: agent.id, attempt: 2, result: 'done' });
    expect(ok.status).toBe(200);
    const audit = await app.sql<{ action: string; actor_type: string }>(
      `SELECT action, actor_type FROM audit_events WHERE resource_id = $1 AND action = 'task.lease_expired'`,
      [task.id],
    );
    expect(audit).toEqual([{ action: 'task.lease_expired', actor_type: 'system' }]);
  });

  it('heartbeats keep a lease alive well past TASK_LEASE_SEC', async () => {
    const { app, operator, key } = ctx;
    const type = uniqueName('type');
    const agent = await registerAgent(app, key, { capabilities: [type] });
    const task = await createTask(app, operator.auth, { type });
    const [claimed] = await claimTasks(app, key, agent.id);
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      const hb = await app.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(key).send({});
      expect(hb.body.lease_extended).toBe(1);
      await sleep(400);
    }
    expect((await getTask(app, operator.auth, task.id)).status).toBe('running');
    const done = await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(key).send({ agent_id: agent.id, attempt: claimed.attempt, result: 1 });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', attempt: 1 });
  });

  it('progress reports also keep the lease alive', async () => {
    const { app, operator, key } = ctx;
    const type = uniqueName('type');
    const agent = await registerAgent(app, key, { capabilities: [type] });
    const task = await createTask(app, operator.auth, { type });
    await claimTasks(app, key, agent.id);
    for (let i = 1; i <= 6; i++) {
      const p = await app.http.post(`/api/v1/tasks/${task.id}/progress`).set(key).send({ agent_id: agent.id, attempt: 1, progress: i / 10 });
      expect(p.status).toBe(200);
      await sleep(400);
    }
    const done = await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(key).send({ agent_id: agent.id, attempt: 1, result: 1 });
    expect(done.status).toBe(200);
  });

  it('an attempt that outruns its timeout counts as failed, even while heartbeating', async () => {
    const { app, operator, key } = ctx;
    const type = uniqueName('type');
    const agent = await registerAgent(app, key, { capabilities: [type] });
    const task = await createTask(app, operator.auth, { type, timeout: 1, retry_count: 0 });
    await claimTasks(app, key, agent.id);
    const ended = await eventually(async () => {
      await app.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(key).send({});
      const t = await getTask(app, operator.auth, task.id);
      return t.status !== 'running' ? t : undefined;
    }, 5000, 200);
    expect(ended).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'timeout' } });
    const late = await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(key).send({ agent_id: agent.id, attempt: 1, result: 1 });
    expectError(late, 409, 'stale_attempt');

    // With retries left, a timed-out attempt is retried with the next attempt number.
    const retried = await createTask(app, operator.auth, { type, timeout: 1, retry_count: 1 });
    await claimTasks(app, key, agent.id);
    const again = await eventually(async () => {
      await app.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(key).send({});
      const got = (await claimTasks(app, key, agent.id)) as Task[];
      return got.find((t) => t.id === retried.id);
    }, 8000, 200);
    expect(again.attempt).toBe(2);
    expect(again.error).toMatchObject({ code: 'timeout' });
  });

  it('a task with a future run_at waits in pending, then becomes claimable', async () => {
    const { app, operator, key } = ctx;
    const type = uniqueName('type');
    const agent = await registerAgent(app, key, { capabilities: [type] });
    const runAt = new Date(Date.now() + 1500);
    const task = await createTask(app, operator.auth, { type, run_at: runAt.toISOString() });
    expect(task).toMatchObject({ status: 'pending', run_at: runAt.toISOString() });
    expect(await claimTasks(app, key, agent.id)).toEqual([]);
    const started = Date.now();
    const claimed = await app.http.post('/api/v1/tasks/claim').set(key).send({ agent_id: agent.id, wait_seconds: 5 });
    expect(claimed.body.tasks.map((t: Task) => t.id)).toEqual([task.id]);
    expect(Date.now()).toBeGreaterThanOrEqual(runAt.getTime() - 50);
    expect(Date.now() - started).toBeLessThan(4000);

    const past = await createTask(app, operator.auth, { type, run_at: new Date(Date.now() - 60_000).toISOString() });
    expect(past.status).toBe('ready');
  });
});

describe('offline agents (e2e)', () => {
  const ctx = setup({ AGENT_HEARTBEAT_INTERVAL_SEC: '1', AGENT_OFFLINE_AFTER_SEC: '2', SWEEP_INTERVAL_MS: '100', RETRY_BASE_DELAY_MS: '100' });

  it('an agent that stops heartbeating goes offline and its task is reclaimed by another agent', async () => {
    const { app, operator, key } = ctx;
    const type = uniqueName('type');
    const silent = await registerAgent(app, key, { capabilities: [type] });
    const task = await createTask(app, operator.auth, { type });
    const [claimed] = await claimTasks(app, key, silent.id);
    expect(claimed.id).toBe(task.id);

    const alive = await registerAgent(app, key, { capabilities: [type] });
    let beating = true;
    const beats = (async () => {
      while (beating) {
        await app.http.post(`/api/v1/agents/${alive.id}/heartbeat`).set(key).send({});
        await sleep(300);
      }
    })();
    try {
      await eventually(async () => {
        const a = await app.http.get(`/api/v1/agents/${silent.id}`).set(operator.auth);
        return a.body.status === 'offline' ? true : undefined;
      }, 8000);
      const reclaimed = await claimEventually(app, key, alive.id, task.id, 8000);
      expect(reclaimed).toMatchObject({ id: task.id, attempt: 2, assigned_agent: alive.id });
      expect((await app.http.get(`/api/v1/agents/${alive.id}`).set(operator.auth)).body.status).toBe('active');
      const late = await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(key).send({ agent_id: silent.id, attempt: 1, result: 'late' });
      expectError(late, 409, 'stale_attempt');
      expect(
        (await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(key).send({ agent_id: alive.id, attempt: 2, result: 'ok' })).status,
      ).toBe(200);

      // An offline agent gets nothing until it heartbeats again, which makes it active.
      expect(await claimTasks(app, key, silent.id)).toEqual([]);
      const hb = await app.http.post(`/api/v1/agents/${silent.id}/heartbeat`).set(key).send({});
      expect(hb.body.heartbeat_interval_sec).toBe(1);
      expect((await app.http.get(`/api/v1/agents/${silent.id}`).set(operator.auth)).body.status).toBe('active');
    } finally {
      beating = false;
      await beats;
    }
  });
});
