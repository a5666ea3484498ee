import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createServerApp, type ServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { loadConfig } from '../../apps/server/src/config/app-config';
import { MetricsRepository } from '../../apps/server/src/metrics/metrics.repository';
import { createTask, createUser, eventually, expectError, loginAdmin, type Session, uniqueName } from '../harness/factories';
import { EventClient } from '../harness/sockets';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';

/**
 * Denial-of-service levers (issue 16, items 2, 3, 6 and 8), tried against the real server and
 * database as an abusive client would: floods of socket messages and subscriptions, sockets that
 * outlive a permission, request floods the guard rejects, MCP batches, and scrape storms.
 */

const SOCKET_ENV = {
  SOCKET_MAX_SUBSCRIPTIONS: '10',
  SOCKET_MESSAGES_PER_SEC: '5',
  SOCKET_MESSAGE_BURST: '20',
  SOCKET_REAUTH_INTERVAL_MS: '300',
};

type Ack = { ok: boolean; error?: string };

describe('Socket.IO abuse (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  const clients: EventClient[] = [];
  const client = (token: string) => {
    const c = new EventClient(app.baseUrl, token);
    clients.push(c);
    return c;
  };
  /** Sends without waiting between messages, then collects every ack (a dropped message has none). */
  const burst = (c: EventClient, n: number, id: (i: number) => string) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        (c.socket.timeout(2000).emitWithAck('subscribe', { channel: 'tasks', id: id(i) }) as Promise<Ack>).catch(() => ({ ok: false, error: 'no ack' })),
      ),
    );
  const disconnected = (c: EventClient) => eventually(async () => (c.socket.connected ? undefined : true), 5000, 20);

  beforeAll(async () => {
    app = await createTestApp({ env: SOCKET_ENV });
    admin = await loginAdmin(app);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => app.close());

  it('caps the subscriptions of one socket: past the cap the ack is {ok:false}, re-subscribing and freed slots still work', async () => {
    const c = client(admin.accessToken);
    await c.connected();
    for (let i = 0; i < 10; i++) expect(await c.subscribe('tasks', `cap-${i}`)).toEqual({ ok: true });
    const refused = await c.subscribe('tasks', 'cap-10');
    expect(refused).toEqual({ ok: false, error: expect.stringMatching(/^too_many_subscriptions: /) });
    // Subscribing again to what it has is no new subscription; unsubscribing frees a slot.
    expect(await c.subscribe('tasks', 'cap-3')).toEqual({ ok: true });
    expect(await c.unsubscribe('tasks', 'cap-3')).toEqual({ ok: true });
    expect(await c.subscribe('tasks', 'cap-10')).toEqual({ ok: true });
    expect(await c.subscribe('all')).toMatchObject({ ok: false });
    // The refused subscription joined nothing: events of that id never arrive.
    const marker = client(admin.accessToken);
    await marker.connected();
    await marker.subscribe('tasks');
    const task = await createTask(app, admin.auth, { type: uniqueName('cap') });
    expect(await c.subscribe('tasks', task.id)).toMatchObject({ ok: false });
    await app.http.post(`/api/v1/tasks/${task.id}/cancel`).set(admin.auth).expect(200);
    await marker.waitFor('task_update', (p) => p.task_id === task.id && p.status === 'cancelled');
    expect(c.of('task_update', (p) => p.task_id === task.id)).toEqual([]);
  });

  it('rate-limits socket messages with a token bucket: past the burst each message is refused with rate_limited, and a client that keeps going is disconnected', async () => {
    const c = client(admin.accessToken);
    await c.connected();
    const acks = await burst(c, 30, (i) => `rate-${i % 5}`);
    const refused = acks.filter((a) => !a.ok);
    // 20 in the burst, plus what trickles back in at 5/s while the 30 are handled.
    expect(acks.filter((a) => a.ok).length).toBeGreaterThanOrEqual(20);
    expect(refused.length).toBeGreaterThanOrEqual(5);
    for (const a of refused) expect(a.error).toMatch(/^rate_limited: /);
    // The bucket refills: after a pause the socket is served again.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await c.subscribe('tasks')).toEqual({ ok: true });

    // Ignoring the refusals: the socket is cut and told why.
    void burst(c, 100, (i) => `flood-${i}`);
    await disconnected(c);
    expect(c.of('error').map((e) => (e.details as { code: string }).code)).toContain('rate_limited');
  });

  it('re-checks permissions, not just the credential: a socket whose role loses a channel stops hearing it and is disconnected', async () => {
    const role = uniqueName('watcher');
    await app.http.post('/api/v1/roles').set(admin.auth).send({ name: role, permissions: ['events:read', 'tasks:read', 'agents:read'] }).expect(201);
    const watcher = await createUser(app, admin, [role]);
    const c = client(watcher.accessToken);
    await c.connected();
    expect(await c.subscribe('tasks')).toEqual({ ok: true });
    const before = await createTask(app, admin.auth, { type: uniqueName('scope') });
    await c.waitFor('task_update', (p) => p.task_id === before.id);

    await app.http.patch(`/api/v1/roles/${role}`).set(admin.auth).send({ permissions: ['events:read', 'agents:read'] }).expect(200);
    await disconnected(c);
    expect(c.of('error').map((e) => (e.details as { code: string }).code)).toContain('permissions_changed');
    const after = await createTask(app, admin.auth, { type: uniqueName('scope') });
    const marker = client(admin.accessToken);
    await marker.connected();
    await marker.subscribe('tasks');
    await app.http.post(`/api/v1/tasks/${after.id}/cancel`).set(admin.auth).expect(200);
    await marker.waitFor('task_update', (p) => p.task_id === after.id && p.status === 'cancelled');
    expect(c.of('task_update', (p) => p.task_id === after.id)).toEqual([]);

    // Reconnecting gets the new scope: the channel it lost is refused, the one it kept is not.
    const again = client(watcher.accessToken);
    await again.connected();
    expect(await again.subscribe('tasks')).toMatchObject({ ok: false, error: expect.stringMatching(/^forbidden/) });
    expect(await again.subscribe('agents')).toEqual({ ok: true });
  });

  it('keeps a socket whose permissions did not narrow', async () => {
    const role = uniqueName('steady');
    await app.http.post('/api/v1/roles').set(admin.auth).send({ name: role, permissions: ['events:read', 'tasks:read'] }).expect(201);
    const user = await createUser(app, admin, [role]);
    const c = client(user.accessToken);
    await c.connected();
    expect(await c.subscribe('tasks')).toEqual({ ok: true });
    // Widening a role is no reason to cut anyone.
    await app.http.patch(`/api/v1/roles/${role}`).set(admin.auth).send({ permissions: ['events:read', 'tasks:read', 'agents:read'] }).expect(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(c.socket.connected).toBe(true);
    const task = await createTask(app, admin.auth, { type: uniqueName('steady') });
    await c.waitFor('task_update', (p) => p.task_id === task.id);
  });
});

describe('rate limits count what the guard rejects (e2e)', () => {
  const LIMIT = 10;
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp({ env: { RATE_LIMIT_PER_MIN: String(LIMIT) } });
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  it('counts 403s per principal: a flood of forbidden calls gets 429 after the limit, and stops writing denial rows', async () => {
    const viewer = await createUser(app, admin, ['viewer']); // its /auth/me is its first call (login counts per address)
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 3; i++) statuses.push((await app.http.get('/api/v1/users').set(viewer.auth)).status);
    expect(statuses.filter((s) => s === 403).length).toBeGreaterThan(0);
    expect(statuses.slice(-3)).toEqual([429, 429, 429]);
    const res = await app.http.get('/api/v1/users').set(viewer.auth);
    expectError(res, 429, 'rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('counts each call of an MCP JSON-RPC batch', async () => {
    const user = await createUser(app, admin, ['viewer']);
    const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'ping' });
    const mcp = (body: unknown) =>
      app.http.post('/mcp').set(user.auth).set('Accept', 'application/json, text/event-stream').set('Content-Type', 'application/json').send(JSON.stringify(body));
    const first = await mcp([call(1), call(2), call(3), call(4)]);
    // createUser's /auth/me spent 1; the batch 4 more.
    expect(first.headers['ratelimit-remaining']).toBe(String(LIMIT - 5));
    expectError(await mcp(Array.from({ length: 6 }, (_, i) => call(10 + i))), 429, 'rate_limited');
  });

  it('counts 401s per client address: a flood of bad tokens gets 429 after the limit', async () => {
    // This address has already logged in a few times above (public routes count per address too).
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 2; i++) statuses.push((await app.http.get('/api/v1/tasks').set('Authorization', `Bearer not-a-token-${i}`)).status);
    const limited = statuses.indexOf(429);
    expect(limited).toBeGreaterThan(0);
    expect(statuses.slice(0, limited)).toEqual(Array(limited).fill(401));
    expect(statuses.slice(limited)).toEqual(Array(statuses.length - limited).fill(429));
    expectError(await app.http.get('/api/v1/tasks').set('Authorization', 'Bearer amk_0000_nope'), 429, 'rate_limited');
  });
});

describe('denial audits are aggregated (e2e)', () => {
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp({ env: { AUDIT_DENIAL_WINDOW_SEC: '3' } });
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  it('writes one authz.denied row per principal and route per window, then one row with the count of the rest', async () => {
    const viewer = await createUser(app, admin, ['viewer']);
    const denials = await Promise.all(Array.from({ length: 8 }, () => app.http.get('/api/v1/users').set(viewer.auth)));
    for (const res of denials) expectError(res, 403, 'forbidden');
    expectError(await app.http.get('/api/v1/roles').set(viewer.auth), 403, 'forbidden');
    const rowsOf = () =>
      app.sql<{ resource_id: string; details: Record<string, unknown> }>(
        `SELECT resource_id, details FROM audit_events WHERE action = 'authz.denied' AND actor_id = $1 ORDER BY seq`,
        [viewer.id],
      );
    expect(await rowsOf()).toEqual([
      { resource_id: 'GET /api/v1/users', details: { required_permission: 'users:read' } },
      { resource_id: 'GET /api/v1/roles', details: { required_permission: 'roles:read' } },
    ]);
    // When the window closes, the 7 denials it held back are written as one row with their count.
    const rows = await eventually(async () => {
      const found = await rowsOf();
      return found.length >= 3 ? found : undefined;
    }, 8000);
    expect(rows).toEqual([
      { resource_id: 'GET /api/v1/users', details: { required_permission: 'users:read' } },
      { resource_id: 'GET /api/v1/roles', details: { required_permission: 'roles:read' } },
      { resource_id: 'GET /api/v1/users', details: { required_permission: 'users:read', count: 7, window_sec: 3 } },
    ]);
  });
});

/** Every sample of one metric in Prometheus text, with its labels. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const found: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    found.push({ labels: Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]])), value: Number(m[4]) });
  }
  return found;
}

describe('/metrics scrape storms (e2e)', () => {
  const REFRESH_MS = 1500;
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp({ env: { METRICS_GAUGE_REFRESH_MS: String(REFRESH_MS), METRICS_MAX_TASK_TYPES: '3' } });
    admin = await loginAdmin(app);
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(() => app.close());

  it('caps the type label: the top types by count, the rest summed as other', async () => {
    const types = ['top-a', 'top-b', 'top-c', 'tail-d', 'tail-e'].map((t) => uniqueName(t));
    const counts = [4, 3, 2, 1, 1];
    for (const [i, type] of types.entries()) for (let n = 0; n < counts[i]; n++) await createTask(app, admin.auth, { type });
    await new Promise((r) => setTimeout(r, REFRESH_MS + 100));
    const text = (await app.http.get('/metrics').expect(200)).text;
    const tasks = samples(text, 'agentmanager_tasks');
    expect(new Set(tasks.map((s) => s.labels.type))).toEqual(new Set([...types.slice(0, 3), 'other']));
    expect(tasks.find((s) => s.labels.type === 'other' && s.labels.status === 'ready')?.value).toBe(2);
    expect(tasks.find((s) => s.labels.type === types[0] && s.labels.status === 'ready')?.value).toBe(4);
  });

  it('runs the gauge query at most once per refresh interval, however often and on however many instances it is scraped', async () => {
    const config = loadConfig({ DATABASE_URL: app.config.databaseUrl, ADMIN_PASSWORD, LOG_LEVEL: 'silent', DB_POOL_SIZE: '4', METRICS_GAUGE_REFRESH_MS: String(REFRESH_MS) });
    const second: ServerApp = await createServerApp(config, createLogger('silent'));
    await second.app.listen(0, '127.0.0.1');
    try {
      const instances = [app.http, request(`http://127.0.0.1:${(second.app.getHttpServer().address() as AddressInfo).port}`)];
      // Each instance's own repository, watched (calls go through to the database).
      const spies = [jest.spyOn(app.server.app.get(MetricsRepository), 'gauges'), jest.spyOn(second.app.get(MetricsRepository), 'gauges')];
      const started = Date.now();
      for (let round = 0; round < 10; round++) {
        const scrapes = await Promise.all(Array.from({ length: 20 }, (_, i) => instances[i % 2].get('/metrics')));
        for (const res of scrapes) {
          expect(res.status).toBe(200);
          expect(res.text).toContain('agentmanager_tasks{');
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const elapsed = Date.now() - started;
      const queries = spies.reduce((n, spy) => n + spy.mock.calls.length, 0);
      // 200 scrapes over ~2 intervals: at most one query per interval begun, across both instances.
      expect(queries).toBeGreaterThanOrEqual(1);
      expect(queries).toBeLessThanOrEqual(Math.ceil(elapsed / REFRESH_MS) + 1);
    } finally {
      await second.close();
    }
  });
});
