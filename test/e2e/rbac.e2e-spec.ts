import { createHash } from 'node:crypto';
import type { Response } from 'supertest';
import { createApiKey, createUser, expectError, loginAdmin, type Session,uniqueName } from '../harness/factories';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';

const ADMIN_ROUTES = ['/api/v1/users', '/api/v1/roles', '/api/v1/api-keys', '/api/v1/audit-events'];

describe('roles and API keys (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  // Every secret this file handles, so the last test can check none reached the audit trail.
  const keys: string[] = [];
  const passwords: string[] = [ADMIN_PASSWORD];

  beforeAll(async () => {
    app = await createTestApp();
    admin = await loginAdmin(app);
  });
  afterAll(() => app.close());

  async function user(roles: string[]): Promise<Session> {
    const session = await createUser(app, admin, roles);
    passwords.push(session.password);
    return session;
  }

  async function apiKey(creator: Session, roles: string[]) {
    const created = await createApiKey(app, creator, roles);
    keys.push(created.key);
    return created;
  }

  async function role(permissions: string[]): Promise<string> {
    const name = uniqueName('role');
    const res = await app.http.post('/api/v1/roles').set(admin.auth).send({ name, permissions });
    expect(res.status).toBe(201);
    return name;
  }

  describe('roles', () => {
    it('lists roles by name, page by page, with the four built-in ones', async () => {
      const names: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Response = await app.http
          .get('/api/v1/roles')
          .query({ limit: 2, ...(cursor ? { cursor } : {}) })
          .set(admin.auth);
        expect(res.status).toBe(200);
        expect(res.body.roles.length).toBeLessThanOrEqual(2);
        names.push(...res.body.roles.map((r: { name: string }) => r.name));
        cursor = res.body.next_cursor;
      } while (cursor);
      expect(names).toEqual([...names].sort());
      expect(new Set(names).size).toBe(names.length);
      expect(names).toEqual(expect.arrayContaining(['admin', 'agent', 'operator', 'viewer']));

      const adminRole = await app.http.get('/api/v1/roles/admin').set(admin.auth);
      expect(adminRole.status).toBe(200);
      expect(adminRole.body).toMatchObject({ name: 'admin', permissions: ['*'], built_in: true });
    });

    it('creates, reads, updates and deletes a custom role, auditing each change', async () => {
      const name = uniqueName('role');
      const created = await app.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name, description: 'Reads events', permissions: ['events:read', 'audit:read', 'events:read'] });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        name,
        description: 'Reads events',
        permissions: ['events:read', 'audit:read'],
        built_in: false,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
      expect((await app.http.get(`/api/v1/roles/${name}`).set(admin.auth)).body).toEqual(created.body);

      const updated = await app.http
        .patch(`/api/v1/roles/${name}`)
        .set(admin.auth)
        .send({ description: 'Runs tasks', permissions: ['tasks:*'] });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ name, description: 'Runs tasks', permissions: ['tasks:*'], built_in: false });
      expect(Date.parse(updated.body.updated_at)).toBeGreaterThan(Date.parse(created.body.updated_at));

      // The name is the key and cannot be changed.
      expectError(await app.http.patch(`/api/v1/roles/${name}`).set(admin.auth).send({ name: 'other' }), 400, 'validation_failed');

      expect((await app.http.delete(`/api/v1/roles/${name}`).set(admin.auth)).status).toBe(204);
      expectError(await app.http.get(`/api/v1/roles/${name}`).set(admin.auth), 404, 'not_found');

      const audit = await app.sql<{ action: string; actor_type: string; actor_id: string; details: Record<string, unknown> }>(
        `SELECT action, actor_type, actor_id, details FROM audit_events
          WHERE resource_type = 'role' AND resource_id = $1 ORDER BY seq`,
        [name],
      );
      expect(audit.map((a) => a.action)).toEqual(['role.create', 'role.update', 'role.delete']);
      for (const row of audit) expect(row).toMatchObject({ actor_type: 'user', actor_id: admin.id });
      expect(audit[1].details).toMatchObject({
        permissions_before: ['events:read', 'audit:read'],
        permissions_after: ['tasks:*'],
      });
    });

    it('refuses unknown permission strings and bad names with 400, listing them', async () => {
      const res = await app.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name: uniqueName('role'), permissions: ['tasks:read', 'tasks:fly', 'nope', '*:*'] });
      expectError(res, 400, 'validation_failed');
      expect(res.body.details.fields).toEqual([
        { field: 'permissions', errors: ['unknown permission: tasks:fly', 'unknown permission: nope', 'unknown permission: *:*'] },
      ]);

      expectError(await app.http.post('/api/v1/roles').set(admin.auth).send({ name: 'Bad Name', permissions: [] }), 400, 'validation_failed');
      const name = await role(['tasks:read']);
      expectError(
        await app.http.patch(`/api/v1/roles/${name}`).set(admin.auth).send({ permissions: ['tasks:read', 'users:delete'] }),
        400,
        'validation_failed',
      );
    });

    it('refuses a duplicate name with 409 already_exists', async () => {
      const name = await role(['tasks:read']);
      expectError(await app.http.post('/api/v1/roles').set(admin.auth).send({ name, permissions: [] }), 409, 'already_exists');
      expectError(await app.http.post('/api/v1/roles').set(admin.auth).send({ name: 'admin' }), 409, 'already_exists');
    });

    it('keeps built-in roles: no delete, no emptying, and admin keeps *', async () => {
      expectError(await app.http.delete('/api/v1/roles/viewer').set(admin.auth), 409, 'conflict');
      expectError(await app.http.patch('/api/v1/roles/operator').set(admin.auth).send({ permissions: [] }), 409, 'conflict');
      expectError(
        await app.http.patch('/api/v1/roles/admin').set(admin.auth).send({ permissions: ['users:read', 'users:write'] }),
        409,
        'conflict',
      );
      expect((await app.http.get('/api/v1/roles/admin').set(admin.auth)).body.permissions).toEqual(['*']);
      expect((await app.http.get('/api/v1/roles/operator').set(admin.auth)).body.permissions).toContain('tasks:write');
      // A custom role may be emptied.
      const name = await role(['tasks:read']);
      const emptied = await app.http.patch(`/api/v1/roles/${name}`).set(admin.auth).send({ permissions: [] });
      expect(emptied.status).toBe(200);
      expect(emptied.body.permissions).toEqual([]);
    });

    it('answers 404 for a role that does not exist', async () => {
      expectError(await app.http.get('/api/v1/roles/no-such-role').set(admin.auth), 404, 'not_found');
      expectError(await app.http.patch('/api/v1/roles/no-such-role').set(admin.auth).send({ description: 'x' }), 404, 'not_found');
      expectError(await app.http.delete('/api/v1/roles/no-such-role').set(admin.auth), 404, 'not_found');
    });

    it('refuses to delete a role that users or live API keys hold, saying how many', async () => {
      const name = await role(['tasks:read']);
      const holder = await user([name]);
      const key = await apiKey(admin, [name]);

      const blocked = await app.http.delete(`/api/v1/roles/${name}`).set(admin.auth);
      expectError(blocked, 409, 'in_use');
      expect(blocked.body.details).toEqual({ users: 1, api_keys: 1 });

      // A revoked key can never use the role again, so it no longer counts.
      expect((await app.http.delete(`/api/v1/api-keys/${key.id}`).set(admin.auth)).status).toBe(204);
      const stillHeld = await app.http.delete(`/api/v1/roles/${name}`).set(admin.auth);
      expectError(stillHeld, 409, 'in_use');
      expect(stillHeld.body.details).toEqual({ users: 1, api_keys: 0 });

      await app.http.patch(`/api/v1/users/${holder.id}`).set(admin.auth).send({ roles: ['viewer'] }).expect(200);
      expect((await app.http.delete(`/api/v1/roles/${name}`).set(admin.auth)).status).toBe(204);
      expectError(await app.http.get(`/api/v1/roles/${name}`).set(admin.auth), 404, 'not_found');
    });

    it('is admin only: a viewer gets 403 on every role route, and each denial is audited', async () => {
      const viewer = await user(['viewer']);
      const name = await role(['tasks:read']);
      const attempts = [
        app.http.get('/api/v1/roles').set(viewer.auth),
        app.http.get('/api/v1/roles/admin').set(viewer.auth),
        app.http.post('/api/v1/roles').set(viewer.auth).send({ name: uniqueName('role'), permissions: [] }),
        app.http.patch(`/api/v1/roles/${name}`).set(viewer.auth).send({ permissions: ['tasks:write'] }),
        app.http.delete(`/api/v1/roles/${name}`).set(viewer.auth),
      ];
      for (const res of await Promise.all(attempts)) expectError(res, 403, 'forbidden');
      expect((await app.http.get(`/api/v1/roles/${name}`).set(admin.auth)).body.permissions).toEqual(['tasks:read']);

      const denied = await app.sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_events
          WHERE action = 'authz.denied' AND outcome = 'denied' AND actor_type = 'user' AND actor_id = $1`,
        [viewer.id],
      );
      expect(denied[0].n).toBe(attempts.length);
    });

    it('a role with exactly one permission grants just that, and removing it bites on the next request', async () => {
      const name = await role(['audit:read']);
      const auditor = await user([name]);
      expect((await app.http.get('/api/v1/audit-events').set(auditor.auth)).status).toBe(200);
      expectError(await app.http.get('/api/v1/users').set(auditor.auth), 403, 'forbidden');
      expectError(await app.http.get('/api/v1/roles').set(auditor.auth), 403, 'forbidden');

      await app.http.patch(`/api/v1/roles/${name}`).set(admin.auth).send({ permissions: ['events:read'] }).expect(200);
      expectError(await app.http.get('/api/v1/audit-events').set(auditor.auth), 403, 'forbidden');
    });

    it('does not let a role manager grant permissions they do not hold', async () => {
      const manager = await user([await role(['roles:read', 'roles:write', 'tasks:read'])]);
      const managerRole = (await app.http.get('/api/v1/auth/me').set(manager.auth)).body.roles[0] as string;

      const escalate = await app.http
        .post('/api/v1/roles')
        .set(manager.auth)
        .send({ name: uniqueName('role'), permissions: ['tasks:read', 'users:write'] });
      expectError(escalate, 403, 'forbidden');
      expect(escalate.body.details.excess_permissions).toEqual(['users:write']);
      expectError(
        await app.http.post('/api/v1/roles').set(manager.auth).send({ name: uniqueName('role'), permissions: ['*'] }),
        403,
        'forbidden',
      );

      const own = await app.http.post('/api/v1/roles').set(manager.auth).send({ name: uniqueName('role'), permissions: ['tasks:read'] });
      expect(own.status).toBe(201);
      expectError(
        await app.http.patch(`/api/v1/roles/${own.body.name}`).set(manager.auth).send({ permissions: ['tasks:read', 'audit:read'] }),
        403,
        'forbidden',
      );
      // Nor widen the role they hold themselves.
      expectError(
        await app.http
          .patch(`/api/v1/roles/${managerRole}`)
          .set(manager.auth)
          .send({ permissions: ['roles:read', 'roles:write', 'tasks:read', 'users:read'] }),
        403,
        'forbidden',
      );
      expectError(await app.http.get('/api/v1/users').set(manager.auth), 403, 'forbidden');
    });
  });

  describe('API keys', () => {
    it('returns the secret once, stores only its hash, and the key authenticates as itself', async () => {
      const name = uniqueName('key');
      const created = await app.http.post('/api/v1/api-keys').set(admin.auth).send({ name, roles: ['viewer'] });
      expect(created.status).toBe(201);
      expect(created.headers['cache-control']).toBe('no-store');
      expect(created.body).toEqual({
        id: expect.any(String),
        name,
        key: expect.stringMatching(/^amk_/),
        prefix: expect.any(String),
        roles: ['viewer'],
        expires_at: null,
        created_at: expect.any(String),
      });
      const { id, key, prefix } = created.body as { id: string; key: string; prefix: string };
      keys.push(key);
      expect(key).toContain(prefix);

      const list = await app.http.get('/api/v1/api-keys').set(admin.auth);
      expect(list.status).toBe(200);
      const listed = list.body.api_keys.find((k: { id: string }) => k.id === id);
      expect(listed).toEqual({
        id,
        name,
        prefix,
        roles: ['viewer'],
        created_by: admin.id,
        expires_at: null,
        revoked_at: null,
        last_used_at: null,
        created_at: created.body.created_at,
      });
      expect(JSON.stringify(list.body)).not.toContain(key);

      const plaintext = await app.sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM api_keys k, jsonb_each_text(to_jsonb(k)) AS col(name, value)
          WHERE strpos(col.value, $1) > 0`,
        [key],
      );
      expect(plaintext[0].n).toBe(0);
      const stored = await app.sql<{ key_hash: string }>('SELECT key_hash FROM api_keys WHERE id = $1', [id]);
      expect(stored[0].key_hash).toBe(createHash('sha256').update(key).digest('hex'));

      const me = await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${key}`);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ id, kind: 'api_key', roles: ['viewer'], username: 'admin' });
      expect(me.body.permissions).not.toContain('users:read');
      // Using the key records when (to the minute, so a busy key is not a write per request).
      const used = await app.http.get('/api/v1/api-keys').set(admin.auth);
      const lastUsed = used.body.api_keys.find((k: { id: string }) => k.id === id).last_used_at as string;
      expect(Date.parse(lastUsed)).toBeGreaterThanOrEqual(Date.parse(created.body.created_at));
      await app.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${key}`).expect(200);
      const again = await app.http.get('/api/v1/api-keys').set(admin.auth);
      expect(again.body.api_keys.find((k: { id: string }) => k.id === id).last_used_at).toBe(lastUsed);

      const audit = await app.sql<{ actor_type: string; actor_id: string; details: Record<string, unknown> }>(
        `SELECT actor_type, actor_id, details FROM audit_events WHERE action = 'api_key.create' AND resource_id = $1`,
        [id],
      );
      expect(audit).toEqual([
        { actor_type: 'user', actor_id: admin.id, details: { name, prefix, roles: ['viewer'], expires_at: null } },
      ]);
    });

    it('never accepts a key in the query string', async () => {
      const { key } = await apiKey(admin, ['viewer']);
      for (const param of ['api_key', 'access_token', 'token', 'key']) {
        expectError(await app.http.get('/api/v1/auth/me').query({ [param]: key }), 401, 'unauthenticated');
      }
    });

    it('refuses an agent-role key on the admin routes, auditing the denials against the key', async () => {
      const agent = await apiKey(admin, ['agent']);
      expect((await app.http.get('/api/v1/auth/me').set(agent.auth)).status).toBe(200);
      for (const route of ADMIN_ROUTES) expectError(await app.http.get(route).set(agent.auth), 403, 'forbidden');
      expectError(await app.http.post('/api/v1/api-keys').set(agent.auth).send({ name: 'x', roles: ['agent'] }), 403, 'forbidden');

      const denied = await app.sql<{ resource_id: string; outcome: string }>(
        `SELECT resource_id, outcome FROM audit_events
          WHERE action = 'authz.denied' AND actor_type = 'api_key' AND actor_id = $1 ORDER BY seq`,
        [agent.id],
      );
      expect(denied).toHaveLength(ADMIN_ROUTES.length + 1);
      for (const row of denied) expect(row.outcome).toBe('denied');
    });

    it('does not let an API key create further keys, even an admin key', async () => {
      const adminKey = await apiKey(admin, ['admin']);
      expect((await app.http.get('/api/v1/api-keys').set(adminKey.auth)).status).toBe(200);
      const name = uniqueName('key');
      const res = await app.http.post('/api/v1/api-keys').set(adminKey.auth).send({ name, roles: ['viewer'] });
      expectError(res, 403, 'forbidden');
      const count = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE name = $1', [name]);
      expect(count[0].n).toBe(0);
    });

    it('stops a revoked key on its very next request', async () => {
      const key = await apiKey(admin, ['viewer']);
      expect((await app.http.get('/api/v1/auth/me').set(key.auth)).status).toBe(200);
      expect((await app.http.delete(`/api/v1/api-keys/${key.id}`).set(admin.auth)).status).toBe(204);
      expectError(await app.http.get('/api/v1/auth/me').set(key.auth), 401, 'unauthenticated');
      // Revoking again changes nothing.
      expect((await app.http.delete(`/api/v1/api-keys/${key.id}`).set(admin.auth)).status).toBe(204);

      const listed = (await app.http.get('/api/v1/api-keys').set(admin.auth).query({ limit: 200 })).body.api_keys.find(
        (k: { id: string }) => k.id === key.id,
      );
      expect(listed.revoked_at).toEqual(expect.any(String));
      const audit = await app.sql<{ actor_id: string }>(
        `SELECT actor_id FROM audit_events WHERE action = 'api_key.revoke' AND resource_id = $1`,
        [key.id],
      );
      expect(audit).toEqual([{ actor_id: admin.id }]);
      expectError(await app.http.delete('/api/v1/api-keys/00000000-0000-4000-8000-000000000000').set(admin.auth), 404, 'not_found');
      expectError(await app.http.delete('/api/v1/api-keys/not-a-uuid').set(admin.auth), 400, 'validation_failed');
    });

    it('refuses an expired key, and validates expires_at and roles', async () => {
      // Two seconds to live: the key must stop at its expiry even though the server reuses a
      // resolved credential for a few seconds.
      const expiresAt = new Date(Math.ceil((Date.now() + 2000) / 1000) * 1000).toISOString();
      const created = await app.http
        .post('/api/v1/api-keys')
        .set(admin.auth)
        .send({ name: uniqueName('key'), roles: ['viewer'], expires_at: expiresAt });
      expect(created.status).toBe(201);
      keys.push(created.body.key);
      expect(created.body.expires_at).toBe(expiresAt);
      const auth = { Authorization: `Bearer ${created.body.key}` };
      expect((await app.http.get('/api/v1/auth/me').set(auth)).status).toBe(200);

      await new Promise((r) => setTimeout(r, Date.parse(expiresAt) - Date.now() + 50));
      expectError(await app.http.get('/api/v1/auth/me').set(auth), 401, 'unauthenticated');

      const post = (body: Record<string, unknown>) => app.http.post('/api/v1/api-keys').set(admin.auth).send(body);
      const past = await post({ name: 'k', roles: ['viewer'], expires_at: new Date(Date.now() - 60_000).toISOString() });
      expectError(past, 400, 'validation_failed');
      expect(past.body.details.fields).toEqual([{ field: 'expires_at', errors: ['expires_at must be in the future'] }]);
      expectError(await post({ name: 'k', roles: ['viewer'], expires_at: '2099-01-01T00:00:00' }), 400, 'validation_failed');
      expectError(await post({ name: 'k', roles: ['viewer'], expires_at: 'tomorrow' }), 400, 'validation_failed');
      const unknown = await post({ name: 'k', roles: ['viewer', 'no-such-role'] });
      expectError(unknown, 400, 'validation_failed');
      expect(unknown.body.details.fields).toEqual([{ field: 'roles', errors: ['unknown role: no-such-role'] }]);
      expectError(await post({ name: 'k', roles: [] }), 400, 'validation_failed');
      expectError(await post({ name: 'k', roles: ['viewer'], key: 'amk_mine' }), 400, 'validation_failed');
    });

    it('stops a key when its creator is disabled', async () => {
      const keyMaker = await role(['api_keys:read', 'api_keys:write']);
      const creator = await user(['operator', keyMaker]);
      const key = await apiKey(creator, ['viewer']);
      expect((await app.http.get('/api/v1/auth/me').set(key.auth)).status).toBe(200);
      await app.http.patch(`/api/v1/users/${creator.id}`).set(admin.auth).send({ disabled: true }).expect(200);
      expectError(await app.http.get('/api/v1/auth/me').set(key.auth), 401, 'unauthenticated');
    });

    it('bounds a key by its creator: an operator cannot mint an admin key', async () => {
      const keyMaker = await role(['api_keys:read', 'api_keys:write']);
      const operator = await user(['operator', keyMaker]);
      const res = await app.http.post('/api/v1/api-keys').set(operator.auth).send({ name: uniqueName('key'), roles: ['admin'] });
      expectError(res, 403, 'forbidden');
      expect(res.body.details.excess_permissions).toEqual(expect.arrayContaining(['*', 'users:write', 'roles:write', 'audit:read']));
      expect(res.body.details.excess_permissions).not.toContain('tasks:write');

      // The agent role holds agents:act, which an operator does not.
      const agent = await app.http.post('/api/v1/api-keys').set(operator.auth).send({ name: uniqueName('key'), roles: ['agent'] });
      expectError(agent, 403, 'forbidden');
      expect(agent.body.details.excess_permissions).toEqual(['agents:act']);

      const within = await apiKey(operator, ['operator', keyMaker]);
      expect((await app.http.get('/api/v1/auth/me').set(within.auth)).body).toMatchObject({ kind: 'api_key', id: within.id });
      // Without api_keys:write an operator cannot create keys at all.
      const plain = await user(['operator']);
      expectError(await app.http.post('/api/v1/api-keys').set(plain.auth).send({ name: 'k', roles: ['viewer'] }), 403, 'forbidden');
    });

    it('shows and revokes only your own keys unless you are an admin', async () => {
      const keyMaker = await role(['api_keys:read', 'api_keys:write']);
      const ann = await user(['viewer', keyMaker]);
      const bob = await user(['viewer', keyMaker]);
      const annKey = await apiKey(ann, ['viewer']);
      const bobKey = await apiKey(bob, ['viewer']);

      const annList = await app.http.get('/api/v1/api-keys').set(ann.auth);
      expect(annList.body.api_keys.map((k: { id: string }) => k.id)).toEqual([annKey.id]);
      expectError(await app.http.delete(`/api/v1/api-keys/${annKey.id}`).set(bob.auth), 404, 'not_found');
      expect((await app.http.get('/api/v1/auth/me').set(annKey.auth)).status).toBe(200);

      // The admin sees every key; paging one at a time neither repeats nor skips any.
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Response = await app.http
          .get('/api/v1/api-keys')
          .query({ limit: 1, ...(cursor ? { cursor } : {}) })
          .set(admin.auth);
        expect(res.status).toBe(200);
        seen.push(...res.body.api_keys.map((k: { id: string }) => k.id));
        cursor = res.body.next_cursor;
      } while (cursor);
      const all = await app.sql<{ id: string }>('SELECT id FROM api_keys ORDER BY created_at, id');
      expect(seen).toEqual(all.map((r) => r.id));
      expect(seen).toEqual(expect.arrayContaining([annKey.id, bobKey.id]));

      expect((await app.http.delete(`/api/v1/api-keys/${bobKey.id}`).set(bob.auth)).status).toBe(204);
      expect((await app.http.delete(`/api/v1/api-keys/${annKey.id}`).set(admin.auth)).status).toBe(204);
      expectError(await app.http.get('/api/v1/auth/me').set(annKey.auth), 401, 'unauthenticated');
      expectError(await app.http.get('/api/v1/auth/me').set(bobKey.auth), 401, 'unauthenticated');
    });
  });

  it('leaves no key or password in any audit row', async () => {
    expect(keys.length).toBeGreaterThan(5);
    expect(passwords.length).toBeGreaterThan(5);
    const rows = await app.sql<{ details: string }>('SELECT details::text AS details FROM audit_events');
    const actions = await app.sql<{ action: string }>('SELECT DISTINCT action FROM audit_events');
    expect(actions.map((a) => a.action)).toEqual(
      expect.arrayContaining(['role.create', 'role.update', 'role.delete', 'api_key.create', 'api_key.revoke', 'authz.denied']),
    );
    for (const { details } of rows) {
      for (const secret of [...keys, ...passwords]) expect(details).not.toContain(secret);
      expect(details).not.toMatch(/amk_[A-Za-z0-9_-]{11}_[A-Za-z0-9_-]{43}/);
    }
  });
});
