import type { AddressInfo } from 'node:net';
import { createServerApp, type ServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { loadConfig } from '../../apps/server/src/config/app-config';
import { claimTasks, createApiKey, createTask, createUser, loginAdmin, registerAgent, type Session,uniqueName } from '../harness/factories';
import { EventClient } from '../harness/sockets';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';

describe('events (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  const clients: EventClient[] = [];
  const client = (token: string, extra?: { origin?: string }) => {
    const c = new EventClient(app.baseUrl, token, extra);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    app = await createTestApp({ env: { CORS_ORIGINS: 'https://dash.example', SOCKET_REAUTH_INTERVAL_MS: '300' } });
    admin = await loginAdmin(app);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => app.close());

  it('refuses a bad token and an unknown origin with connect_error, and accepts a good token', async () => {
    await expect(client('not-a-token').connected()).rejects.toThrow(/unauthorized/);
    await expect(client(admin.accessToken, { origin: 'https://evil.example' }).connected()).rejects.toThrow();
    await client(admin.accessToken, { origin: 'https://dash.example' }).connected();
    await client(admin.accessToken).connected();
  });

  it('acks subscriptions, refusing unknown channels and channels the caller may not read', async () => {
    const viewer = await createUser(app, admin, ['viewer']);
    const c = client(viewer.accessToken);
    await c.connected();
    expect(await c.subscribe('tasks')).toEqual({ ok: true });
    expect(await c.subscribe('nonsense')).toMatchObject({ ok: false });
    expect(await c.unsubscribe('tasks')).toEqual({ ok: true });
    const noEvents = await createUser(app, admin, []);
    await expect(client(noEvents.accessToken).connected()).rejects.toThrow(/forbidden/);
  });

  it('delivers only the ids subscribed to, keeps what overlapping subscriptions still cover, and stops after unsubscribe', async () => {
    const c = client(admin.accessToken);
    const marker = client(admin.accessToken);
    await Promise.all([c.connected(), marker.connected()]);
    await marker.subscribe('tasks');
    const cancel = (id: unknown) => app.http.post(`/api/v1/tasks/${String(id)}/cancel`).set(admin.auth).expect(200);
    const [watched, other] = [await createTask(app, admin.auth, { type: 'ids' }), await createTask(app, admin.auth, { type: 'ids' })];
    expect(await c.subscribe('tasks', watched.id)).toEqual({ ok: true });
    await cancel(other.id);
    await cancel(watched.id);
    await c.waitFor('task_update', (p) => p.task_id === watched.id && p.status === 'cancelled');
    expect(c.of('task_update', (p) => p.task_id === other.id)).toEqual([]);

    // `tasks` and `all` both cover task events: dropping one keeps them coming, dropping both stops them.
    expect(await c.unsubscribe('tasks', watched.id)).toEqual({ ok: true });
    await c.subscribe('tasks');
    await c.subscribe('all');
    await c.unsubscribe('tasks');
    const covered = await createTask(app, admin.auth, { type: 'ids' });
    await c.waitFor('task_update', (p) => p.task_id === covered.id);
    await c.unsubscribe('all');
    const after = [await createTask(app, admin.auth, { type: 'ids' }), await createTask(app, admin.auth, { type: 'ids' })];
    await marker.waitFor('task_update', (p) => after.some((t) => t.id === p.task_id), 2);
    expect(c.of('task_update', (p) => after.some((t) => t.id === p.task_id))).toEqual([]);
  });

  it('streams a task lifecycle as ordered task_updates with increasing seq', async () => {
    const key = await createApiKey(app, admin, ['agent']);
    const agent = await registerAgent(app, key.auth, { capabilities: ['life'] });
    const c = client(admin.accessToken);
    await c.connected();
    await c.subscribe('tasks');
    const task = await createTask(app, admin.auth, { type: 'life' });
    const [claimed] = await claimTasks(app, key.auth, agent.id);
    await app.http.post(`/api/v1/tasks/${task.id}/progress`).set(key.auth).send({ agent_id: agent.id, attempt: claimed.attempt, progress: 0.5 }).expect(200);
    await app.http.post(`/api/v1/tasks/${task.id}/complete`).set(key.auth).send({ agent_id: agent.id, attempt: claimed.attempt, result: 1 }).expect(200);
    const updates = await c.waitFor('task_update', (p) => p.task_id === task.id, 4);
    expect(updates.map((u) => [u.status, u.progress])).toEqual([
      ['ready', 0],
      ['running', 0],
      ['running', 0.5],
      ['completed', 1],
    ]);
    expect(updates[1]).toMatchObject({ type: 'task_update', attempt: 1, assigned_agent: agent.id, pipeline_id: null, run_id: null, workflow_id: null });
    const seqs = updates.map((u) => u.seq as number);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(typeof updates[0].timestamp).toBe('string');
  });

  it("gives an agent credential only its own agents' events, including the cancel of a task it holds", async () => {
    const keyA = await createApiKey(app, admin, ['agent']);
    const keyB = await createApiKey(app, admin, ['agent']);
    const agentA = await registerAgent(app, keyA.auth, { capabilities: ['iso'] });
    const b = client(keyB.key);
    await b.connected();
    expect(await b.subscribe('all')).toEqual({ ok: true });
    expect(await b.subscribe('workflows')).toMatchObject({ ok: false });
    const a = client(keyA.key);
    await a.connected();
    await a.subscribe('tasks');
    const task = await createTask(app, admin.auth, { type: 'iso' });
    await claimTasks(app, keyA.auth, agentA.id);
    await app.http.post(`/api/v1/tasks/${task.id}/cancel`).set(admin.auth).expect(200);
    const seen = await a.waitFor('task_update', (p) => p.task_id === task.id && p.status === 'cancelled');
    expect(seen).toHaveLength(1);
    // B registers its own agent: it sees that, and never A's task.
    const agentB = await registerAgent(app, keyB.auth, { capabilities: ['iso'] });
    await b.waitFor('agent_update', (p) => p.agent_id === agentB.id);
    expect(b.of('task_update', (p) => p.task_id === task.id)).toEqual([]);
    expect(b.of('agent_update', (p) => p.agent_id === agentA.id)).toEqual([]);
  });

  it('sends lock_update and error events', async () => {
    const key = await createApiKey(app, admin, ['agent']);
    const agent = await registerAgent(app, key.auth, { capabilities: ['boom'] });
    const c = client(admin.accessToken);
    await c.connected();
    await c.subscribe('all');
    const lock = await app.http.post('/api/v1/locks').set(key.auth).send({ path: 'events/a.txt', access: 'write', agent_id: agent.id });
    expect(lock.status).toBe(201);
    await app.http.delete(`/api/v1/locks/${lock.body.id}`).set(key.auth).expect(204);
    const locks = await c.waitFor('lock_update', (p) => p.lock_id === lock.body.id, 2);
    expect(locks.map((l) => l.state)).toEqual(['acquired', 'released']);
    expect(locks[0]).toMatchObject({ path: 'events/a.txt', access: 'write', holder: { type: 'agent', id: agent.id } });

    const task = await createTask(app, admin.auth, { type: 'boom' });
    const [claimed] = await claimTasks(app, key.auth, agent.id);
    await app.http
      .post(`/api/v1/tasks/${task.id}/fail`)
      .set(key.auth)
      .send({ agent_id: agent.id, attempt: claimed.attempt, error: { code: 'kaput', message: 'it broke' }, retryable: false })
      .expect(200);
    const [error] = await c.waitFor('error', (p) => p.task_id === task.id);
    expect(error).toMatchObject({ type: 'error', error: 'kaput', details: { code: 'kaput', message: 'it broke' } });
  });

  it('streams workflow_update and pipeline_progress through a run on their channels', async () => {
    const key = await createApiKey(app, admin, ['agent']);
    const type = uniqueName('flow');
    const agent = await registerAgent(app, key.auth, { capabilities: [type], max_parallel_tasks: 4 });
    const wfSocket = client(admin.accessToken);
    const pipeSocket = client(admin.accessToken);
    await Promise.all([wfSocket.connected(), pipeSocket.connected()]);
    expect(await wfSocket.subscribe('workflows')).toEqual({ ok: true });
    expect(await pipeSocket.subscribe('pipelines')).toEqual({ ok: true });
    const finish = async () => {
      for (const t of await claimTasks(app, key.auth, agent.id, { max_tasks: 4 })) {
        await app.http.post(`/api/v1/tasks/${t.id}/complete`).set(key.auth).send({ agent_id: agent.id, attempt: t.attempt, result: { done: t.id } }).expect(200);
      }
    };

    const wf = await app.http.post('/api/v1/workflows').set(admin.auth).send({ name: 'two steps', tasks: [{ key: 'a', type }, { key: 'b', type, depends_on: ['a'] }] });
    expect(wf.status).toBe(201);
    await finish();
    await finish();
    const wfUpdates = await wfSocket.waitFor('workflow_update', (p) => p.workflow_id === wf.body.id && p.status === 'completed');
    expect(wfUpdates[0]).toMatchObject({ type: 'workflow_update', status: 'completed', completed_tasks: 2, total_tasks: 2, seq: expect.any(Number) });

    const pipeline = await app.http.post('/api/v1/pipelines').set(admin.auth).send({ name: uniqueName('pipe'), stages: [{ name: 'first', type }, { name: 'second', type }] });
    expect(pipeline.status).toBe(201);
    const run = await app.http.post(`/api/v1/pipelines/${pipeline.body.id}/execute`).set(admin.auth).send({ input_data: { n: 1 } });
    expect(run.status).toBe(202);
    await finish();
    await finish();
    const progress = await pipeSocket.waitFor('pipeline_progress', (p) => p.run_id === run.body.id && p.status === 'completed');
    expect(progress[0]).toMatchObject({ type: 'pipeline_progress', status: 'completed', progress: 1, completed_stages: [0, 1], current_stage: null });
    // Each socket got only its channel's events.
    expect(wfSocket.received.some((e) => e.name === 'pipeline_progress')).toBe(false);
    expect(pipeSocket.received.some((e) => e.name === 'workflow_update')).toBe(false);
  });

  it('relays every event once, in seq order, across seq 99 → 100 → 1000 boundaries', async () => {
    const c = client(admin.accessToken);
    await c.connected();
    await c.subscribe('all');
    // Bursts, so the relay reads batches that cross digit boundaries (text order would put 100 before 99).
    let last: { id: string } | undefined;
    for (let burst = 0; burst < 6; burst++) {
      const made = await Promise.all(Array.from({ length: 40 }, () => createTask(app, admin.auth, { type: 'relay-order' })));
      last = made[made.length - 1];
    }
    await c.waitFor('task_update', (p) => p.task_id === last?.id);
    const seqs = c.received.map((r) => Number(r.payload.seq));
    expect(seqs.length).toBeGreaterThanOrEqual(240);
    expect(seqs.filter((seq, i) => i > 0 && seq <= seqs[i - 1])).toEqual([]);
  });

  it('replays exactly the events missed during a disconnect', async () => {
    const c = client(admin.accessToken);
    await c.connected();
    await c.subscribe('tasks');
    const first = await createTask(app, admin.auth, { type: 'replay' });
    const [seen] = await c.waitFor('task_update', (p) => p.task_id === first.id);
    c.close();
    const missed = [await createTask(app, admin.auth, { type: 'replay' }), await createTask(app, admin.auth, { type: 'replay' })];
    const res = await app.http.get(`/api/v1/events?after=${seen.seq as number}`).set(admin.auth);
    expect(res.status).toBe(200);
    const replayed = (res.body.events as Record<string, unknown>[]).filter((e) => e.type === 'task_update' && missed.some((m) => m.id === e.task_id));
    expect(replayed.map((e) => e.task_id)).toEqual(missed.map((m) => m.id));
    const seqs = (res.body.events as { seq: number }[]).map((e) => e.seq);
    expect(seqs[0]).toBe((seen.seq as number) + 1);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1] + 1);
    // Replay never goes backwards or repeats.
    const again = await app.http.get(`/api/v1/events?after=${seqs[seqs.length - 1]}`).set(admin.auth);
    expect((again.body.events as { seq: number }[]).every((e) => e.seq > seqs[seqs.length - 1])).toBe(true);
    expect((await app.http.get('/api/v1/events?after=-1').set(admin.auth)).status).toBe(400);
  });

  it('disconnects a socket whose user is disabled, and one whose token expires', async () => {
    const user = await createUser(app, admin, ['viewer']);
    const c = client(user.accessToken);
    await c.connected();
    const gone = new Promise<void>((resolve) => c.socket.once('disconnect', () => resolve()));
    await app.http.patch(`/api/v1/users/${user.id}`).set(admin.auth).send({ disabled: true }).expect(200);
    await gone;
    expect(c.of('error').map((e) => (e.details as { code: string }).code)).toContain('credential_revoked');

    const short = await createTestApp({ env: { ACCESS_TOKEN_TTL_SEC: '1' } });
    try {
      const login = await short.http.post('/api/v1/auth/login').send({ username: 'admin', password: ADMIN_PASSWORD });
      const s = new EventClient(short.baseUrl, login.body.access_token as string);
      await s.connected();
      await new Promise<void>((resolve) => s.socket.once('disconnect', () => resolve()));
      expect(s.of('error').map((e) => (e.details as { code: string }).code)).toContain('token_expired');
      s.close();
    } finally {
      await short.close();
    }
  });

  it('delivers an event caused on one instance to a socket on another', async () => {
    const config = loadConfig({ DATABASE_URL: app.config.databaseUrl, ADMIN_PASSWORD, LOG_LEVEL: 'silent', DB_POOL_SIZE: '5' });
    const second: ServerApp = await createServerApp(config, createLogger('silent'));
    await second.app.listen(0, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${(second.app.getHttpServer().address() as AddressInfo).port}`;
      const c = new EventClient(url, admin.accessToken);
      clients.push(c);
      await c.connected();
      await c.subscribe('tasks');
      const task = await createTask(app, admin.auth, { type: 'cross-instance' });
      const [update] = await c.waitFor('task_update', (p) => p.task_id === task.id);
      expect(update.status).toBe('ready');
    } finally {
      await second.close();
    }
  });
});
