import { randomBytes, randomUUID } from 'node:crypto';
import { loginAdmin, type Session } from '../harness/factories';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';

interface RequestLogLine {
  level: string;
  msg: string;
  req: { id: string; method: string; url: string };
  res: { status: number };
  responseTime: number;
  route: string | null;
  principal_id: string | null;
}

describe('logging (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  const secrets: string[] = [ADMIN_PASSWORD];
  const parsed = () => app.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
  const requestLines = () => parsed().filter((l) => l.req && l.res && 'responseTime' in l) as unknown as RequestLogLine[];

  beforeAll(async () => {
    app = await createTestApp({ captureLogs: true });
    admin = await loginAdmin(app);
    secrets.push(admin.accessToken, admin.refreshToken);
  });
  afterAll(() => app.close());

  it('writes JSON lines', () => {
    expect(app.logs.length).toBeGreaterThan(0);
    for (const line of app.logs) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('never logs a password, a token or an Authorization header', async () => {
    const refreshed = await app.http.post('/api/v1/auth/refresh').send({ refresh_token: admin.refreshToken });
    expect(refreshed.status).toBe(200);
    secrets.push(refreshed.body.access_token, refreshed.body.refresh_token);

    const password = `pw-${randomBytes(10).toString('hex')}`;
    const newPassword = `pw-${randomBytes(10).toString('hex')}`;
    secrets.push(password, newPassword);
    const created = await app.http
      .post('/api/v1/users')
      .set(admin.auth)
      .send({ username: `logged-${randomBytes(3).toString('hex')}`, password });
    expect(created.status).toBe(201);
    await app.http.patch(`/api/v1/users/${created.body.id}`).set(admin.auth).send({ password: newPassword }).expect(200);

    // Failures are logged too (at warn), with the same care.
    const wrong = `wrong-${randomBytes(10).toString('hex')}`;
    secrets.push(wrong);
    await app.http.post('/api/v1/auth/login').send({ username: 'admin', password: wrong }).expect(401);
    await app.http.post('/api/v1/auth/refresh').send({ refresh_token: `rt_${randomBytes(32).toString('base64url')}` }).expect(401);
    await app.http.post('/api/v1/users').set(admin.auth).send({ username: 'x', password: 'short' }).expect(400);
    await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${refreshed.body.access_token}`).expect(200);
    await app.http.get('/api/v1/auth/me').set('Authorization', 'Bearer this-is-a-bad-token').expect(401);
    secrets.push('this-is-a-bad-token');
    await app.http.get('/api/v1/auth/me').set('Cookie', `session=${password}`).expect(401);

    expect(requestLines().length).toBeGreaterThanOrEqual(9);
    for (const line of app.logs) {
      for (const secret of secrets) {
        if (line.includes(secret)) throw new Error(`a log line contains a secret: ${line}`);
      }
      expect(line).not.toContain('Bearer ');
      expect(line).not.toMatch(/\$argon2/);
    }
  });

  it('logs each request once with its request id, method, route, status and duration', async () => {
    const requestId = `log-${randomUUID()}`;
    const res = await app.http.get('/api/v1/users?limit=1').set(admin.auth).set('X-Request-Id', requestId);
    expect(res.status).toBe(200);
    const missing = await app.http.get(`/api/v1/users/${randomUUID()}`).set(admin.auth);
    expect(missing.status).toBe(404);

    const mine = requestLines().filter((l) => l.req.id === requestId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      level: 'info',
      req: { id: requestId, method: 'GET', url: '/api/v1/users' },
      res: { status: 200 },
      route: '/api/v1/users',
      principal_id: admin.id,
    });
    expect(typeof mine[0].responseTime).toBe('number');
    expect(mine[0].responseTime).toBeGreaterThanOrEqual(0);
    // The query string is not logged (it may carry filters users consider private).
    expect(JSON.stringify(mine[0])).not.toContain('limit=1');

    const notFound = requestLines().find((l) => l.req.id === missing.headers['x-request-id']);
    expect(notFound).toMatchObject({ level: 'warn', res: { status: 404 }, route: '/api/v1/users/:id' });

    // Every request log line carries the id the client saw.
    for (const line of requestLines()) {
      expect(line.req.id).toEqual(expect.any(String));
      expect(typeof line.res.status).toBe('number');
      expect(typeof line.responseTime).toBe('number');
    }
    // Probes are not logged (they would drown everything else).
    const probe = await app.http.get('/health/live');
    expect(requestLines().some((l) => l.req.id === probe.headers['x-request-id'])).toBe(false);
  });
});
