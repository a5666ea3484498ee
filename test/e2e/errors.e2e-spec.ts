import { randomUUID } from 'node:crypto';
import { createUser, expectError, loginAdmin, type Session } from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';
import { adminQuery } from '../harness/test-database';

type Res = { status: number; body: Record<string, unknown>; headers: Record<string, string>; text: string };

/** What must never reach a client: stack frames, source paths, SQL. */
const LEAKS: [string, RegExp][] = [
  ['a stack frame', /\bat [\w$.<>]+ \(|\n\s+at |\bat (\/|file:|node:)/],
  ['a source location', /\.(ts|js|mjs):\d+/],
  ['SQL', /\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b/],
  ['a file path', /\/work\/|\/node_modules\/|\/home\/|\/tmp\//],
];

function expectNoLeak(res: Res): void {
  for (const [what, pattern] of LEAKS) {
    if (pattern.test(res.text)) throw new Error(`the ${res.status} body contains ${what}: ${res.text}`);
  }
}

describe('error bodies (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  /** Every error response the tests saw, checked for leaks at the end. */
  const seen: Res[] = [];
  const keep = <T extends Res>(res: T): T => {
    seen.push(res);
    return res;
  };

  beforeAll(async () => {
    app = await createTestApp({ env: { LOGIN_MAX_FAILURES: '2', LOGIN_WINDOW_SEC: '60' } });
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  it('answers malformed JSON with 400 invalid_json', async () => {
    const res = keep(
      await app.http.post('/api/v1/auth/login').set('Content-Type', 'application/json').send('{"username": "admin", '),
    );
    expectError(res, 400, 'invalid_json');
  });

  it('lists every bad field of a failed validation in details.fields', async () => {
    const res = keep(
      await app.http
        .post('/api/v1/users')
        .set(admin.auth)
        .send({ username: 'ok-name', password: 12345678, disabled: 'yes', shoe_size: 44 }),
    );
    expectError(res, 400, 'validation_failed');
    const fields = (res.body.details as { fields: { field: string; errors: string[] }[] }).fields;
    expect(fields.map((f) => f.field).sort()).toEqual(['disabled', 'password', 'shoe_size']);
    for (const f of fields) expect(f.errors.length).toBeGreaterThan(0);
    // Nothing was created by the refused request.
    expect(await app.sql(`SELECT 1 FROM users WHERE username = 'ok-name'`)).toEqual([]);
  });

  it('reports missing required fields by name', async () => {
    const res = keep(await app.http.post('/api/v1/auth/login').send({}));
    expectError(res, 400, 'validation_failed');
    const fields = (res.body.details as { fields: { field: string }[] }).fields.map((f) => f.field).sort();
    expect(fields).toEqual(['password', 'username']);
  });

  it('treats a body that is not JSON as no body at all: 400 validation_failed, never 500', async () => {
    // Only application/json bodies are parsed (urlencoded too); other content types are ignored,
    // so the endpoint sees no fields and says which ones it needs. There is no 415 on this API.
    const res = keep(
      await app.http.post('/api/v1/auth/login').set('Content-Type', 'text/plain').send('username=admin&password=x'),
    );
    expectError(res, 400, 'validation_failed');
    const xml = keep(await app.http.post('/api/v1/auth/login').set('Content-Type', 'application/xml').send('<login/>'));
    expectError(xml, 400, 'validation_failed');
  });

  it('answers a missing or bad credential with 401', async () => {
    expectError(keep(await app.http.get('/api/v1/users')), 401, 'unauthenticated');
    expectError(keep(await app.http.get('/api/v1/users').set('Authorization', 'Bearer nope')), 401, 'unauthenticated');
  });

  it('answers a caller without the permission with 403', async () => {
    const viewer = await createUser(app, admin, ['viewer']);
    const res = keep(await app.http.get('/api/v1/users').set(viewer.auth));
    expectError(res, 403, 'forbidden');
    expect(res.body.message).toContain('users:read');
  });

  it('answers an unknown route with 404, with or without credentials', async () => {
    expectError(keep(await app.http.get('/api/v1/no-such-thing')), 404, 'not_found');
    expectError(keep(await app.http.get('/api/v1/no-such-thing').set(admin.auth)), 404, 'not_found');
    expectError(keep(await app.http.delete('/nowhere')), 404, 'not_found');
  });

  it('answers an unknown id with 404 and a malformed id with 400 naming the parameter', async () => {
    const missing = keep(await app.http.get(`/api/v1/users/${randomUUID()}`).set(admin.auth));
    expectError(missing, 404, 'not_found');
    const bad = keep(await app.http.get('/api/v1/users/not-a-uuid').set(admin.auth));
    expectError(bad, 400, 'validation_failed');
    expect(bad.body.details).toEqual({ fields: [{ field: 'id', errors: [expect.stringContaining('UUID')] }] });
    // The id is checked before anything is read or changed.
    expectError(keep(await app.http.delete("/api/v1/users/1';DROP TABLE users;--").set(admin.auth)), 400, 'validation_failed');
    expect((await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM users'))[0].n).toBeGreaterThan(0);
  });

  it('answers a body over BODY_LIMIT_BYTES with 413', async () => {
    expect(app.config.bodyLimitBytes).toBe(1_048_576);
    const big = JSON.stringify({ username: 'admin', password: 'x'.repeat(app.config.bodyLimitBytes) });
    const res = keep(await app.http.post('/api/v1/auth/login').set('Content-Type', 'application/json').send(big));
    expectError(res, 413, 'payload_too_large');
    // Just under the limit is parsed and validated as usual.
    const fits = JSON.stringify({ username: 'admin', password: 'x'.repeat(app.config.bodyLimitBytes - 100) });
    const ok = keep(await app.http.post('/api/v1/auth/login').set('Content-Type', 'application/json').send(fits));
    expectError(ok, 400, 'validation_failed');
  });

  it('throttles repeated failed logins with 429 and Retry-After', async () => {
    const user = await createUser(app, admin, ['viewer']);
    for (let i = 0; i < 2; i++) {
      expectError(keep(await app.http.post('/api/v1/auth/login').send({ username: user.username, password: 'wrong-one' })), 401, 'unauthenticated');
    }
    const res = keep(await app.http.post('/api/v1/auth/login').send({ username: user.username, password: user.password }));
    expectError(res, 429, 'login_throttled');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('gives every response an X-Request-Id, echoing a safe one and replacing an unsafe one', async () => {
    const mine = `client-req.${randomUUID()}:1`;
    for (const res of [
      await app.http.get('/health/live'),
      await app.http.get('/api/v1/auth/me').set(admin.auth),
      keep(await app.http.get('/api/v1/auth/me')),
      keep(await app.http.get('/api/v1/nope')),
    ]) {
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    for (const res of [
      await app.http.get('/health/live').set('X-Request-Id', mine),
      await app.http.get('/api/v1/auth/me').set(admin.auth).set('X-Request-Id', mine),
      keep(await app.http.get('/api/v1/auth/me').set('X-Request-Id', mine)),
      keep(await app.http.post('/api/v1/auth/login').set('X-Request-Id', mine).set('Content-Type', 'application/json').send('{')),
    ]) {
      expect(res.headers['x-request-id']).toBe(mine);
    }
    expect((await app.http.get('/api/v1/auth/me').set('X-Request-Id', mine)).body.request_id).toBe(mine);

    for (const unsafe of ['has spaces in it', 'x'.repeat(129), 'new\\nline', '<script>', '']) {
      const res = keep(await app.http.get('/api/v1/auth/me').set('X-Request-Id', unsafe));
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.body.request_id).toBe(res.headers['x-request-id']);
    }
    // Exactly 128 safe characters is still echoed.
    const longest = 'a'.repeat(128);
    expect((await app.http.get('/health/live').set('X-Request-Id', longest)).headers['x-request-id']).toBe(longest);
  });

  it('never puts a stack trace, SQL or a file path in an error body', () => {
    expect(seen.length).toBeGreaterThan(20);
    for (const res of seen) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(Object.keys(res.body).sort()).toEqual(['code', 'details', 'message', 'request_id', 'status_code']);
      expectNoLeak(res);
    }
  });

  describe('when the database is unreachable', () => {
    let down: TestApp;
    let token: string;
    const dbName = () => new URL(down.config.databaseUrl as string).pathname.slice(1);
    const adminUrl = () => process.env.AM_TEST_ADMIN_URL as string;
    const setReachable = async (allow: boolean) => {
      await adminQuery(adminUrl(), `ALTER DATABASE "${dbName()}" WITH ALLOW_CONNECTIONS ${allow}`);
      if (!allow) {
        await adminQuery(
          adminUrl(),
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${dbName()}' AND pid <> pg_backend_pid()`,
        );
      }
    };

    beforeAll(async () => {
      down = await createTestApp();
      token = (await loginAdmin(down)).accessToken;
    });
    afterAll(async () => {
      await setReachable(true);
      await down.close();
    });

    it('reports 503 with Retry-After on /health/ready and on API calls, then recovers', async () => {
      expect((await down.http.get('/health/ready')).status).toBe(200);
      await setReachable(false);

      const ready = keep(await down.http.get('/health/ready'));
      expectError(ready, 503, 'service_unavailable');
      expect(ready.body.details).toEqual({ database: 'down' });
      expect(Number(ready.headers['retry-after'])).toBeGreaterThan(0);
      // Liveness does not depend on the database: restarting the process would not help.
      expect((await down.http.get('/health/live')).status).toBe(200);

      // An outage is a 503, not "your credentials are wrong" and not a 500.
      const me = keep(await down.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`));
      expectError(me, 503, 'service_unavailable');
      const login = keep(await down.http.post('/api/v1/auth/login').send({ username: 'admin', password: 'whatever-it-is' }));
      expectError(login, 503, 'service_unavailable');
      for (const res of [ready, me, login]) expectNoLeak(res);

      await setReachable(true);
      expect((await down.http.get('/health/ready')).status).toBe(200);
      expect((await down.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    });
  });
});
