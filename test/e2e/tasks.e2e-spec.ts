import { randomUUID } from 'node:crypto';
import {
  type AuthHeader,
  claimTasks,
  createApiKey,
  createTask,
  createUser,
  expectError,
  loginAdmin,
  registerAgent,
  type Session,
  uniqueName,
} from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';

type Task = { id: string; attempt: number; [k: string]: unknown };

describe('tasks (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  let operator: Session;
  let key: AuthHeader;
  let otherKey: AuthHeader;

  /** A fresh task type (so tests never claim each other's tasks) and an agent of `key` that can run it. */
  async function worker(extra: { capabilities?: string[]; max_parallel_tasks?: number } = {}) {
    const type = uniqueName('type');
    const agent = await registerAgent(app, key, { capabilities: [type], max_parallel_tasks: 10, ...extra });
    return { type, agent: agent.id };
  }

  const report = (id: string, what: 'progress' | 'complete' | 'fail', auth: AuthHeader, body: Record<string, unknown>) =>
    app.http.post(`/api/v1/tasks/${id}/${what}`).set(auth).send(body);

  beforeAll(async () => {
    app = await createTestApp();
    admin = await loginAdmin(app);
    operator = await createUser(app, admin, ['operator']);
    key = (await createApiKey(app, admin, ['agent'])).auth;
    otherKey = (await createApiKey(app, admin, ['agent'])).auth;
  });
  afterAll(() => app.close());

  describe('submit', () => {
    it('creates a ready task with the documented defaults', async () => {
      const type = uniqueName('type');
      const res = await app.http.post('/api/v1/tasks').set(operator.auth).send({ type, payload: { n: 1 } });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        id: expect.any(String),
        type,
        status: 'ready',
        priority: 'medium',
        payload: { n: 1 },
        required_capabilities: [type],
        timeout: 300,
        max_attempts: 4,
        attempt: 0,
        progress: 0,
        assigned_agent: null,
        lease_expires_at: null,
        depends_on: [],
        file_dependencies: [],
        result: null,
        error: null,
        next_attempt_at: null,
      });
      const get = await app.http.get(`/api/v1/tasks/${res.body.id}`).set(operator.auth);
      expect(get.status).toBe(200);
      expect(get.body).toMatchObject({ id: res.body.id, status: 'ready', logs: [] });
    });

    it('rejects invalid bodies with 400 and unknown tasks with 404', async () => {
      const type = uniqueName('type');
      for (const body of [
        { type, priority: 'urgent' },
        { type, retry_count: -1 },
        { type, timeout: 0 },
        { type: 'has space' },
        { payload: {} },
        { type, required_capabilities: ['bad cap'] },
        { type, depends_on: ['not-a-uuid'] },
        { type, run_at: 'tomorrow-ish' },
        { type, surprise: true },
      ]) {
        expectError(await app.http.post('/api/v1/tasks').set(operator.auth).send(body), 400, 'validation_failed');
      }
      const { agent } = await worker();
      for (const extra of [{ wait_seconds: 31 }, { max_tasks: 0 }, { max_tasks: 101 }, { wait_seconds: -1 }]) {
        expectError(await app.http.post('/api/v1/tasks/claim').set(key).send({ agent_id: agent, ...extra }), 400, 'validation_failed');
      }
      expectError(await app.http.post('/api/v1/tasks/claim').set(key).send({}), 400, 'validation_failed');

      const missing = randomUUID();
      expectError(await app.http.get(`/api/v1/tasks/${missing}`).set(operator.auth), 404, 'not_found');
      expectError(await report(missing, 'complete', key, { agent_id: agent, attempt: 1, result: 1 }), 404, 'not_found');
      expectError(await app.http.post(`/api/v1/tasks/${missing}/cancel`).set(operator.auth), 404, 'not_found');
      expectError(await app.http.post(`/api/v1/tasks/${missing}/retry`).set(operator.auth), 404, 'not_found');
      expectError(await app.http.get('/api/v1/tasks/nope').set(operator.auth), 400, 'validation_failed');
    });

    it('validates progress, complete and fail bodies', async () => {
      const { type, agent } = await worker();
      const task = await createTask(app, operator.auth, { type });
      const [claimed] = await claimTasks(app, key, agent);
      const fence = { agent_id: agent, attempt: claimed.attempt };
      expectError(await report(task.id, 'progress', key, { ...fence, progress: 1.5 }), 400, 'validation_failed');
      expectError(await report(task.id, 'progress', key, { ...fence, progress: -0.1 }), 400, 'validation_failed');
      expectError(await report(task.id, 'progress', key, { progress: 0.5 }), 400, 'validation_failed');
      expectError(await report(task.id, 'progress', key, { ...fence, progress: 0.5, logs: [{ level: 'loud', message: 'x' }] }), 400, 'validation_failed');
      expectError(await report(task.id, 'fail', key, { ...fence, error: { message: 'no code' } }), 400, 'validation_failed');
      expectError(await report(task.id, 'complete', key, { ...fence, attempt: 0 }), 400, 'validation_failed');
      expectError(await report(task.id, 'complete', key, { ...fence, ra_history: { iterations: 'lots' } }), 400, 'validation_failed');
      // None of that touched the task.
      const row = await app.http.get(`/api/v1/tasks/${task.id}`).set(operator.auth);
      expect(row.body).toMatchObject({ status: 'running', progress: 0, attempt: 1 });
    });

    it('422s an unknown dependency', async () => {
      const res = await app.http.post('/api/v1/tasks').set(operator.auth).send({ type: uniqueName('type'), depends_on: [randomUUID()] });
      expectError(res, 422, 'unknown_dependency');
    });

    it('honours Idempotency-Key: same key and body → the same task, another body → 422, never a duplicate row', async () => {
      const type = uniqueName('idem');
      const idemKey = uniqueName('key');
      const body = { type, payload: { a: 1 }, priority: 'high' };
      const first = await app.http.post('/api/v1/tasks').set(operator.auth).set('Idempotency-Key', idemKey).send(body);
      const second = await app.http.post('/api/v1/tasks').set(operator.auth).set('Idempotency-Key', idemKey).send(body);
      expect([first.status, second.status]).toEqual([201, 201]);
      expect(second.body.id).toBe(first.body.id);
      const different = await app.http.post('/api/v1/tasks').set(operator.auth).set('Idempotency-Key', idemKey).send({ ...body, payload: { a: 2 } });
      expectError(different, 422, 'idempotency_key_reused');
      // The key is scoped to the credential: another caller with the same key gets its own task.
      const otherCaller = await app.http.post('/api/v1/tasks').set(admin.auth).set('Idempotency-Key', idemKey).send(body);
      expect(otherCaller.status).toBe(201);
      expect(otherCaller.body.id).not.toBe(first.body.id);
      const count = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE type = $1', [type]);
      expect(count[0].n).toBe(2);

      // Concurrent duplicates create one task.
      const concurrentKey = uniqueName('key');
      const racing = await Promise.all(
        Array.from({ length: 8 }, () => app.http.post('/api/v1/tasks').set(operator.auth).set('Idempotency-Key', concurrentKey).send({ type, payload: 'race' })),
      );
      expect(racing.map((r) => r.status)).toEqual(Array(8).fill(201));
      expect(new Set(racing.map((r) => r.body.id as string)).size).toBe(1);
      const after = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE type = $1', [type]);
      expect(after[0].n).toBe(3);
    });
  });

  describe('claim', () => {
    it('hands out the highest priority first, then the oldest', async () => {
      const { type, agent } = await worker();
      const low = await createTask(app, operator.auth, { type, priority: 'low' });
      const high = await createTask(app, operator.auth, { type, priority: 'high' });
      const medium1 = await createTask(app, operator.auth, { type, priority: 'medium' });
      const medium2 = await createTask(app, operator.auth, { type });
      const medium3 = await createTask(app, operator.auth, { type, priority: 'medium' });
      const order: string[] = [];
      for (let i = 0; i < 5; i++) {
        const got = await claimTasks(app, key, agent);
        expect(got).toHaveLength(1);
        order.push(got[0].id);
      }
      expect(order).toEqual([high.id, medium1.id, medium2.id, medium3.id, low.id]);
      expect(await claimTasks(app, key, agent)).toEqual([]);
    });

    it('claims a batch in the same order, each with attempt 1, a lease and the agent', async () => {
      const { type, agent } = await worker();
      const low = await createTask(app, operator.auth, { type, priority: 'low' });
      const high = await createTask(app, operator.auth, { type, priority: 'high' });
      const got = await claimTasks(app, key, agent, { max_tasks: 5 });
      expect(got.map((t) => t.id)).toEqual([high.id, low.id]);
      for (const t of got) {
        expect(t).toMatchObject({ status: 'running', attempt: 1, assigned_agent: agent });
        expect(Date.parse(t.lease_expires_at as string)).toBeGreaterThan(Date.now() + 30_000);
      }
    });

    it('only gives a task to an agent that has every required capability', async () => {
      const capA = uniqueName('a');
      const capB = uniqueName('b');
      const onlyA = await registerAgent(app, key, { capabilities: [capA] });
      const both = await registerAgent(app, key, { capabilities: [capA, capB, 'extra'] });
      const task = await createTask(app, operator.auth, { type: uniqueName('type'), required_capabilities: [capA, capB] });
      expect(task.required_capabilities).toEqual([capA, capB]);
      expect(await claimTasks(app, key, onlyA.id)).toEqual([]);
      const got = await claimTasks(app, key, both.id);
      expect(got.map((t) => t.id)).toEqual([task.id]);
    });

    it('never lets one agent hold more than max_parallel_tasks, even under 32 concurrent claims', async () => {
      const { type, agent } = await worker({ max_parallel_tasks: 5 });
      for (let i = 0; i < 20; i++) await createTask(app, operator.auth, { type });
      const results = await Promise.all(
        Array.from({ length: 32 }, () => app.http.post('/api/v1/tasks/claim').set(key).send({ agent_id: agent, max_tasks: 3 })),
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      const ids = results.flatMap((r) => (r.body.tasks as Task[]).map((t) => t.id));
      expect(ids).toHaveLength(5);
      expect(new Set(ids).size).toBe(ids.length);
      const held = await app.sql<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE assigned_agent = $1 AND status = 'running'`, [agent]);
      expect(held[0].n).toBe(5);
      const agentView = await app.http.get(`/api/v1/agents/${agent}`).set(operator.auth);
      expect(agentView.body.running_tasks).toBe(5);
    });

    it('never hands one task to two agents claiming concurrently', async () => {
      const type = uniqueName('type');
      const agents = await Promise.all(Array.from({ length: 4 }, () => registerAgent(app, key, { capabilities: [type], max_parallel_tasks: 50 })));
      for (let i = 0; i < 30; i++) await createTask(app, operator.auth, { type });
      const results = await Promise.all(
        Array.from({ length: 32 }, (_, i) => app.http.post('/api/v1/tasks/claim').set(key).send({ agent_id: agents[i % 4].id, max_tasks: 2 })),
      );
      const ids = results.flatMap((r) => (r.body.tasks as Task[]).map((t) => t.id));
      expect(ids).toHaveLength(30);
      expect(new Set(ids).size).toBe(30);
    });

    it('long-polls: a waiting claim wakes up soon after a task is submitted', async () => {
      const { type, agent } = await worker();
      const started = Date.now();
      const waiting = app.http.post('/api/v1/tasks/claim').set(key).send({ agent_id: agent, wait_seconds: 10 });
      const pending = waiting.then((r) => r); // start the request now
      await new Promise((r) => setTimeout(r, 500));
      const created = Date.now();
      const task = await createTask(app, operator.auth, { type });
      const res = await pending;
      expect(res.status).toBe(200);
      expect(res.body.tasks.map((t: Task) => t.id)).toEqual([task.id]);
      expect(Date.now() - created).toBeLessThan(3000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    });

    it('long-polls: a client that hangs up stops waiting and claims nothing', async () => {
      const { type, agent } = await worker();
      const controller = new AbortController();
      const waiting = fetch(`${app.baseUrl}/api/v1/tasks/claim`, {
        method: 'POST',
        headers: { ...key, 'content-type': 'application/json' },
        body: JSON.stringify({ agent_id: agent, wait_seconds: 10 }),
        signal: controller.signal,
      }).catch((err: unknown) => err);
      await new Promise((r) => setTimeout(r, 300));
      controller.abort();
      expect(((await waiting) as Error).name).toBe('AbortError');
      await new Promise((r) => setTimeout(r, 200));
      const task = await createTask(app, operator.auth, { type });
      await new Promise((r) => setTimeout(r, 1500));
      const row = await app.http.get(`/api/v1/tasks/${task.id}`).set(operator.auth);
      expect(row.body).toMatchObject({ status: 'ready', attempt: 0 });
    });

    it('long-polls: nothing claimable → an empty list after about wait_seconds', async () => {
      const { agent } = await worker();
      const started = Date.now();
      const res = await app.http.post('/api/v1/tasks/claim').set(key).send({ agent_id: agent, wait_seconds: 1 });
      const took = Date.now() - started;
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ tasks: [] });
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(3000);
    });
  });

  describe('reports and fencing', () => {
    it('progress extends the lease and its logs show on GET; complete stores result and ra_history', async () => {
      const { type, agent } = await worker();
      const task = await createTask(app, operator.auth, { type });
      const [claimed] = await claimTasks(app, key, agent);
      const fence = { agent_id: agent, attempt: claimed.attempt };
      const prog = await report(task.id, 'progress', key, {
        ...fence,
        progress: 0.4,
        message: 'halfway-ish',
        logs: [{ level: 'warn', message: 'disk is slow' }],
      });
      expect(prog.status).toBe(200);
      expect(prog.body).toMatchObject({ status: 'running', progress: 0.4 });
      expect(Date.parse(prog.body.lease_expires_at as string)).toBeGreaterThanOrEqual(Date.parse(claimed.lease_expires_at as string));

      const get = await app.http.get(`/api/v1/tasks/${task.id}`).set(operator.auth);
      expect(get.body.logs).toEqual([
        { attempt: 1, level: 'info', message: 'halfway-ish', timestamp: expect.any(String) },
        { attempt: 1, level: 'warn', message: 'disk is slow', timestamp: expect.any(String) },
      ]);

      const raHistory = { iterations: [{ thought: 't', action: { tool: 'x' }, observation: 'o', timestamp: '2030-01-01T00:00:00Z' }], final_result: 42 };
      const done = await report(task.id, 'complete', key, { ...fence, result: { answer: 42 }, ra_history: raHistory, execution_time: 1.5 });
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({
        status: 'completed',
        progress: 1,
        result: { answer: 42 },
        ra_history: raHistory,
        execution_time: 1.5,
        lease_expires_at: null,
        completed_at: expect.any(String),
      });
      const again = await report(task.id, 'complete', key, { ...fence, result: 'twice' });
      expectError(again, 409, 'stale_attempt');
    });

    it('a stale attempt gets 409 stale_attempt and changes nothing', async () => {
      const { type, agent } = await worker();
      const task = await createTask(app, operator.auth, { type });
      const [claimed] = await claimTasks(app, key, agent);
      const before = await app.sql('SELECT * FROM tasks WHERE id = $1', [task.id]);
      for (const attempt of [claimed.attempt + 1, claimed.attempt + 7]) {
        expectError(await report(task.id, 'complete', key, { agent_id: agent, attempt, result: 'x' }), 409, 'stale_attempt');
        expectError(await report(task.id, 'progress', key, { agent_id: agent, attempt, progress: 0.9 }), 409, 'stale_attempt');
        const fail = await report(task.id, 'fail', key, { agent_id: agent, attempt, error: { code: 'e', message: 'm' } });
        expectError(fail, 409, 'stale_attempt');
        expect(fail.body.details).toMatchObject({ current_attempt: claimed.attempt, your_attempt: attempt });
      }
      expect(await app.sql('SELECT * FROM tasks WHERE id = $1', [task.id])).toEqual(before);
      const logs = await app.sql('SELECT * FROM task_logs WHERE task_id = $1', [task.id]);
      expect(logs).toEqual([]);
    });

    it('another agent of the same credential cannot report on a task it does not hold (409), nor can another credential (404)', async () => {
      const { type, agent } = await worker();
      const sibling = await registerAgent(app, key, { capabilities: [type] });
      const stranger = await registerAgent(app, otherKey, { capabilities: [type] });
      const task = await createTask(app, operator.auth, { type });
      const [claimed] = await claimTasks(app, key, agent);
      const before = await app.sql('SELECT * FROM tasks WHERE id = $1', [task.id]);
      expectError(await report(task.id, 'complete', key, { agent_id: sibling.id, attempt: claimed.attempt, result: 'mine' }), 409, 'stale_attempt');
      expectError(await report(task.id, 'complete', otherKey, { agent_id: stranger.id, attempt: claimed.attempt, result: 'x' }), 409, 'stale_attempt');
      expectError(await report(task.id, 'complete', otherKey, { agent_id: agent, attempt: claimed.attempt, result: 'x' }), 404, 'not_found');
      expect(await app.sql('SELECT * FROM tasks WHERE id = $1', [task.id])).toEqual(before);
      expect((await report(task.id, 'complete', key, { agent_id: agent, attempt: claimed.attempt, result: 'ok' })).status).toBe(200);
    });

    it('a non-retryable failure fails the task at once and keeps the error', async () => {
      const { type, agent } = await worker();
      const task = await createTask(app, operator.auth, { type, retry_count: 5 });
      const [claimed] = await claimTasks(app, key, agent);
      const error = { code: 'bad_input', message: 'cannot parse', details: { line: 3 } };
      const res = await report(task.id, 'fail', key, { agent_id: agent, attempt: claimed.attempt, error, retryable: false });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'failed', error, next_attempt_at: null, attempt: 1, completed_at: expect.any(String) });
      expect(await claimTasks(app, key, agent)).toEqual([]);
    });

    it('a retryable failure goes to retrying with a next_attempt_at in the future', async () => {
      const { type, agent } = await worker();
      const task = await createTask(app, operator.auth, { type, retry_count: 1 });
      const [claimed] = await claimTasks(app, key, agent);
      const res = await report(task.id, 'fail', key, { agent_id: agent, attempt: claimed.attempt, error: { code: 'flaky', message: 'try again' } });
      expect(res.body).toMatchObject({ status: 'retrying', assigned_agent: agent, error: { code: 'flaky', message: 'try again' } });
      // Default RETRY_BASE_DELAY_MS is 1 s: the first retry waits 0.5..1 s.
      const delay = Date.parse(res.body.next_attempt_at as string) - Date.parse(res.body.updated_at as string);
      expect(delay).toBeGreaterThanOrEqual(499);
      expect(delay).toBeLessThanOrEqual(1001);
      expect(await claimTasks(app, key, agent)).toEqual([]);
    });
  });

  describe('dependencies', () => {
    it('a dependent waits in pending until its dependency completes, then becomes claimable', async () => {
      const { type, agent } = await worker();
      const a = await createTask(app, operator.auth, { type });
      const b = await createTask(app, operator.auth, { type, depends_on: [a.id] });
      expect(b.status).toBe('pending');
      expect(b.depends_on).toEqual([a.id]);
      const first = await claimTasks(app, key, agent, { max_tasks: 10 });
      expect(first.map((t) => t.id)).toEqual([a.id]);
      expect((await report(a.id, 'complete', key, { agent_id: agent, attempt: 1, result: 'a' })).status).toBe(200);
      const bNow = await app.http.get(`/api/v1/tasks/${b.id}`).set(operator.auth);
      expect(bNow.body.status).toBe('ready');
      expect((await claimTasks(app, key, agent)).map((t) => t.id)).toEqual([b.id]);
      // A dependency already completed: the dependent is ready at once.
      const c = await createTask(app, operator.auth, { type, depends_on: [a.id] });
      expect(c.status).toBe('ready');
    });

    it('a failed dependency fails its dependents (transitively) with dependency_failed', async () => {
      const { type, agent } = await worker();
      const a = await createTask(app, operator.auth, { type });
      const b = await createTask(app, operator.auth, { type, depends_on: [a.id] });
      const c = await createTask(app, operator.auth, { type, depends_on: [b.id] });
      await claimTasks(app, key, agent);
      const res = await report(a.id, 'fail', key, { agent_id: agent, attempt: 1, error: { code: 'boom', message: 'no' }, retryable: false });
      expect(res.body.status).toBe('failed');
      for (const id of [b.id, c.id]) {
        const dep = await app.http.get(`/api/v1/tasks/${id}`).set(operator.auth);
        expect(dep.body.status).toBe('failed');
        expect(dep.body.error).toMatchObject({ code: 'dependency_failed' });
      }
      // Depending on a failed task is refused up front.
      const late = await app.http.post('/api/v1/tasks').set(operator.auth).send({ type, depends_on: [a.id] });
      expect(late.status).toBe(422);
    });

    it('a cancelled dependency fails its dependents', async () => {
      const type = uniqueName('type');
      const a = await createTask(app, operator.auth, { type });
      const b = await createTask(app, operator.auth, { type, depends_on: [a.id] });
      expect((await app.http.post(`/api/v1/tasks/${a.id}/cancel`).set(operator.auth)).status).toBe(200);
      const dep = await app.http.get(`/api/v1/tasks/${b.id}`).set(operator.auth);
      expect(dep.body).toMatchObject({ status: 'failed', error: { code: 'dependency_failed' } });
    });
  });

  describe('operator actions', () => {
    it('cancel ends a running task; the holder then gets 409; cancelling a finished task is an illegal transition', async () => {
      const { type, agent } = await worker();
      const task = await createTask(app, operator.auth, { type });
      const [claimed] = await claimTasks(app, key, agent);
      expectError(await app.http.post(`/api/v1/tasks/${task.id}/cancel`).set(key), 403, 'forbidden');
      const cancel = await app.http.post(`/api/v1/tasks/${task.id}/cancel`).set(operator.auth);
      expect(cancel.status).toBe(200);
      expect(cancel.body).toMatchObject({ status: 'cancelled', lease_expires_at: null });
      expectError(await report(task.id, 'complete', key, { agent_id: agent, attempt: claimed.attempt, result: 'late' }), 409, 'stale_attempt');
      expectError(await app.http.post(`/api/v1/tasks/${task.id}/cancel`).set(operator.auth), 409, 'illegal_transition');

      const done = await createTask(app, operator.auth, { type });
      await claimTasks(app, key, agent);
      await report(done.id, 'complete', key, { agent_id: agent, attempt: 1, result: 1 });
      expectError(await app.http.post(`/api/v1/tasks/${done.id}/cancel`).set(operator.auth), 409, 'illegal_transition');
      expectError(await app.http.post(`/api/v1/tasks/${done.id}/retry`).set(operator.auth), 409, 'illegal_transition');
    });

    it('retry puts a failed task back to ready with more attempts; it is claimed with the next attempt number', async () => {
      const { type, agent } = await worker();
      const task = await createTask(app, operator.auth, { type, retry_count: 0 });
      expect(task.max_attempts).toBe(1);
      await claimTasks(app, key, agent);
      const failed = await report(task.id, 'fail', key, { agent_id: agent, attempt: 1, error: { code: 'x', message: 'y' } });
      expect(failed.body.status).toBe('failed'); // retryable, but no attempts left
      expectError(await app.http.post(`/api/v1/tasks/${task.id}/retry`).set(key), 403, 'forbidden');
      const retry = await app.http.post(`/api/v1/tasks/${task.id}/retry`).set(operator.auth);
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ status: 'ready', error: null, assigned_agent: null });
      expect(retry.body.max_attempts).toBeGreaterThan(1);
      const [again] = await claimTasks(app, key, agent);
      expect(again).toMatchObject({ id: task.id, attempt: 2 });
      expectError(await app.http.post(`/api/v1/tasks/${task.id}/retry`).set(operator.auth), 409, 'illegal_transition');
    });

    it('retrying a cancelled dependent does not let it run before its dependency completes', async () => {
      const { type, agent } = await worker();
      const a = await createTask(app, operator.auth, { type });
      const b = await createTask(app, operator.auth, { type, depends_on: [a.id] });
      expect((await app.http.post(`/api/v1/tasks/${b.id}/cancel`).set(operator.auth)).body.status).toBe('cancelled');
      const retry = await app.http.post(`/api/v1/tasks/${b.id}/retry`).set(operator.auth);
      expect(retry.status).toBe(200);
      expect(retry.body.status).toBe('pending');
      expect((await claimTasks(app, key, agent, { max_tasks: 10 })).map((t) => t.id)).toEqual([a.id]);
      await report(a.id, 'complete', key, { agent_id: agent, attempt: 1, result: 'a' });
      expect((await claimTasks(app, key, agent)).map((t) => t.id)).toEqual([b.id]);

      // A dependent whose dependency failed cannot be retried on its own: it could never run.
      const c = await createTask(app, operator.auth, { type });
      const d = await createTask(app, operator.auth, { type, depends_on: [c.id] });
      await app.http.post(`/api/v1/tasks/${c.id}/cancel`).set(operator.auth);
      expect((await app.http.get(`/api/v1/tasks/${d.id}`).set(operator.auth)).body.status).toBe('failed');
      expectError(await app.http.post(`/api/v1/tasks/${d.id}/retry`).set(operator.auth), 422, 'unprocessable');
    });

    it('writes audit rows for every transition, with the agent as the actor of its reports', async () => {
      const { type, agent } = await worker();
      const t1 = await createTask(app, operator.auth, { type });
      await claimTasks(app, key, agent);
      await report(t1.id, 'complete', key, { agent_id: agent, attempt: 1, result: 1 });
      const t2 = await createTask(app, operator.auth, { type, retry_count: 0 });
      await claimTasks(app, key, agent);
      await report(t2.id, 'fail', key, { agent_id: agent, attempt: 1, error: { code: 'x', message: 'y' } });
      await app.http.post(`/api/v1/tasks/${t2.id}/retry`).set(operator.auth);
      await app.http.post(`/api/v1/tasks/${t2.id}/cancel`).set(operator.auth);

      const audit = await app.sql<{ action: string; actor_type: string; actor_id: string; resource_id: string }>(
        `SELECT action, actor_type, actor_id, resource_id FROM audit_events
          WHERE resource_type = 'task' AND resource_id = ANY($1) ORDER BY seq`,
        [[t1.id, t2.id]],
      );
      const asAgent = { actor_type: 'agent', actor_id: agent };
      const asOperator = { actor_type: 'user', actor_id: operator.id };
      expect(audit).toEqual([
        { action: 'task.create', ...asOperator, resource_id: t1.id },
        { action: 'task.claim', ...asAgent, resource_id: t1.id },
        { action: 'task.complete', ...asAgent, resource_id: t1.id },
        { action: 'task.create', ...asOperator, resource_id: t2.id },
        { action: 'task.claim', ...asAgent, resource_id: t2.id },
        { action: 'task.fail', ...asAgent, resource_id: t2.id },
        { action: 'task.retry', ...asOperator, resource_id: t2.id },
        { action: 'task.cancel', ...asOperator, resource_id: t2.id },
      ]);
      const verify = await app.http.get('/api/v1/audit-events/verify').set(admin.auth);
      expect(verify.body.valid).toBe(true);
    });
  });

  describe('list', () => {
    it('filters by status, type and agent_id, and pages newest first without repeats', async () => {
      const { type, agent } = await worker();
      const created: string[] = [];
      for (let i = 0; i < 5; i++) created.push((await createTask(app, operator.auth, { type })).id);
      const [claimed] = await claimTasks(app, key, agent);
      expect(claimed.id).toBe(created[0]);

      const byType = await app.http.get('/api/v1/tasks').query({ type }).set(operator.auth);
      expect(byType.status).toBe(200);
      expect(byType.body.tasks.map((t: Task) => t.id)).toEqual([...created].reverse());

      const running = await app.http.get('/api/v1/tasks').query({ type, status: 'running' }).set(operator.auth);
      expect(running.body.tasks.map((t: Task) => t.id)).toEqual([created[0]]);
      const ready = await app.http.get('/api/v1/tasks').query({ type, status: 'ready' }).set(operator.auth);
      expect(ready.body.tasks).toHaveLength(4);
      const byAgent = await app.http.get('/api/v1/tasks').query({ agent_id: agent }).set(operator.auth);
      expect(byAgent.body.tasks.map((t: Task) => t.id)).toEqual([created[0]]);

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await app.http
          .get('/api/v1/tasks')
          .query({ type, limit: 2, ...(cursor ? { cursor } : {}) })
          .set(operator.auth);
        expect(res.status).toBe(200);
        expect(res.body.tasks.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.tasks.map((t: Task) => t.id));
        cursor = res.body.next_cursor as string | null;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual([...created].reverse());

      expectError(await app.http.get('/api/v1/tasks').query({ status: 'sleeping' }).set(operator.auth), 400, 'validation_failed');
      expectError(await app.http.get('/api/v1/tasks').query({ limit: 201 }).set(operator.auth), 400, 'validation_failed');
      expectError(await app.http.get('/api/v1/tasks').query({ cursor: 'garbage' }).set(operator.auth), 400, 'validation_failed');
    });
  });
});
