import { JwtService } from '@nestjs/jwt';
import { createUser, expectError, login, loginAdmin, type Session } from '../harness/factories';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';

describe('auth (e2e)', () => {
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp({ env: { LOGIN_MAX_FAILURES: '3', LOGIN_WINDOW_SEC: '60' } });
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  it('logs in and returns a token pair, and /auth/me describes the caller', async () => {
    const res = await app.http.post('/api/v1/auth/login').send({ username: 'admin', password: ADMIN_PASSWORD });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.stringMatching(/^rt_/),
      token_type: 'Bearer',
      expires_in: 900,
    });
    const me = await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${res.body.access_token}`);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ username: 'admin', roles: ['admin'], kind: 'user' });
    expect(me.body.permissions).toContain('users:write');
  });

  it('accepts usernames case-insensitively', async () => {
    const res = await app.http.post('/api/v1/auth/login').send({ username: 'ADMIN', password: ADMIN_PASSWORD });
    expect(res.status).toBe(200);
  });

  it('refuses a wrong password and an unknown user with the same 401', async () => {
    const user = await createUser(app, admin, ['viewer']);
    const wrong = await app.http.post('/api/v1/auth/login').send({ username: user.username, password: 'nope-nope' });
    expectError(wrong, 401, 'unauthenticated');
    const unknown = await app.http.post('/api/v1/auth/login').send({ username: 'nobody-here', password: 'nope-nope' });
    expectError(unknown, 401, 'unauthenticated');
    expect(unknown.body.message).toBe(wrong.body.message);
  });

  it('rotates refresh tokens, and a reused refresh token revokes the whole family', async () => {
    const user = await createUser(app, admin, ['viewer']);
    const first = await app.http.post('/api/v1/auth/refresh').send({ refresh_token: user.refreshToken });
    expect(first.status).toBe(200);
    expect(first.body.refresh_token).not.toBe(user.refreshToken);

    // The old token is spent: presenting it again is a reuse, which revokes its family ...
    const reuse = await app.http.post('/api/v1/auth/refresh').send({ refresh_token: user.refreshToken });
    expectError(reuse, 401, 'unauthenticated');
    // ... so the legitimately rotated token no longer works either.
    const after = await app.http.post('/api/v1/auth/refresh').send({ refresh_token: first.body.refresh_token });
    expectError(after, 401, 'unauthenticated');

    const audit = await app.sql<{ action: string; outcome: string }>(
      `SELECT action, outcome FROM audit_events WHERE actor_id = $1 AND action LIKE 'auth.refresh%' ORDER BY seq`,
      [user.id],
    );
    expect(audit).toEqual([
      { action: 'auth.refresh', outcome: 'success' },
      { action: 'auth.refresh_reuse', outcome: 'denied' },
      { action: 'auth.refresh', outcome: 'denied' },
    ]);
  });

  it('lets exactly one of two concurrent refreshes with the same token win', async () => {
    const user = await createUser(app, admin, ['viewer']);
    const results = await Promise.all([
      app.http.post('/api/v1/auth/refresh').send({ refresh_token: user.refreshToken }),
      app.http.post('/api/v1/auth/refresh').send({ refresh_token: user.refreshToken }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
  });

  it('logout spends the refresh token', async () => {
    const user = await createUser(app, admin, ['viewer']);
    const out = await app.http.post('/api/v1/auth/logout').set(user.auth).send({ refresh_token: user.refreshToken });
    expect(out.status).toBe(204);
    const res = await app.http.post('/api/v1/auth/refresh').send({ refresh_token: user.refreshToken });
    expectError(res, 401, 'unauthenticated');
  });

  it("stops a disabled user's existing access token at once", async () => {
    const user = await createUser(app, admin, ['viewer']);
    expect((await app.http.get('/api/v1/auth/me').set(user.auth)).status).toBe(200);
    const patch = await app.http.patch(`/api/v1/users/${user.id}`).set(admin.auth).send({ disabled: true });
    expect(patch.status).toBe(200);
    expectError(await app.http.get('/api/v1/auth/me').set(user.auth), 401, 'unauthenticated');
    expectError(await app.http.post('/api/v1/auth/refresh').send({ refresh_token: user.refreshToken }), 401, 'unauthenticated');
    expectError(
      await app.http.post('/api/v1/auth/login').send({ username: user.username, password: user.password }),
      401,
      'unauthenticated',
    );
  });

  it('applies a role change on the next request', async () => {
    const user = await createUser(app, admin, ['viewer']);
    expectError(await app.http.get('/api/v1/users').set(user.auth), 403, 'forbidden');
    await app.http.patch(`/api/v1/users/${user.id}`).set(admin.auth).send({ roles: ['admin'] }).expect(200);
    expect((await app.http.get('/api/v1/users').set(user.auth)).status).toBe(200);
  });

  it('throttles brute force per username with 429 and Retry-After, even for the right password', async () => {
    const user = await createUser(app, admin, ['viewer']);
    for (let i = 0; i < 3; i++) {
      expectError(await app.http.post('/api/v1/auth/login').send({ username: user.username, password: 'wrong-guess' }), 401, 'unauthenticated');
    }
    const blocked = await app.http.post('/api/v1/auth/login').send({ username: user.username, password: user.password });
    expectError(blocked, 429, 'login_throttled');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Other users are unaffected by one user's lockout.
    expect((await login(app, 'admin', ADMIN_PASSWORD)).accessToken).toEqual(expect.any(String));
  });

  it('rejects tokens that are malformed, forged or missing', async () => {
    expectError(await app.http.get('/api/v1/auth/me'), 401, 'unauthenticated');
    expectError(await app.http.get('/api/v1/auth/me').set('Authorization', 'Bearer not-a-token'), 401, 'unauthenticated');
    expectError(await app.http.get('/api/v1/auth/me').set('Authorization', 'Basic YWRtaW46YWRtaW4='), 401, 'unauthenticated');
    const [h, p] = admin.accessToken.split('.');
    expectError(await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${h}.${p}.forged`), 401, 'unauthenticated');
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expectError(await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${none}.${p}.`), 401, 'unauthenticated');
    // A token in the query string is never accepted.
    expectError(await app.http.get(`/api/v1/auth/me?access_token=${admin.accessToken}`), 401, 'unauthenticated');
  });

  it('refuses a token signed with the server key that is expired, of another issuer or not an access token, with the same 401', async () => {
    const [{ value: secret }] = await app.sql<{ value: string }>("SELECT value FROM system_secrets WHERE name = 'jwt_signing_key'");
    const jwt = new JwtService({ secret });
    const claims = { sub: admin.id, username: 'admin', typ: 'access' };
    const good = await jwt.signAsync(claims, { issuer: 'agentmanager', expiresIn: 60 });
    const refused = [
      await jwt.signAsync({ ...claims, exp: Math.floor(Date.now() / 1000) - 5 }, { issuer: 'agentmanager' }),
      await jwt.signAsync(claims, { issuer: 'someone-else', expiresIn: 60 }),
      await jwt.signAsync({ ...claims, typ: 'refresh' }, { issuer: 'agentmanager', expiresIn: 60 }),
    ];
    expect((await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${good}`)).status).toBe(200);
    for (const token of refused) {
      const res = await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${token}`);
      expectError(res, 401, 'unauthenticated');
      expect(res.body.message).toBe('The token is invalid or expired');
    }
    const missing = await app.http.get('/api/v1/auth/me');
    expect(missing.body.message).toBe('A bearer token is required');
  });
});
