import { JwtService } from '@nestjs/jwt';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { PasswordHasher } from '../../apps/server/src/access/password-hasher';
import { createApiKey, createUser, expectError, login, loginAdmin, type Session, uniqueName } from '../harness/factories';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';

/**
 * Escalation attempts (issue 16 items 1, 4, 5, 12, 13): each asserts what the attacker gets (403,
 * 401, 404, 429) and that nothing changed behind the refusal.
 */

const MAX_FAILURES = 3;
const MCP_SESSION_CAP = 2;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** An identity provider's RS256 token; `omit` drops a claim the provider would normally set. */
function idpToken(claims: Record<string, unknown>, omit: { exp?: boolean; aud?: boolean } = {}): Promise<string> {
  return new JwtService({}).signAsync(
    { preferred_username: 'outsider', realm_access: { roles: [] }, ...claims },
    {
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      algorithm: 'RS256',
      ...(omit.aud ? {} : { audience: 'agentmanager' }),
      ...(omit.exp ? {} : { expiresIn: 60 }),
    },
  );
}

describe('security: privilege bounds (e2e)', () => {
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp({
      env: {
        TRUST_PROXY_HOPS: '1',
        LOGIN_MAX_FAILURES: String(MAX_FAILURES),
        JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }) as string,
        JWT_ROLES_CLAIM: 'realm_access.roles',
        MCP_MAX_SESSIONS_PER_PRINCIPAL: String(MCP_SESSION_CAP),
      },
    });
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  async function customRole(permissions: string[]): Promise<string> {
    const name = uniqueName('role');
    await app.http.post('/api/v1/roles').set(admin.auth).send({ name, permissions }).expect(201);
    return name;
  }

  describe('item 1: users:write cannot grant more than the caller holds', () => {
    let manager: Session;
    let role: string;

    beforeAll(async () => {
      role = await customRole(['users:read', 'users:write']);
      manager = await createUser(app, admin, [role]);
    });

    it('refuses to create an admin, or to grant itself admin, and changes nothing', async () => {
      const username = uniqueName('sneaky');
      expectError(
        await app.http.post('/api/v1/users').set(manager.auth).send({ username, password: 'pw-long-enough-1', roles: ['admin'] }),
        403,
        'forbidden',
      );
      expect(await app.sql('SELECT 1 FROM users WHERE username = $1', [username])).toHaveLength(0);

      expectError(await app.http.patch(`/api/v1/users/${manager.id}`).set(manager.auth).send({ roles: [role, 'admin'] }), 403, 'forbidden');
      const self = await app.http.get(`/api/v1/users/${manager.id}`).set(admin.auth).expect(200);
      expect(self.body.roles).toEqual([role]);

      // Within its own bounds it still works.
      await app.http.post('/api/v1/users').set(manager.auth).send({ username, password: 'pw-long-enough-1', roles: [role] }).expect(201);
    });

    it("refuses to reset the admin's password or disable them, and the admin still logs in", async () => {
      expectError(await app.http.patch(`/api/v1/users/${admin.id}`).set(manager.auth).send({ password: 'pwned-password-1' }), 403, 'forbidden');
      expectError(await app.http.patch(`/api/v1/users/${admin.id}`).set(manager.auth).send({ disabled: true }), 403, 'forbidden');
      expectError(await app.http.patch(`/api/v1/users/${admin.id}`).set(manager.auth).send({ roles: ['viewer'] }), 403, 'forbidden');
      await login(app, 'admin', ADMIN_PASSWORD);
      const after = await app.http.get(`/api/v1/users/${admin.id}`).set(admin.auth).expect(200);
      expect(after.body).toMatchObject({ roles: ['admin'], disabled: false });
    });

    it('refuses to delete a user who holds more than the caller', async () => {
      const otherAdmin = await createUser(app, admin, ['admin']);
      expectError(await app.http.delete(`/api/v1/users/${otherAdmin.id}`).set(manager.auth), 403, 'forbidden');
      await app.http.get(`/api/v1/users/${otherAdmin.id}`).set(admin.auth).expect(200);
    });
  });

  describe('item 4: an API key is bounded by its creator’s current permissions', () => {
    it('loses what its creator lost', async () => {
      const keyMaker = await customRole(['api_keys:read', 'api_keys:write']);
      const operator = await createUser(app, admin, ['operator', keyMaker]);
      const key = await createApiKey(app, operator, ['operator']);
      await app.http.post('/api/v1/tasks').set(key.auth).send({ type: uniqueName('t') }).expect(201);

      await app.http.patch(`/api/v1/users/${operator.id}`).set(admin.auth).send({ roles: ['viewer', keyMaker] }).expect(200);
      expectError(await app.http.post('/api/v1/tasks').set(key.auth).send({ type: uniqueName('t') }), 403, 'forbidden');
      await app.http.get('/api/v1/tasks').set(key.auth).expect(200);
      const me = await app.http.get('/api/v1/auth/me').set(key.auth).expect(200);
      expect(me.body.permissions).not.toContain('tasks:write');
    });
  });

  describe('item 5: login lockout', () => {
    const from = (ip: string) => ({ 'X-Forwarded-For': ip });
    const attempt = (username: string, password: string, ip: string) =>
      app.http.post('/api/v1/auth/login').set(from(ip)).send({ username, password });

    it('locks the attacking address only: the right password from another address still logs in', async () => {
      const victim = await createUser(app, admin, ['viewer']);
      for (let i = 0; i < MAX_FAILURES; i++) expect((await attempt(victim.username, 'wrong', '203.0.113.10')).status).toBe(401);
      const blocked = await attempt(victim.username, victim.password, '203.0.113.10');
      expectError(blocked, 429, 'login_throttled');
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      expect((await attempt(victim.username, victim.password, '203.0.113.11')).status).toBe(200);
    });

    it('still caps a distributed attack per username', async () => {
      const victim = await createUser(app, admin, ['viewer']);
      // Many addresses, each under its own limit, until the username's own cap is reached.
      let refused = 0;
      for (let a = 0; a < 12 && refused === 0; a++) {
        for (let i = 0; i < MAX_FAILURES; i++) {
          const res = await attempt(victim.username, 'wrong', `198.51.100.${a + 1}`);
          if (res.status === 429) refused++;
        }
      }
      expect(refused).toBeGreaterThan(0);
      expectError(await attempt(victim.username, victim.password, '198.51.100.200'), 429, 'login_throttled');
    });

    it('a parallel burst of wrong passwords gets at most the limit of verifications', async () => {
      const victim = await createUser(app, admin, ['viewer']);
      const hasher = app.server.app.get(PasswordHasher);
      const verify = jest.spyOn(hasher, 'verify');
      try {
        const burst = await Promise.all(Array.from({ length: 20 }, () => attempt(victim.username, 'wrong', '203.0.113.50')));
        expect(burst.filter((r) => r.status === 401)).toHaveLength(MAX_FAILURES);
        expect(burst.filter((r) => r.status === 429)).toHaveLength(20 - MAX_FAILURES);
        expect(verify.mock.calls.length).toBeLessThanOrEqual(MAX_FAILURES);
      } finally {
        verify.mockRestore();
      }
    });
  });

  describe('item 12: identity provider tokens', () => {
    it('refuses a token without exp or without aud', async () => {
      const sub = uniqueName('ext');
      expect((await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${await idpToken({ sub })}`)).status).toBe(200);
      expectError(await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${await idpToken({ sub }, { exp: true })}`), 401, 'unauthenticated');
      expectError(await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${await idpToken({ sub }, { aud: true })}`), 401, 'unauthenticated');
    });

    it('an external subject equal to a local user id does not become that user', async () => {
      const lockRole = await customRole(['locks:read', 'locks:write']);
      const local = await createUser(app, admin, [lockRole]);
      const lock = await app.http.post('/api/v1/locks').set(local.auth).send({ path: `${uniqueName('sec')}/a.txt`, access: 'write' }).expect(201);
      const outsider = `Bearer ${await idpToken({ sub: local.id, realm_access: { roles: [lockRole] } })}`;
      const me = await app.http.get('/api/v1/auth/me').set('Authorization', outsider).expect(200);
      expect(me.body.id).toBe(local.id); // the wire shows the provider's subject as before

      const release = await app.http.delete(`/api/v1/locks/${lock.body.id}`).set('Authorization', outsider);
      expect([403, 404]).toContain(release.status);
      const locks = await app.http.get('/api/v1/locks').set(admin.auth).query({ path: lock.body.path }).expect(200);
      expect(locks.body.locks.map((l: { id: string }) => l.id)).toContain(lock.body.id);
    });
  });

  describe('item 13: MCP sessions', () => {
    const headers = { Accept: 'application/json, text/event-stream', 'Content-Type': 'application/json' };
    const initialize = (auth: { Authorization: string }) =>
      app.http
        .post('/mcp')
        .set(auth)
        .set(headers)
        .send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'sec', version: '1' } } });
    const listTools = (auth: { Authorization: string }, sessionId: string) =>
      app.http.post('/mcp').set(auth).set(headers).set('Mcp-Session-Id', sessionId).send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const open = async (auth: { Authorization: string }): Promise<string> => {
      const res = await initialize(auth).expect(200);
      return res.headers['mcp-session-id'];
    };

    it('another principal cannot use a session', async () => {
      const other = await createUser(app, admin, ['operator']);
      const sessionId = await open(admin.auth);
      await listTools(admin.auth, sessionId).expect(200);
      expectError(await listTools(other.auth, sessionId), 404, 'not_found');
      const subscribe = await app.http
        .post('/mcp')
        .set(other.auth)
        .set(headers)
        .set('Mcp-Session-Id', sessionId)
        .send({ jsonrpc: '2.0', id: 3, method: 'resources/subscribe', params: { uri: `agentmanager://tasks/${randomUUID()}` } });
      expectError(subscribe, 404, 'not_found');
      expectError(await app.http.get('/mcp').set(other.auth).set('Accept', 'text/event-stream').set('Mcp-Session-Id', sessionId), 404, 'not_found');
      await app.http.delete('/mcp').set(other.auth).set('Mcp-Session-Id', sessionId);
      await listTools(admin.auth, sessionId).expect(200);
    });

    it('caps sessions per principal: the oldest idle session is closed', async () => {
      const user = await createUser(app, admin, ['viewer']);
      const first = await open(user.auth);
      const kept = [];
      for (let i = 0; i < MCP_SESSION_CAP; i++) kept.push(await open(user.auth));
      expectError(await listTools(user.auth, first), 404, 'not_found');
      for (const id of kept) await listTools(user.auth, id).expect(200);
    });
  });
});
