import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createServerApp, type ServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { loadConfig } from '../../apps/server/src/config/app-config';
import { claimTasks, createApiKey, createTask, eventually, expectError, loginAdmin, registerAgent, type Session } from '../harness/factories';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';

/** A sample's value from Prometheus text, by metric name and exact label set (or undefined). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) return Number(m[4]);
  }
  return undefined;
}

describe('metrics (e2e)', () => {
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp();
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  it('exposes Prometheus text that moves with traffic: task counters, gauges and the HTTP histogram by route', async () => {
    const before = await app.http.get('/metrics').expect(200);
    expect(before.headers['content-type']).toMatch(/^text\/plain; version=0.0.4/);
    const claimedBefore = sample(before.text, 'agentmanager_tasks_claimed_total') ?? 0;

    const key = await createApiKey(app, admin, ['agent']);
    const agent = await registerAgent(app, key.auth, { capabilities: ['m'] });
    const done = await createTask(app, admin.auth, { type: 'metric-a', required_capabilities: ['m'] });
    await createTask(app, admin.auth, { type: 'metric-b', required_capabilities: ['nobody-has-this'] });
    const [claimed] = await claimTasks(app, key.auth, agent.id);
    expect(claimed.id).toBe(done.id);
    await app.http.post(`/api/v1/tasks/${done.id}/complete`).set(key.auth).send({ agent_id: agent.id, attempt: claimed.attempt, result: {} }).expect(200);
    await app.http.get(`/api/v1/tasks/${done.id}`).set(admin.auth).expect(200);
    await app.http.get('/api/v1/no-such-route').set(admin.auth).expect(404);

    const res = await app.http.get('/metrics').expect(200);
    const text = res.text;
    expect(sample(text, 'agentmanager_tasks_claimed_total')).toBe(claimedBefore + 1);
    expect(sample(text, 'agentmanager_tasks_completed_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'agentmanager_claim_duration_seconds_count', { outcome: 'claimed' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'agentmanager_tasks', { status: 'completed', type: 'metric-a' })).toBe(1);
    expect(sample(text, 'agentmanager_tasks', { status: 'ready', type: 'metric-b' })).toBe(1);
    expect(sample(text, 'agentmanager_agents', { status: 'active' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'agentmanager_file_locks_active')).toBe(0);
    expect(sample(text, 'agentmanager_sockets_connected')).toBe(0);
    expect(sample(text, 'agentmanager_outbox_lag_events')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'agentmanager_process_resident_memory_bytes')).toBeGreaterThan(0);
    // The route label is the Nest route pattern, never the raw URL with an id in it.
    expect(
      sample(text, 'agentmanager_http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/tasks/:id', status: '200' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'agentmanager_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/tasks/claim', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(done.id);
    expect(text).toMatch(/agentmanager_http_request_duration_seconds_bucket\{[^}]*route="\/api\/v1\/tasks\/:id"/);
  });

  it('requires the bearer METRICS_TOKEN when one is set', async () => {
    const secured = await createTestApp({ env: { METRICS_TOKEN: 'scrape-secret-123' } });
    try {
      expectError(await secured.http.get('/metrics'), 401, 'unauthenticated');
      expectError(await secured.http.get('/metrics').set('Authorization', 'Bearer wrong'), 401, 'unauthenticated');
      const ok = await secured.http.get('/metrics').set('Authorization', 'Bearer scrape-secret-123');
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('agentmanager_tasks_claimed_total');
    } finally {
      await secured.close();
    }
  });
});

describe('rate limiting (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  const LIMIT = 8;

  beforeAll(async () => {
    app = await createTestApp({ env: { RATE_LIMIT_PER_MIN: String(LIMIT), RATE_LIMIT_AGENT_PER_MIN: '1000' } });
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  it('counts per principal, answers 429 rate_limited with RateLimit-* and Retry-After, and never starves the agent loop', async () => {
    const key = await createApiKey(app, admin, ['agent']);
    const agent = await registerAgent(app, key.auth); // 1 of the key's budget
    const seen: { status: number; remaining: string; limit: string; reset: string }[] = [];
    for (let i = 0; i < LIMIT; i++) {
      const res = await app.http.get(`/api/v1/agents/${agent.id}`).set(key.auth);
      seen.push({ status: res.status, remaining: res.headers['ratelimit-remaining'], limit: res.headers['ratelimit-limit'], reset: res.headers['ratelimit-reset'] });
    }
    expect(seen.slice(0, LIMIT - 1).map((s) => s.status)).toEqual(Array(LIMIT - 1).fill(200));
    expect(seen.slice(0, LIMIT - 1).map((s) => Number(s.remaining))).toEqual(Array.from({ length: LIMIT - 1 }, (_, i) => LIMIT - 2 - i));
    expect(seen[0].limit).toBe(String(LIMIT));
    expect(Number(seen[0].reset)).toBeGreaterThan(0);
    expect(Number(seen[0].reset)).toBeLessThanOrEqual(60);

    const limited = seen[LIMIT - 1];
    expect(limited.status).toBe(429);
    const res = await app.http.get(`/api/v1/agents/${agent.id}`).set(key.auth);
    expectError(res, 429, 'rate_limited');
    expect(res.headers['ratelimit-remaining']).toBe('0');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);

    // The same key's heartbeats and claims have their own budget.
    await app.http.post(`/api/v1/agents/${agent.id}/heartbeat`).set(key.auth).send({}).expect(200);
    const claim = await app.http.post('/api/v1/tasks/claim').set(key.auth).send({ agent_id: agent.id });
    expect(claim.status).toBe(200);
    expect(claim.headers['ratelimit-limit']).toBe('1000');

    // Another principal is unaffected; so are probes and scrapes.
    const other = await app.http.get('/api/v1/auth/me').set(admin.auth);
    expect(other.status).toBe(200);
    await app.http.get('/health/ready').expect(200);
    const metrics = await app.http.get('/metrics').expect(200);
    expect(sample(metrics.text, 'agentmanager_rate_limited_total')).toBeGreaterThanOrEqual(2);
  });

  it('limits unauthenticated routes per client IP', async () => {
    // Login is public: counted per IP (on top of its own failure limiter).
    let last = 0;
    for (let i = 0; i < LIMIT + 1 && last !== 429; i++) {
      last = (await app.http.post('/api/v1/auth/refresh').send({ refresh_token: 'rt_not-a-real-token' })).status;
    }
    expect(last).toBe(429);
    // The shared counters are written in batches, a moment after the requests.
    const rows = await eventually(async () => {
      const found = await app.sql<{ bucket: string; hits: number }>(`SELECT bucket, hits FROM rate_limit_counters WHERE bucket LIKE 'api|ip:%'`);
      return found.length && found[0].hits >= LIMIT + 1 ? found : undefined;
    });
    expect(rows.length).toBe(1);
  });

  // Last in this block: closing a second ServerApp on the same database (as in events.e2e-spec.ts).
  it('shares one budget across instances on the same database', async () => {
    const config = loadConfig({ DATABASE_URL: app.config.databaseUrl, ADMIN_PASSWORD, LOG_LEVEL: 'silent', DB_POOL_SIZE: '4', RATE_LIMIT_PER_MIN: String(LIMIT) });
    const second: ServerApp = await createServerApp(config, createLogger('silent'));
    await second.app.listen(0, '127.0.0.1');
    try {
      const instances = [app.http, request(`http://127.0.0.1:${(second.app.getHttpServer().address() as AddressInfo).port}`)];
      const key = await createApiKey(app, admin, ['viewer']);
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT + 2; i++) {
        statuses.push((await instances[i % 2].get('/api/v1/auth/me').set(key.auth)).status);
        // Longer than a flush, so each instance has counted the other's hits.
        await new Promise((r) => setTimeout(r, 250));
      }
      // Neither instance alone saw more than LIMIT / 2 + 1 calls: the 429s come from the shared count.
      expect(statuses).toEqual([...Array<number>(LIMIT).fill(200), 429, 429]);
    } finally {
      await second.close();
    }
  });
});

describe('HTTP hardening (e2e)', () => {
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp({ env: { CORS_ORIGINS: 'https://panel.example', BODY_LIMIT_BYTES: '2048' } });
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  const expectHardened = (res: { headers: Record<string, string> }) => {
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  };

  it('sends the security headers on 200, 401, 404 and 413', async () => {
    const ok = await app.http.get('/api/v1/auth/me').set(admin.auth);
    expect(ok.status).toBe(200);
    expectHardened(ok);
    expect(ok.headers['content-security-policy']).toContain("default-src 'none'");
    expect(ok.headers['cache-control']).toBe('no-store');

    const unauth = await app.http.get('/api/v1/users');
    expectError(unauth, 401, 'unauthenticated');
    expectHardened(unauth);

    const missing = await app.http.get('/api/v1/tasks/00000000-0000-4000-8000-000000000000').set(admin.auth);
    expectError(missing, 404, 'not_found');
    expectHardened(missing);
    const unknown = await app.http.get('/api/v1/nothing-here').set(admin.auth);
    expectError(unknown, 404, 'not_found');
    expectHardened(unknown);
    // Outside the API (the control panel's pages): same-origin scripts only.
    const page = await app.http.get('/some-page');
    expectHardened(page);
    expect(page.headers['content-security-policy']).toContain("script-src 'self';");

    const tooLarge = await app.http.post('/api/v1/tasks').set(admin.auth).send({ type: 'big', payload: { blob: 'x'.repeat(4096) } });
    expectError(tooLarge, 413, 'payload_too_large');
    expectHardened(tooLarge);
  });

  it('never lets user and API-key responses be cached', async () => {
    const users = await app.http.get('/api/v1/users').set(admin.auth).expect(200);
    expect(users.headers['cache-control']).toBe('no-store');
    const keys = await app.http.get('/api/v1/api-keys').set(admin.auth).expect(200);
    expect(keys.headers['cache-control']).toBe('no-store');
  });

  it('lets /docs run Swagger UI inline, and nothing else', async () => {
    const docs = await app.http.get('/docs/').redirects(1);
    expect(docs.status).toBe(200);
    expect(docs.headers['content-security-policy']).toContain("script-src 'self' 'unsafe-inline'");
    expect(docs.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('allows CORS only from CORS_ORIGINS', async () => {
    const preflight = await app.http
      .options('/api/v1/auth/me')
      .set('Origin', 'https://panel.example')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'authorization');
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://panel.example');
    expect(preflight.headers['access-control-allow-headers']?.toLowerCase()).toContain('authorization');

    const simple = await app.http.get('/api/v1/auth/me').set(admin.auth).set('Origin', 'https://panel.example');
    expect(simple.status).toBe(200);
    expect(simple.headers['access-control-allow-origin']).toBe('https://panel.example');
    expect(simple.headers['access-control-expose-headers']).toContain('RateLimit-Remaining');

    const evilPreflight = await app.http
      .options('/api/v1/auth/me')
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'authorization');
    expect(evilPreflight.headers['access-control-allow-origin']).toBeUndefined();
    const evil = await app.http.get('/api/v1/auth/me').set(admin.auth).set('Origin', 'https://evil.example');
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sheds load with 503 service_unavailable and Retry-After when the database pool is backed up', async () => {
    const shedding = await createTestApp({ env: { SHED_DB_WAITERS: '1', DB_POOL_SIZE: '2' } });
    try {
      const s = await loginAdmin(shedding);
      // Hold both pooled connections, then queue two more queries behind them.
      const hold = Array.from({ length: 4 }, () => shedding.sql('SELECT pg_sleep(1.5)'));
      await new Promise((r) => setTimeout(r, 200));
      const res = await shedding.http.get('/api/v1/auth/me').set(s.auth);
      expectError(res, 503, 'service_unavailable');
      expect(res.body.details).toEqual({ cause: 'db_pool' });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      // Probes still answer (liveness needs no database).
      await shedding.http.get('/health/live').expect(200);
      await Promise.all(hold);
      // Once the queries queued behind the sleeps (sweeps, counters) have run, service resumes.
      await eventually(async () => ((await shedding.http.get('/api/v1/auth/me').set(s.auth)).status === 200 ? true : undefined), 5000);
    } finally {
      await shedding.close();
    }
  });
});
