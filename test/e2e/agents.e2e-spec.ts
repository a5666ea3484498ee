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

describe('agents (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  let operator: Session;
  /** Two credentials of the agent role (two separate workers' API keys). */
  let keyA: AuthHeader;
  let keyB: AuthHeader;

  beforeAll(async () => {
    app = await createTestApp();
    admin = await loginAdmin(app);
    operator = await createUser(app, admin, ['operator']);
    keyA = (await createApiKey(app, admin, ['agent'])).auth;
    keyB = (await createApiKey(app, admin, ['agent'])).auth;
  });
  afterAll(() => app.close());

  it('registers (201), re-registers the same name under the same credential (200, same id), and another credential gets its own agent', async () => {
    const name = uniqueName('worker');
    const first = await app.http
      .post('/api/v1/agents/register')
      .set(keyA)
      .send({ name, type: 'worker', capabilities: ['code', 'python'], endpoints: { http: 'http://w:1' }, resources: { cpu: 2 }, max_parallel_tasks: 3 });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({
      id: expect.any(String),
      name,
      type: 'worker',
      status: 'active',
      capabilities: ['code', 'python'],
      endpoints: { http: 'http://w:1' },
      resources: { cpu: 2 },
      metadata: {},
      max_parallel_tasks: 3,
      current_load: 0,
      running_tasks: 0,
      last_heartbeat: expect.any(String),
      created_at: expect.any(String),
    });

    const again = await app.http.post('/api/v1/agents/register').set(keyA).send({ name, type: 'worker', capabilities: ['code'], max_parallel_tasks: 5 });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.capabilities).toEqual(['code']);
    expect(again.body.max_parallel_tasks).toBe(5);

    const other = await app.http.post('/api/v1/agents/register').set(keyB).send({ name, type: 'worker', capabilities: ['code'] });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);

    const rows = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM agents WHERE name = $1', [name]);
    expect(rows[0].n).toBe(2);
  });

  it('lists with capability, status and type filters, and walks pages with limit=1 without repeats', async () => {
    const cap = uniqueName('cap');
    const w1 = await registerAgent(app, keyA, { capabilities: [cap] });
    const w2 = await registerAgent(app, keyA, { capabilities: [cap, 'other'] });
    const v = await registerAgent(app, keyB, { capabilities: [cap], type: 'validator' });
    await registerAgent(app, keyB, { capabilities: ['unrelated'] });

    const byCap = await app.http.get('/api/v1/agents').query({ capability: cap }).set(operator.auth);
    expect(byCap.status).toBe(200);
    expect(byCap.body.agents.map((a: { id: string }) => a.id).sort()).toEqual([w1.id, w2.id, v.id].sort());
    expect(byCap.body.next_cursor).toBeNull();

    const byType = await app.http.get('/api/v1/agents').query({ capability: cap, type: 'validator' }).set(operator.auth);
    expect(byType.body.agents.map((a: { id: string }) => a.id)).toEqual([v.id]);

    const drained = await app.http.patch(`/api/v1/agents/${w2.id}`).set(operator.auth).send({ status: 'draining' });
    expect(drained.status).toBe(200);
    expect(drained.body.status).toBe('draining');
    const byStatus = await app.http.get('/api/v1/agents').query({ capability: cap, status: 'draining' }).set(operator.auth);
    expect(byStatus.body.agents.map((a: { id: string }) => a.id)).toEqual([w2.id]);
    const active = await app.http.get('/api/v1/agents').query({ capability: cap, status: 'active' }).set(operator.auth);
    expect(active.body.agents.map((a: { id: string }) => a.id).sort()).toEqual([w1.id, v.id].sort());

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await app.http
        .get('/api/v1/agents')
        .query({ capability: cap, limit: 1, ...(cursor ? { cursor } : {}) })
        .set(operator.auth);
      expect(res.status).toBe(200);
      expect(res.body.agents.length).toBeLessThanOrEqual(1);
      seen.push(...res.body.agents.map((a: { id: string }) => a.id));
      cursor = res.body.next_cursor as string | null;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(3);
    expect([...seen].sort()).toEqual([w1.id, w2.id, v.id].sort());

    const bad = await app.http.get('/api/v1/agents').query({ status: 'sleepy' }).set(operator.auth);
    expectError(bad, 400, 'validation_failed');
  });

  it('gets one agent, and 404s an unknown id', async () => {
    const agent = await registerAgent(app, keyA, { capabilities: ['x'] });
    const res = await app.http.get(`/api/v1/agents/${agent.id}`).set(operator.auth);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: agent.id, name: agent.name, capabilities: ['x'], status: 'active' });
    expectError(await app.http.get(`/api/v1/agents/${randomUUID()}`).set(operator.auth), 404, 'not_found');
  });

  it('heartbeat reports server time, the interval and how many leases it extended, and records the load', async () => {
    const type = uniqueName('hb');
    const agent = await registerAgent(app, keyA, { capabilities: [type] });
    const idle = await app.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(keyA).send({});
    expect(idle.status).toBe(200);
    expect(idle.body).toEqual({ server_time: expect.any(String), heartbeat_interval_sec: 15, lease_extended: 0 });
    expect(Math.abs(Date.parse(idle.body.server_time as string) - Date.now())).toBeLessThan(60_000);

    const task = await createTask(app, operator.auth, { type });
    const [claimed] = await claimTasks(app, keyA, agent.id);
    expect(claimed.id).toBe(task.id);
    const busy = await app.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(keyA).send({ current_load: 0.5 });
    expect(busy.body.lease_extended).toBe(1);
    const after = await app.http.get(`/api/v1/agents/${agent.id}`).set(operator.auth);
    expect(after.body).toMatchObject({ current_load: 0.5, running_tasks: 1 });
    expect(Date.parse(after.body.last_heartbeat as string)).toBeGreaterThanOrEqual(Date.parse(agent.last_heartbeat as string));
  });

  it('a draining agent claims nothing; a disabled agent is refused (409); an agent-role key cannot change status (403)', async () => {
    const type = uniqueName('drain');
    const agent = await registerAgent(app, keyA, { capabilities: [type] });
    await createTask(app, operator.auth, { type });

    const forbidden = await app.http.patch(`/api/v1/agents/${agent.id}`).set(keyA).send({ status: 'draining' });
    expectError(forbidden, 403, 'forbidden');

    const drain = await app.http.patch(`/api/v1/agents/${agent.id}`).set(operator.auth).send({ status: 'draining' });
    expect(drain.status).toBe(200);
    expect(await claimTasks(app, keyA, agent.id)).toEqual([]);

    const disable = await app.http.patch(`/api/v1/agents/${agent.id}`).set(operator.auth).send({ status: 'disabled' });
    expect(disable.body.status).toBe('disabled');
    const refused = await app.http.post('/api/v1/tasks/claim').set(keyA).send({ agent_id: agent.id });
    expectError(refused, 409, 'illegal_transition');
    // Re-registering does not revive a disabled agent.
    const rereg = await app.http.post('/api/v1/agents/register').set(keyA).send({ name: agent.name, type: 'worker', capabilities: [type] });
    expect(rereg.status).toBe(200);
    expect(rereg.body.status).toBe('disabled');

    const reactivate = await app.http.patch(`/api/v1/agents/${agent.id}`).set(operator.auth).send({ status: 'active' });
    expect(reactivate.body.status).toBe('active');
    const claimed = await claimTasks(app, keyA, agent.id);
    expect(claimed).toHaveLength(1);

    expectError(await app.http.patch(`/api/v1/agents/${agent.id}`).set(operator.auth).send({ status: 'offline' }), 400, 'validation_failed');
    expectError(await app.http.patch(`/api/v1/agents/${randomUUID()}`).set(operator.auth).send({ status: 'active' }), 404, 'not_found');

    const audit = await app.sql<{ action: string }>(`SELECT action FROM audit_events WHERE resource_id = $1 AND action = 'agent.update'`, [agent.id]);
    expect(audit).toHaveLength(3);
  });

  it('deregistering requeues its running task to ready and the agent is gone', async () => {
    const type = uniqueName('dereg');
    const agent = await registerAgent(app, keyA, { capabilities: [type] });
    const task = await createTask(app, operator.auth, { type });
    const [claimed] = await claimTasks(app, keyA, agent.id);
    expect(claimed.id).toBe(task.id);

    expectError(await app.http.delete(`/api/v1/agents/${agent.id}`).set(keyB), 404, 'not_found');
    const del = await app.http.delete(`/api/v1/agents/${agent.id}`).set(keyA);
    expect(del.status).toBe(204);
    expectError(await app.http.get(`/api/v1/agents/${agent.id}`).set(operator.auth), 404, 'not_found');

    const after = await app.http.get(`/api/v1/tasks/${task.id}`).set(operator.auth);
    expect(after.body).toMatchObject({ status: 'ready', assigned_agent: null, lease_expires_at: null });
    const next = await registerAgent(app, keyB, { capabilities: [type] });
    const [reclaimed] = await claimTasks(app, keyB, next.id);
    expect(reclaimed).toMatchObject({ id: task.id, attempt: 2 });
  });

  it('another credential cannot act as my agent: heartbeat, claim, progress, complete and fail are 404', async () => {
    const type = uniqueName('mine');
    const agent = await registerAgent(app, keyA, { capabilities: [type] });
    const task = await createTask(app, operator.auth, { type });
    const [claimed] = await claimTasks(app, keyA, agent.id);
    const before = await app.sql('SELECT * FROM tasks WHERE id = $1', [task.id]);

    expectError(await app.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(keyB).send({}), 404, 'not_found');
    expectError(await app.http.post('/api/v1/tasks/claim').set(keyB).send({ agent_id: agent.id }), 404, 'not_found');
    const fence = { agent_id: agent.id, attempt: claimed.attempt };
    expectError(await app.http.post(`/api/v1/tasks/${task.id}/progress`).set(keyB).send({ ...fence, progress: 0.5 }), 404, 'not_found');
    expectError(await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(keyB).send({ ...fence, result: 'hijacked' }), 404, 'not_found');
    expectError(
      await app.http.post(`/api/v1/tasks/${task.id}/fail`).set(keyB).send({ ...fence, error: { code: 'x', message: 'y' } }),
      404,
      'not_found',
    );
    expect(await app.sql('SELECT * FROM tasks WHERE id = $1', [task.id])).toEqual(before);

    // An admin may act as any agent.
    const done = await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(admin.auth).send({ ...fence, result: 'ok' });
    expect(done.status).toBe(200);
    expect(done.body.status).toBe('completed');
  });

  it('rejects bad registrations with 400 validation_failed', async () => {
    const cases: Record<string, unknown>[] = [
      { name: uniqueName('a'), type: 'robot', capabilities: [] },
      { name: uniqueName('a'), type: 'worker', capabilities: ['has space'] },
      { name: uniqueName('a'), type: 'worker', capabilities: [], colour: 'blue' },
      { name: '', type: 'worker', capabilities: [] },
      { name: uniqueName('a'), type: 'worker', capabilities: [], max_parallel_tasks: 0 },
      { name: uniqueName('a'), type: 'worker' },
    ];
    for (const body of cases) {
      const res = await app.http.post('/api/v1/agents/register').set(keyA).send(body);
      expectError(res, 400, 'validation_failed');
      expect((res.body.details as { fields: unknown[] }).fields.length).toBeGreaterThan(0);
    }
    const viewer = await createUser(app, admin, ['viewer']);
    expectError(
      await app.http.post('/api/v1/agents/register').set(viewer.auth).send({ name: uniqueName('a'), type: 'worker', capabilities: [] }),
      403,
      'forbidden',
    );
    expectError(await app.http.post(`/api/v1/agents/${randomUUID()}/heartbeat`).set(keyA).send({ current_load: -1 }), 400, 'validation_failed');
    expectError(await app.http.post('/api/v1/agents/not-a-uuid/heartbeat').set(keyA).send({}), 400, 'validation_failed');
  });
});
