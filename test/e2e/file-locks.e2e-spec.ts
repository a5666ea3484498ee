import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import { AgentLifecycle } from '../../apps/server/src/agents/agent-lifecycle';
import { AuditService } from '../../apps/server/src/audit/audit.service';
import { FileLocksRepository } from '../../apps/server/src/file-locks/file-locks.repository';
import { FileLocksService } from '../../apps/server/src/file-locks/file-locks.service';
import { claimTasks, createApiKey, createUser, expectError, loginAdmin, registerAgent as registerWith, type Session,uniqueName } from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';

type Auth = { Authorization: string };
type Access = 'read' | 'write' | 'exclusive';

const CAP = 5;

describe('file locks (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  let operator: Session;
  /** Two workers, each an API key of the agent role with an agent it registered. */
  let a: { auth: Auth; agent: string };
  let b: { auth: Auth; agent: string };

  async function registerAgent(auth: Auth): Promise<string> {
    const res = await app.http.post('/api/v1/agents/register').set(auth).send({ name: uniqueName('agent'), type: 'worker', capabilities: [] });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  async function worker(): Promise<{ auth: Auth; agent: string }> {
    const key = await createApiKey(app, admin, ['agent']);
    return { auth: key.auth, agent: await registerAgent(key.auth) };
  }

  function acquire(who: { auth: Auth; agent: string }, path: string, access: Access, extra: Record<string, unknown> = {}) {
    return app.http.post('/api/v1/locks').set(who.auth).send({ path, access, agent_id: who.agent, ...extra });
  }

  async function holdOk(who: { auth: Auth; agent: string }, path: string, access: Access, extra: Record<string, unknown> = {}) {
    const res = await acquire(who, path, access, extra);
    expect(res.status).toBe(201);
    return res.body as { id: string; path: string; fencing_token: number; acquired_at: string; expires_at: string; task_id: string | null };
  }

  const release = (who: { auth: Auth }, id: string) => app.http.delete(`/api/v1/locks/${id}`).set(who.auth);
  const dir = () => uniqueName('d');

  beforeAll(async () => {
    app = await createTestApp({ env: { LOCK_MAX_PER_HOLDER: String(CAP), LOCK_MAX_TTL_SEC: '3600', LOCK_MAX_WAITS_PER_PRINCIPAL: '2' } });
    admin = await loginAdmin(app);
    operator = await createUser(app, admin, ['operator']);
    a = await worker();
    b = await worker();
  });
  afterAll(() => app.close());

  describe('the compatibility matrix, held by one agent and wanted by another', () => {
    const cells: [Access, Access, boolean][] = [
      ['read', 'read', true],
      ['read', 'write', true],
      ['read', 'exclusive', false],
      ['write', 'read', true],
      ['write', 'write', false],
      ['write', 'exclusive', false],
      ['exclusive', 'read', false],
      ['exclusive', 'write', false],
      ['exclusive', 'exclusive', false],
    ];
    it.each(cells)('held %s, wanted %s → granted: %s', async (held, wanted, granted) => {
      const path = `${dir()}/src/app.ts`;
      const first = await holdOk(a, path, held);
      expect(first).toMatchObject({ path, access: held, holder: { type: 'agent', id: a.agent }, task_id: null });
      const second = await acquire(b, path, wanted);
      if (granted) {
        expect(second.status).toBe(201);
        expect(second.body).toMatchObject({ path, access: wanted, holder: { type: 'agent', id: b.agent } });
        expect((await release(b, second.body.id)).status).toBe(204);
      } else {
        expectError(second, 409, 'lock_conflict');
        expect(second.body.details.conflicts).toEqual([
          { lock_id: first.id, path, access: held, holder: { type: 'agent', id: a.agent }, expires_at: first.expires_at },
        ]);
      }
      expect((await release(a, first.id)).status).toBe(204);
      // Once released, the path is free for anything.
      const after = await acquire(b, path, 'exclusive');
      expect(after.status).toBe(201);
      expect((await release(b, after.body.id)).status).toBe(204);
    });
  });

  it('applies the matrix between a directory lock and the files under it, both ways', async () => {
    const root = dir();
    const held = await holdOk(a, `${root}/lib/`, 'write');
    expect(held.path).toBe(`${root}/lib/`);
    expectError(await acquire(b, `${root}/lib/deep/x.ts`, 'write'), 409, 'lock_conflict');
    expectError(await acquire(b, `${root}/lib`, 'exclusive'), 409, 'lock_conflict');
    expectError(await acquire(b, `${root}/`, 'write'), 409, 'lock_conflict');
    const reader = await holdOk(b, `${root}/lib/deep/x.ts`, 'read');
    // Siblings and names that merely start alike are outside the directory.
    const sibling = await holdOk(b, `${root}/libx/x.ts`, 'exclusive');
    const other = await holdOk(b, `${root}/lib.ts`, 'exclusive');
    for (const id of [held.id, reader.id]) expect((await release(id === held.id ? a : b, id)).status).toBe(204);

    const file = await holdOk(a, `${root}/lib/y.ts`, 'write');
    const dirConflict = await acquire(b, `${root}/lib/`, 'write');
    expectError(dirConflict, 409, 'lock_conflict');
    expect(dirConflict.body.details.conflicts.map((c: { lock_id: string }) => c.lock_id)).toEqual([file.id]);
    expectError(await acquire(b, `${root}/`, 'exclusive'), 409, 'lock_conflict');
    const dirReader = await holdOk(b, `${root}/lib/`, 'read');
    for (const [who, id] of [[a, file.id], [b, dirReader.id], [b, sibling.id], [b, other.id]] as const) {
      expect((await release(who, id)).status).toBe(204);
    }
  });

  it('normalises paths, so every spelling of one file meets the same lock', async () => {
    const root = dir();
    const held = await holdOk(a, `./${root}//src/./app.ts`, 'write');
    expect(held.path).toBe(`${root}/src/app.ts`);
    for (const alias of [`${root}/src/app.ts`, `/${root}/src/app.ts`, `${root}\\src\\app.ts`, `${root}/./src//app.ts`]) {
      const res = await acquire(b, alias, 'write');
      expectError(res, 409, 'lock_conflict');
      expect(res.body.details.conflicts[0].lock_id).toBe(held.id);
    }
    const dirLock = await acquire(b, `${root}//src/.`, 'write');
    expectError(dirLock, 409, 'lock_conflict');
    expect((await release(a, held.id)).status).toBe(204);
  });

  it.each([
    ['a traversal', '../etc/passwd'],
    ['a .. in the middle', 'src/../../x'],
    ['a Windows-style traversal', 'src\\..\\..\\x'],
    ['a NUL byte', 'src/a\u0000.ts'],
    ['a path over 1024 bytes', `${'x'.repeat(1020)}/abcd`],
    ['an empty path', ''],
    ['the root', '/'],
  ])('refuses %s with 400 naming the path field', async (_what, path) => {
    const res = await acquire(a, path, 'write');
    expectError(res, 400, 'validation_failed');
    expect(res.body.details.fields).toEqual([{ field: 'path', errors: [expect.any(String)] }]);
  });

  it('refuses a TTL above LOCK_MAX_TTL_SEC and a wait over 30 s', async () => {
    const res = await acquire(a, `${dir()}/x`, 'read', { ttl_seconds: 3601 });
    expectError(res, 400, 'validation_failed');
    expect(res.body.details.fields).toEqual([{ field: 'ttl_seconds', errors: ['ttl_seconds must be at most 3600'] }]);
    expectError(await acquire(a, `${dir()}/x`, 'read', { wait_seconds: 31 }), 400, 'validation_failed');
  });

  it('hands out strictly increasing fencing tokens per path, across overlapping paths too', async () => {
    const root = dir();
    const tokens: number[] = [];
    for (const [path, access] of [
      [`${root}/f.ts`, 'write'],
      [`${root}/f.ts`, 'exclusive'],
      [`${root}/`, 'write'],
      [`${root}/f.ts`, 'read'],
    ] as const) {
      const lock = await holdOk(a, path, access);
      expect(Number.isSafeInteger(lock.fencing_token)).toBe(true);
      tokens.push(lock.fencing_token);
      expect((await release(a, lock.id)).status).toBe(204);
    }
    expect([...tokens].sort((x, y) => x - y)).toEqual(tokens);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it('lets only the holder renew or release: others get 404', async () => {
    const lock = await holdOk(a, `${dir()}/r.ts`, 'write', { ttl_seconds: 60 });
    expectError(await app.http.post(`/api/v1/locks/${lock.id}/renew`).set(b.auth).send({}), 404, 'not_found');
    expectError(await release(b, lock.id), 404, 'not_found');
    // b acting "as" a's agent is refused the same way.
    expectError(await acquire({ auth: b.auth, agent: a.agent }, `${dir()}/s.ts`, 'read'), 404, 'not_found');
    const viewer = await createUser(app, admin, ['viewer']);
    expectError(await release(viewer, lock.id), 403, 'forbidden');

    const renewed = await app.http.post(`/api/v1/locks/${lock.id}/renew`).set(a.auth).send({ ttl_seconds: 600 });
    expect(renewed.status).toBe(200);
    expect(renewed.body).toMatchObject({ id: lock.id, fencing_token: lock.fencing_token, acquired_at: lock.acquired_at });
    const extended = Date.parse(renewed.body.expires_at) - Date.parse(lock.acquired_at);
    expect(extended).toBeGreaterThanOrEqual(600_000);
    expect(extended).toBeLessThan(660_000);
    // Without ttl_seconds a renew extends by the lock's own TTL again.
    const again = await app.http.post(`/api/v1/locks/${lock.id}/renew`).set(a.auth).send({});
    expect(Date.parse(again.body.expires_at) - Date.now()).toBeGreaterThan(590_000);

    expect((await release(a, lock.id)).status).toBe(204);
    expectError(await release(a, lock.id), 404, 'not_found');
    expectError(await app.http.post(`/api/v1/locks/${lock.id}/renew`).set(a.auth).send({}), 404, 'not_found');
  });

  it('frees the path as soon as the TTL runs out, decided by the database clock', async () => {
    const path = `${dir()}/ttl.ts`;
    const lock = await holdOk(a, path, 'exclusive', { ttl_seconds: 1 });
    expect(Date.parse(lock.expires_at) - Date.parse(lock.acquired_at)).toBe(1000);
    expectError(await acquire(b, path, 'read'), 409, 'lock_conflict');
    await new Promise((r) => setTimeout(r, 1200));
    const listed = await app.http.get('/api/v1/locks').query({ path }).set(b.auth);
    expect(listed.body.locks).toEqual([]);
    expectError(await app.http.post(`/api/v1/locks/${lock.id}/renew`).set(a.auth).send({}), 404, 'not_found');
    const next = await holdOk(b, path, 'exclusive');
    expect(next.fencing_token).toBeGreaterThan(lock.fencing_token);
    expect((await release(b, next.id)).status).toBe(204);
  });

  it('with wait_seconds, waits for the holder to release and then acquires', async () => {
    const path = `${dir()}/wait.ts`;
    const held = await holdOk(a, path, 'write');
    const started = Date.now();
    const waiting = acquire(b, path, 'write', { wait_seconds: 10 });
    await new Promise((r) => setTimeout(r, 400));
    expect((await release(a, held.id)).status).toBe(204);
    const res = await waiting;
    expect(res.status).toBe(201);
    expect(Date.now() - started).toBeLessThan(3000);
    const [released] = await app.sql<{ released_at: Date }>('SELECT released_at FROM file_locks WHERE id = $1', [held.id]);
    expect(Date.parse(res.body.acquired_at)).toBeGreaterThanOrEqual(released.released_at.getTime());
    expect((await release(b, res.body.id)).status).toBe(204);
  });

  it('stops waiting when the client goes away, so nobody is left holding a lock no one uses', async () => {
    const path = `${dir()}/gone.ts`;
    const held = await holdOk(a, path, 'write');
    const controller = new AbortController();
    const waiting = fetch(`${app.baseUrl}/api/v1/locks`, {
      method: 'POST',
      headers: { ...b.auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ path, access: 'write', agent_id: b.agent, wait_seconds: 10 }),
      signal: controller.signal,
    }).catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    expect(((await waiting) as { name?: string }).name).toBe('AbortError');
    await new Promise((r) => setTimeout(r, 100));
    expect((await release(a, held.id)).status).toBe(204);
    await new Promise((r) => setTimeout(r, 400));
    const listed = await app.http.get('/api/v1/locks').query({ path }).set(admin.auth);
    expect(listed.body.locks).toEqual([]);
  });

  it('wakes a waiter when the lock is released, without polling the database meanwhile', async () => {
    const path = `${dir()}/wake.ts`;
    const held = await holdOk(a, path, 'exclusive', { ttl_seconds: 600 });
    const attempts = jest.spyOn(app.server.app.get(FileLocksRepository), 'tryAcquire');
    try {
      const waiting = acquire(b, path, 'write', { wait_seconds: 20 }).then((res) => res);
      await new Promise((r) => setTimeout(r, 2500));
      // One attempt on arrival, then one per fallback second at most (it used to poll every 50–100 ms).
      expect(attempts.mock.calls.length).toBeLessThanOrEqual(4);
      expect((await release(a, held.id)).status).toBe(204);
      const res = await waiting;
      expect(res.status).toBe(201);
      expect((await release(b, res.body.id)).status).toBe(204);
    } finally {
      attempts.mockRestore();
    }
  });

  it('caps the lock waits one credential may have open (429 rate_limited)', async () => {
    const path = `${dir()}/crowd.ts`;
    const held = await holdOk(a, path, 'exclusive', { ttl_seconds: 600 });
    const waits = [1, 2].map(() => acquire(b, path, 'read', { wait_seconds: 3 }).then((res) => res));
    await new Promise((r) => setTimeout(r, 300));
    expectError(await acquire(b, path, 'read', { wait_seconds: 3 }), 429, 'rate_limited');
    expect((await release(a, held.id)).status).toBe(204);
    for (const res of await Promise.all(waits)) {
      expect(res.status).toBe(201);
      expect((await release(b, res.body.id)).status).toBe(204);
    }
  });

  it('with wait_seconds, gives up with 409 when the wait runs out', async () => {
    const path = `${dir()}/busy.ts`;
    const held = await holdOk(a, path, 'exclusive');
    const started = Date.now();
    const res = await acquire(b, path, 'read', { wait_seconds: 1 });
    expectError(res, 409, 'lock_conflict');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect((await release(a, held.id)).status).toBe(204);
  });

  it('honours Idempotency-Key: a retry gets the same lock back, a conflict stores nothing, another body is 422', async () => {
    const path = `${dir()}/idem.ts`;
    const key = uniqueName('lock-key');
    const blocker = await holdOk(a, path, 'exclusive');
    // Refused while a holds it: the key stays free for the retry.
    expectError(await acquire(b, path, 'write').set('Idempotency-Key', key), 409, 'lock_conflict');
    expect((await release(a, blocker.id)).status).toBe(204);

    const first = await acquire(b, path, 'write').set('Idempotency-Key', key);
    expect(first.status).toBe(201);
    const again = await acquire(b, path, 'write').set('Idempotency-Key', key);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    const live = await app.http.get('/api/v1/locks').query({ path }).set(b.auth);
    expect(live.body.locks.map((l: { id: string }) => l.id)).toEqual([first.body.id]);

    expectError(await acquire(b, path, 'read').set('Idempotency-Key', key), 422, 'idempotency_key_reused');
    expectError(await acquire(b, path, 'write').set('Idempotency-Key', 'bad key with spaces'), 400, 'validation_failed');
    expect((await release(b, first.body.id)).status).toBe(204);
  });

  it('lets an operator force-release a lock, and audits it', async () => {
    const lock = await holdOk(a, `${dir()}/forced.ts`, 'exclusive');
    expect((await release(operator, lock.id)).status).toBe(204);
    const audit = await app.sql<{ action: string; actor_type: string; actor_id: string; details: Record<string, unknown> }>(
      `SELECT action, actor_type, actor_id, details FROM audit_events WHERE resource_type = 'lock' AND resource_id = $1 ORDER BY seq`,
      [lock.id],
    );
    expect(audit.map((r) => r.action)).toEqual(['lock.acquire', 'lock.force_release']);
    expect(audit[1]).toMatchObject({
      actor_type: 'user',
      actor_id: operator.id,
      details: { path: lock.path, holder: { type: 'agent', id: a.agent }, reason: 'force_released' },
    });
    expectError(await release(a, lock.id), 404, 'not_found');
  });

  it('lets a signed-in user hold locks as themselves; an API key must name its agent', async () => {
    const path = `${dir()}/mine.ts`;
    const res = await app.http.post('/api/v1/locks').set(operator.auth).send({ path, access: 'write' });
    expect(res.status).toBe(201);
    expect(res.body.holder).toEqual({ type: 'user', id: operator.id });
    const keyOnly = await app.http.post('/api/v1/locks').set(a.auth).send({ path: `${dir()}/k.ts`, access: 'read' });
    expectError(keyOnly, 400, 'validation_failed');
    expect(keyOnly.body.details.fields).toEqual([{ field: 'agent_id', errors: [expect.any(String)] }]);
    // Another user is not the holder (and has no locks:force here): 404.
    const other = await createUser(app, admin, ['agent']);
    expectError(await release(other, res.body.id), 404, 'not_found');
    expect((await release(operator, res.body.id)).status).toBe(204);
    const audit = await app.sql<{ action: string }>(`SELECT action FROM audit_events WHERE resource_id = $1 ORDER BY seq`, [res.body.id]);
    expect(audit.map((r) => r.action)).toEqual(['lock.acquire', 'lock.release']);
  });

  it('caps the live locks one holder may have (429 too_many_locks)', async () => {
    const c = await worker();
    const root = dir();
    const held = [];
    for (let i = 0; i < CAP; i++) held.push(await holdOk(c, `${root}/${i}.ts`, 'read'));
    const over = await acquire(c, `${root}/over.ts`, 'read');
    expectError(over, 429, 'too_many_locks');
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another holder is not affected, and releasing one makes room.
    expect((await release(b, (await holdOk(b, `${root}/over.ts`, 'read')).id)).status).toBe(204);
    expect((await release(c, held[0].id)).status).toBe(204);
    expect((await acquire(c, `${root}/over.ts`, 'read')).status).toBe(201);
  });

  it('releases an agent’s locks when it deregisters', async () => {
    const d = await worker();
    const root = dir();
    const one = await holdOk(d, `${root}/one.ts`, 'exclusive');
    const two = await holdOk(d, `${root}/sub/`, 'write');
    expect((await app.http.delete(`/api/v1/agents/${d.agent}`).set(d.auth)).status).toBe(204);
    const listed = await app.http.get('/api/v1/locks').query({ agent_id: d.agent }).set(admin.auth);
    expect(listed.body.locks).toEqual([]);
    const now = await holdOk(b, `${root}/`, 'exclusive');
    expect((await release(b, now.id)).status).toBe(204);
    const audit = await app.sql<{ action: string; details: { reason: string } }>(
      `SELECT action, details FROM audit_events WHERE resource_id = ANY($1) AND action <> 'lock.acquire' ORDER BY seq`,
      [[one.id, two.id]],
    );
    expect(audit).toEqual([
      { action: 'lock.release', details: expect.objectContaining({ reason: 'agent_deregistered' }) },
      { action: 'lock.release', details: expect.objectContaining({ reason: 'agent_deregistered' }) },
    ]);
  });

  it('releases an agent’s locks as expired when it goes offline (the agents sweeper’s hook)', async () => {
    const e = await worker();
    const lock = await holdOk(e, `${dir()}/offline.ts`, 'write');
    const dataSource = app.server.db.dataSource;
    await inTransaction(dataSource, (manager) => app.server.app.get(AgentLifecycle).agentGone(manager, e.agent, 'offline'));
    expect((await app.http.get('/api/v1/locks').query({ agent_id: e.agent }).set(admin.auth)).body.locks).toEqual([]);
    const [row] = await app.sql<{ release_reason: string }>('SELECT release_reason FROM file_locks WHERE id = $1', [lock.id]);
    expect(row.release_reason).toBe('agent_offline');
    const audit = await app.sql<{ action: string }>(`SELECT action FROM audit_events WHERE resource_id = $1 ORDER BY seq`, [lock.id]);
    expect(audit.map((r) => r.action)).toEqual(['lock.acquire', 'lock.expire']);
  });

  it('lists live locks with filters and pages', async () => {
    const root = dir();
    const x = await holdOk(a, `${root}/src/x.ts`, 'read');
    const y = await holdOk(b, `${root}/src/`, 'read');
    const z = await holdOk(b, `${root}/other.ts`, 'write');
    const list = (query: Record<string, string | number>) => app.http.get('/api/v1/locks').query(query).set(operator.auth);

    const bySrc = await list({ path: `${root}/src/` });
    expect(bySrc.status).toBe(200);
    expect(bySrc.body.locks.map((l: { id: string }) => l.id)).toEqual([x.id, y.id]);
    // A file's filter includes the directory locks that cover it.
    expect((await list({ path: `./${root}//src/x.ts` })).body.locks.map((l: { id: string }) => l.id)).toEqual([x.id, y.id]);
    expect((await list({ path: `${root}/`, agent_id: b.agent })).body.locks.map((l: { id: string }) => l.id)).toEqual([y.id, z.id]);

    const first = await list({ path: `${root}/`, limit: 2 });
    expect(first.body.locks).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await list({ path: `${root}/`, limit: 2, cursor: first.body.next_cursor });
    expect(second.body).toEqual({ locks: [expect.objectContaining({ id: z.id })], next_cursor: null });
    expectError(await list({ path: '../x' }), 400, 'validation_failed');
    expectError(await list({ cursor: 'nope' }), 400, 'validation_failed');
    const viewer = await createUser(app, admin, ['viewer']);
    expect((await app.http.get('/api/v1/locks').set(viewer.auth)).status).toBe(200);
    for (const [who, id] of [[a, x.id], [b, y.id], [b, z.id]] as const) expect((await release(who, id)).status).toBe(204);
  });

  describe('with tasks', () => {
    let service: FileLocksService;
    let dataSource: DataSource;

    async function createTask(fileDependencies: { path: string; access: Access }[] = []): Promise<string> {
      const res = await app.http
        .post('/api/v1/tasks')
        .set(admin.auth)
        .send({ type: 'build', payload: {}, file_dependencies: fileDependencies });
      expect(res.status).toBe(201);
      return res.body.id as string;
    }

    const locksOf = async (taskId: string) =>
      (await app.http.get('/api/v1/locks').query({ task_id: taskId }).set(admin.auth)).body.locks as { id: string; path: string; access: string; expires_at: string }[];

    beforeAll(() => {
      service = app.server.app.get(FileLocksService);
      dataSource = app.server.db.dataSource;
    });

    it('ties a REST lock to an open task (404 for an unknown one, 409 for a finished one)', async () => {
      const task = await createTask();
      const lock = await holdOk(a, `${dir()}/t.ts`, 'write', { task_id: task });
      expect(lock.task_id).toBe(task);
      expect((await locksOf(task)).map((l) => l.id)).toEqual([lock.id]);
      expectError(await acquire(a, `${dir()}/t.ts`, 'write', { task_id: randomUUID() }), 404, 'not_found');
      await app.sql(`UPDATE tasks SET status = 'completed' WHERE id = $1`, [task]);
      expectError(await acquire(a, `${dir()}/u.ts`, 'write', { task_id: task }), 409, 'illegal_transition');
      expect((await release(a, lock.id)).status).toBe(204);
    });

    it('takes a task’s dependencies all or nothing, then renews and releases them with the task', async () => {
      const root = dir();
      const deps: { path: string; access: Access }[] = [
        { path: `${root}/src/a.ts`, access: 'write' },
        { path: `./${root}/src//a.ts`, access: 'read' },
        { path: `${root}/docs/`, access: 'read' },
        { path: `${root}/b.ts`, access: 'exclusive' },
      ];
      const task = await createTask(deps);
      const blocker = await holdOk(b, `${root}/b.ts`, 'read');

      const refused = await inTransaction(dataSource, (manager) =>
        service.acquireForTask(manager, { actor: { type: 'agent', id: a.agent }, agentId: a.agent, taskId: task, dependencies: deps, ttlSec: 60 }),
      );
      expect(refused).toEqual({ ok: false, reason: 'conflict', conflicts: [expect.objectContaining({ lock_id: blocker.id })] });
      expect(await locksOf(task)).toEqual([]);

      expect((await release(b, blocker.id)).status).toBe(204);
      const granted = await inTransaction(dataSource, async (manager) => {
        const outcome = await service.acquireForTask(manager, {
          actor: { type: 'agent', id: a.agent },
          agentId: a.agent,
          taskId: task,
          dependencies: deps,
          ttlSec: 5,
        });
        if (outcome.ok) await app.server.app.get(AuditService).recordMany(manager, outcome.audit);
        return outcome;
      });
      if (!granted.ok) throw new Error('expected the task locks');
      // One lock per key, the strongest mode asked for.
      expect(granted.locks.map((l) => [l.path, l.access, l.task_id, l.holder.id])).toEqual([
        [`${root}/src/a.ts`, 'write', task, a.agent],
        [`${root}/docs/`, 'read', task, a.agent],
        [`${root}/b.ts`, 'exclusive', task, a.agent],
      ]);
      expectError(await acquire(b, `${root}/src/a.ts`, 'write'), 409, 'lock_conflict');
      expectError(await acquire(b, `${root}/`, 'read'), 409, 'lock_conflict');
      const audited = await app.sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_events WHERE action = 'lock.acquire' AND resource_id = ANY($1)`,
        [granted.locks.map((l) => l.id)],
      );
      expect(audited[0].n).toBe(3);

      const renewed = await inTransaction(dataSource, (manager) => service.renewForTasks(manager, [task], 120));
      expect(renewed).toBe(3);
      for (const l of await locksOf(task)) expect(Date.parse(l.expires_at) - Date.now()).toBeGreaterThan(100_000);

      const released = await inTransaction(dataSource, (manager) => service.releaseForTask(manager, task));
      expect(released.released).toBe(3);
      expect(released.audit.map((e) => e.action)).toEqual(['lock.release', 'lock.release', 'lock.release']);
      expect(await locksOf(task)).toEqual([]);
      const free = await holdOk(b, `${root}/`, 'exclusive');
      expect((await release(b, free.id)).status).toBe(204);
    });

    it('never waits inside a transaction that already holds path locks: it reports busy instead', async () => {
      const first = await createTask();
      const second = await createTask();
      const third = await createTask();
      const shared = dir();
      let letGo!: () => void;
      const holding = new Promise<void>((r) => (letGo = r));
      let held!: () => void;
      const isHeld = new Promise<void>((r) => (held = r));
      // Transaction X holds the path lock of `shared` until told to finish.
      const x = inTransaction(dataSource, async (manager) => {
        await service.acquireForTask(manager, { actor: { type: 'system', id: null }, agentId: a.agent, taskId: first, dependencies: [{ path: `${shared}/x`, access: 'read' }], ttlSec: 30 });
        held();
        await holding;
      });
      await isHeld;
      const y = await inTransaction(dataSource, async (manager) => {
        const own = await service.acquireForTask(manager, { actor: { type: 'system', id: null }, agentId: b.agent, taskId: second, dependencies: [{ path: `${dir()}/y`, access: 'write' }], ttlSec: 30 });
        const blocked = await service.acquireForTask(manager, { actor: { type: 'system', id: null }, agentId: b.agent, taskId: third, dependencies: [{ path: `${shared}/z`, access: 'write' }], ttlSec: 30 });
        return { own, blocked };
      });
      expect(y.own.ok).toBe(true);
      expect(y.blocked).toEqual({ ok: false, reason: 'busy', conflicts: [] });
      letGo();
      await x;
      for (const t of [first, second]) await inTransaction(dataSource, (manager) => service.releaseForTask(manager, t));
    });

    it('does not claim a task whose declared lock is held by another agent; claims it after release; frees the lock on completion', async () => {
      const type = uniqueName('lockjob');
      const key = await createApiKey(app, admin, ['agent']);
      const runner = (await registerWith(app, key.auth, { capabilities: [type] })).id;
      const root = dir();
      const blocker = await holdOk(b, `${root}/src/app.ts`, 'write');
      const created = await app.http
        .post('/api/v1/tasks')
        .set(admin.auth)
        .send({ type, payload: {}, file_dependencies: [{ path: `./${root}//src/app.ts`, access: 'write' }] });
      expect(created.status).toBe(201);
      const task = created.body.id as string;

      expect(await claimTasks(app, key.auth, runner)).toEqual([]);
      expect((await app.http.get(`/api/v1/tasks/${task}`).set(admin.auth)).body.status).toBe('ready');
      expect(await locksOf(task)).toEqual([]);

      expect((await release(b, blocker.id)).status).toBe(204);
      const [claimed] = await claimTasks(app, key.auth, runner);
      expect(claimed).toMatchObject({ id: task, status: 'running' });
      const held = await locksOf(task);
      expect(held).toEqual([expect.objectContaining({ path: `${root}/src/app.ts`, access: 'write', holder: { type: 'agent', id: runner }, task_id: task })]);
      // While the task runs, its lock keeps other writers out.
      expectError(await acquire(b, `${root}/src/`, 'write'), 409, 'lock_conflict');

      const done = await app.http
        .post(`/api/v1/tasks/${task}/complete`)
        .set(key.auth)
        .send({ agent_id: runner, attempt: claimed.attempt, result: { ok: true } });
      expect(done.status).toBe(200);
      expect(await locksOf(task)).toEqual([]);
      const after = await holdOk(b, `${root}/src/app.ts`, 'exclusive');
      expect((await release(b, after.id)).status).toBe(204);
      const audit = await app.sql<{ action: string }>(`SELECT action FROM audit_events WHERE resource_id = $1 ORDER BY seq`, [held[0].id]);
      expect(audit.map((r) => r.action)).toEqual(['lock.acquire', 'lock.release']);
    });

    it('refuses to take locks in a transaction that is not READ COMMITTED', async () => {
      const task = await createTask();
      await expect(
        inTransaction(
          dataSource,
          (manager) =>
            service.acquireForTask(manager, { actor: { type: 'system', id: null }, agentId: a.agent, taskId: task, dependencies: [{ path: `${dir()}/rr`, access: 'read' }], ttlSec: 30 }),
          { isolation: 'REPEATABLE READ', attempts: 1 },
        ),
      ).rejects.toThrow(/READ COMMITTED/);
    });
  });

  it('sweeps lapsed locks: stamped released at their expiry and audited as lock.expire', async () => {
    const lock = await holdOk(a, `${dir()}/sweep.ts`, 'write', { ttl_seconds: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    // This sweep or the app's own periodic one (SWEEP_INTERVAL_MS) takes it: exactly one of them,
    // as the single lock.expire row below shows.
    await inTransaction(app.server.db.dataSource, (manager) => app.server.app.get(FileLocksService).sweepExpired(manager));
    const [row] = await app.sql<{ same: boolean; release_reason: string }>(
      'SELECT released_at = expires_at AS same, release_reason FROM file_locks WHERE id = $1',
      [lock.id],
    );
    expect(row).toEqual({ same: true, release_reason: 'expired' });
    const audit = await app.sql<{ action: string; actor_type: string }>(
      `SELECT action, actor_type FROM audit_events WHERE resource_id = $1 ORDER BY seq`,
      [lock.id],
    );
    expect(audit).toEqual([
      { action: 'lock.acquire', actor_type: 'api_key' },
      { action: 'lock.expire', actor_type: 'system' },
    ]);
  });
});
