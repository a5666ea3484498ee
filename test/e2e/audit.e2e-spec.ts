import { randomBytes, randomUUID } from 'node:crypto';
import { createUser, expectError, login, loginAdmin, type Session,uniqueName } from '../harness/factories';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';

interface AuditEvent {
  seq: number;
  id: string;
  occurred_at: string;
  actor: { type: string; id: string | null };
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: string;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** RFC 4180: quoted cells may hold commas, doubled quotes and newlines. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell || row.length) rows.push([...row, cell]);
  return rows;
}

describe('audit trail (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  /** Every password and token this file uses; none may ever appear in an audit row. */
  const secrets: string[] = [ADMIN_PASSWORD];

  const events = async (query: Record<string, string | number>, as: Session = admin): Promise<AuditEvent[]> => {
    const res = await app.http.get('/api/v1/audit-events').query(query).set(as.auth);
    expect(res.status).toBe(200);
    return res.body.audit_events;
  };
  const byRequest = async (requestId: string): Promise<AuditEvent[]> =>
    (await events({ limit: 200 })).filter((e) => e.request_id === requestId);

  beforeAll(async () => {
    // 50 failed logins from one IP below must not trip the per-IP throttle.
    app = await createTestApp({ env: { LOGIN_MAX_FAILURES: '1000' } });
    admin = await loginAdmin(app);
    secrets.push(admin.accessToken, admin.refreshToken);
  });
  afterAll(() => app.close());

  it('records a successful login with actor, resource, ip, user agent and the request id', async () => {
    const res = await app.http
      .post('/api/v1/auth/login')
      .set('User-Agent', 'audit-e2e/1.0')
      .send({ username: 'admin', password: ADMIN_PASSWORD });
    expect(res.status).toBe(200);
    secrets.push(res.body.access_token, res.body.refresh_token);
    const rows = await byRequest(res.headers['x-request-id']);
    expect(rows).toEqual([
      expect.objectContaining({
        actor: { type: 'user', id: admin.id },
        action: 'auth.login',
        resource_type: 'user',
        resource_id: admin.id,
        outcome: 'success',
        ip: expect.stringMatching(/127\.0\.0\.1$/),
        user_agent: 'audit-e2e/1.0',
        request_id: res.headers['x-request-id'],
        details: { username: 'admin' },
      }),
    ]);
  });

  it('records failed logins as denied, for known and unknown users alike', async () => {
    const user = await createUser(app, admin, ['viewer']);
    secrets.push(user.password, user.accessToken, user.refreshToken);
    const wrongPassword = `wrong-${randomBytes(6).toString('hex')}`;
    secrets.push(wrongPassword);
    const requestId = `fail-${randomUUID()}`;
    const known = await app.http
      .post('/api/v1/auth/login')
      .set('X-Request-Id', requestId)
      .send({ username: user.username, password: wrongPassword });
    expectError(known, 401, 'unauthenticated');
    expect(await byRequest(requestId)).toEqual([
      expect.objectContaining({
        actor: { type: 'user', id: user.id },
        action: 'auth.login',
        resource_type: 'user',
        resource_id: user.id,
        outcome: 'denied',
        request_id: requestId,
        details: { username: user.username, reason: 'bad_credentials' },
      }),
    ]);

    const ghost = uniqueName('ghost');
    const unknown = await app.http.post('/api/v1/auth/login').send({ username: ghost, password: wrongPassword });
    expectError(unknown, 401, 'unauthenticated');
    expect(await byRequest(unknown.headers['x-request-id'])).toEqual([
      expect.objectContaining({
        actor: { type: 'user', id: null },
        action: 'auth.login',
        resource_id: ghost,
        outcome: 'denied',
        details: { username: ghost, reason: 'bad_credentials' },
      }),
    ]);
  });

  it('records user create, update and delete by the admin who did them', async () => {
    const username = uniqueName('audited');
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const newPassword = `pw-${randomBytes(8).toString('hex')}`;
    secrets.push(password, newPassword);

    const created = await app.http.post('/api/v1/users').set(admin.auth).send({ username, password, roles: ['viewer'] });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const updated = await app.http
      .patch(`/api/v1/users/${id}`)
      .set(admin.auth)
      .send({ password: newPassword, roles: ['operator'] });
    expect(updated.status).toBe(200);
    const deleted = await app.http.delete(`/api/v1/users/${id}`).set(admin.auth);
    expect(deleted.status).toBe(204);

    const trail = await events({ resource_type: 'user', resource_id: id });
    // Newest first.
    expect(trail.map((e) => e.action)).toEqual(['user.delete', 'user.update', 'user.create']);
    const [del, upd, cre] = trail;
    for (const [event, res] of [
      [cre, created],
      [upd, updated],
      [del, deleted],
    ] as const) {
      expect(event).toMatchObject({ actor: { type: 'user', id: admin.id }, outcome: 'success', resource_type: 'user' });
      expect(event.request_id).toBe(res.headers['x-request-id']);
    }
    expect(cre.details).toEqual({ username, roles: ['viewer'], disabled: false });
    expect(upd.details).toMatchObject({ roles_before: ['viewer'], roles_after: ['operator'] });
    expect(upd.details.changed).toEqual(expect.arrayContaining(['password_changed', 'roles']));
    expect(del.details).toEqual({ username });
  });

  it('records a permission denial as authz.denied and refuses the audit API to a viewer', async () => {
    const viewer = await createUser(app, admin, ['viewer']);
    secrets.push(viewer.password, viewer.accessToken, viewer.refreshToken);
    const denied = await app.http.get('/api/v1/users').set(viewer.auth);
    expectError(denied, 403, 'forbidden');
    expect(await byRequest(denied.headers['x-request-id'])).toEqual([
      expect.objectContaining({
        actor: { type: 'user', id: viewer.id },
        action: 'authz.denied',
        resource_type: 'route',
        resource_id: 'GET /api/v1/users',
        outcome: 'denied',
        details: { required_permission: 'users:read' },
      }),
    ]);

    expectError(await app.http.get('/api/v1/audit-events').set(viewer.auth), 403, 'forbidden');
    expectError(await app.http.get('/api/v1/audit-events/verify').set(viewer.auth), 403, 'forbidden');
    expectError(await app.http.get('/api/v1/audit-events/export').set(viewer.auth), 403, 'forbidden');
    expectError(await app.http.get('/api/v1/audit-events'), 401, 'unauthenticated');
  });

  it('filters by actor, action, resource, outcome and time', async () => {
    const all = await events({ limit: 200 });
    expect(all.length).toBeGreaterThan(10);

    const byActor = await events({ actor_id: admin.id, limit: 200 });
    expect(byActor.length).toBeGreaterThan(0);
    expect(byActor.every((e) => e.actor.id === admin.id)).toBe(true);
    expect(byActor).toHaveLength(all.filter((e) => e.actor.id === admin.id).length);

    const logins = await events({ action: 'auth.login', limit: 200 });
    expect(logins.length).toBeGreaterThan(2);
    expect(logins.every((e) => e.action === 'auth.login')).toBe(true);
    expect(logins).toHaveLength(all.filter((e) => e.action === 'auth.login').length);

    const denied = await events({ outcome: 'denied', limit: 200 });
    expect(new Set(denied.map((e) => e.outcome))).toEqual(new Set(['denied']));
    expect(denied).toHaveLength(all.filter((e) => e.outcome === 'denied').length);

    const deniedLogins = await events({ action: 'auth.login', outcome: 'denied', limit: 200 });
    expect(deniedLogins).toHaveLength(all.filter((e) => e.action === 'auth.login' && e.outcome === 'denied').length);

    const onAdmin = await events({ resource_type: 'user', resource_id: admin.id, limit: 200 });
    expect(onAdmin.length).toBeGreaterThan(0);
    expect(onAdmin.every((e) => e.resource_type === 'user' && e.resource_id === admin.id)).toBe(true);
    expect((await events({ resource_type: 'route', limit: 200 })).every((e) => e.resource_type === 'route')).toBe(true);

    // `from` is inclusive and `to` exclusive, so the two halves around one event partition the trail.
    const pivot = all[Math.floor(all.length / 2)];
    const from = await events({ from: pivot.occurred_at, limit: 200 });
    const to = await events({ to: pivot.occurred_at, limit: 200 });
    expect(from.map((e) => e.seq)).toContain(pivot.seq);
    expect(to.map((e) => e.seq)).not.toContain(pivot.seq);
    expect(from.every((e) => e.occurred_at >= pivot.occurred_at)).toBe(true);
    expect(to.every((e) => e.occurred_at < pivot.occurred_at)).toBe(true);
    expect(from.length + to.length).toBe(all.length);
    expect(await events({ from: pivot.occurred_at, to: pivot.occurred_at })).toEqual([]);

    expectError(await app.http.get('/api/v1/audit-events?outcome=maybe').set(admin.auth), 400, 'validation_failed');
    expectError(await app.http.get('/api/v1/audit-events?from=yesterday').set(admin.auth), 400, 'validation_failed');
    expectError(await app.http.get('/api/v1/audit-events?cursor=garbage').set(admin.auth), 400, 'validation_failed');
  });

  it('pages through the whole trail with limit=2, newest first, without gaps or duplicates', async () => {
    const expected = (await app.sql<{ seq: string }>('SELECT seq FROM audit_events ORDER BY seq DESC')).map((r) =>
      Number(r.seq),
    );
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: { audit_events: AuditEvent[]; next_cursor: string | null } } = await app.http
        .get('/api/v1/audit-events')
        .query(cursor ? { limit: 2, cursor } : { limit: 2 })
        .set(admin.auth);
      expect(res.status).toBe(200);
      expect(res.body.audit_events.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.audit_events.map((e) => e.seq));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 1000);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 2));

    // Paging composes with filters.
    const logins: number[] = [];
    cursor = null;
    do {
      const res: { body: { audit_events: AuditEvent[]; next_cursor: string | null } } = await app.http
        .get('/api/v1/audit-events')
        .query({ action: 'auth.login', limit: 2, ...(cursor ? { cursor } : {}) })
        .set(admin.auth);
      logins.push(...res.body.audit_events.map((e) => e.seq));
      cursor = res.body.next_cursor;
    } while (cursor);
    const expectedLogins = await app.sql<{ seq: string }>(
      `SELECT seq FROM audit_events WHERE action = 'auth.login' ORDER BY seq DESC`,
    );
    expect(logins).toEqual(expectedLogins.map((r) => Number(r.seq)));
  });

  it('stores awkward text exactly (quotes, backslashes, newlines, non-ASCII) and keeps the chain valid', async () => {
    // The commit-time statement inlines values as escaped literals: they must round-trip byte for byte.
    const name = `O'Brien's "key" \\ back\\slash E'\\x41' $1 ;COMMIT; -- \n ✓ ü 𝄞 ${uniqueName('k')}`;
    const created = await app.http.post('/api/v1/api-keys').set(admin.auth).send({ name, roles: ['viewer'] });
    expect(created.status).toBe(201);
    const [row] = await app.sql<{ details: { name: string } }>(`SELECT details FROM audit_events WHERE action = 'api_key.create' AND resource_id = $1`, [created.body.id]);
    expect(row.details.name).toBe(name);
    const events = await app.http.get(`/api/v1/audit-events?resource_id=${created.body.id as string}`).set(admin.auth);
    expect(events.body.audit_events[0].details.name).toBe(name);
    const verify = await app.http.get('/api/v1/audit-events/verify').set(admin.auth);
    expect(verify.body.valid).toBe(true);
  });

  it('verifies an intact chain', async () => {
    const [{ n }] = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM audit_events');
    const res = await app.http.get('/api/v1/audit-events/verify').set(admin.auth);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ valid: true, checked: n, first_invalid_seq: null, unsealed: 0, head_seq: n });
  });

  it('is append-only: the database refuses UPDATE, DELETE and TRUNCATE, even for the table owner', async () => {
    await expect(app.sql(`UPDATE audit_events SET outcome = 'success' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(app.sql('DELETE FROM audit_events WHERE seq = 1')).rejects.toThrow(/append-only/);
    await expect(app.sql('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
    expect((await app.sql('SELECT 1 FROM audit_events WHERE seq = 1')).length).toBe(1);
  });

  it('keeps the chain valid and gapless under 50 concurrent audited writes', async () => {
    const before = Number((await app.sql<{ n: string }>('SELECT count(*)::text AS n FROM audit_events'))[0].n);
    const failedLogins = Array.from({ length: 25 }, (_, i) =>
      app.http.post('/api/v1/auth/login').send({ username: `nobody-${i}-${randomUUID()}`, password: 'not-the-password' }),
    );
    const creations = Array.from({ length: 25 }, () =>
      app.http.post('/api/v1/users').set(admin.auth).send({ username: uniqueName('burst'), password: 'burst-password-1' }),
    );
    secrets.push('not-the-password', 'burst-password-1');
    const results = await Promise.all([...failedLogins, ...creations]);
    expect(results.slice(0, 25).map((r) => r.status)).toEqual(Array(25).fill(401));
    expect(results.slice(25).map((r) => r.status)).toEqual(Array(25).fill(201));

    const [stats] = await app.sql<{ n: string; min: string; max: string; head: string }>(
      `SELECT count(*)::text AS n, min(seq)::text AS min, max(seq)::text AS max,
              (SELECT last_seq::text FROM audit_chain_head WHERE id = 1) AS head
         FROM audit_events`,
    );
    expect(Number(stats.n)).toBe(before + 50);
    expect({ min: stats.min, max: stats.max, head: stats.head }).toEqual({ min: '1', max: stats.n, head: stats.n });
    const verify = await app.http.get('/api/v1/audit-events/verify').set(admin.auth);
    expect(verify.body).toEqual({ valid: true, checked: Number(stats.n), first_invalid_seq: null, unsealed: 0, head_seq: Number(stats.n) });
  });

  it('exports the trail as NDJSON and as CSV, with filters', async () => {
    const [{ n }] = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM audit_events');
    const ndjson = await app.http.get('/api/v1/audit-events/export').set(admin.auth).buffer(true).parse((res, done) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => done(null, text));
    });
    expect(ndjson.status).toBe(200);
    expect(ndjson.headers['content-type']).toMatch(/^application\/x-ndjson/);
    expect(ndjson.headers['content-disposition']).toMatch(/attachment; filename="audit-events\.ndjson"/);
    const lines = (ndjson.body as string).split('\n').filter(Boolean);
    expect(lines).toHaveLength(n);
    const parsed = lines.map((l) => JSON.parse(l) as AuditEvent);
    // Oldest first, every row once.
    expect(parsed.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(parsed[0]).toEqual(expect.objectContaining({ seq: 1, action: 'user.create', actor: { type: 'system', id: null } }));

    const csv = await app.http.get('/api/v1/audit-events/export?format=csv&action=user.create').set(admin.auth);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/filename="audit-events\.csv"/);
    const rows = parseCsv(csv.text);
    const [header, ...body] = rows;
    expect(header).toEqual([
      'seq', 'id', 'occurred_at', 'actor_type', 'actor_id', 'action', 'resource_type', 'resource_id',
      'outcome', 'ip', 'user_agent', 'request_id', 'details', 'prev_hash', 'hash',
    ]);
    const [{ creates }] = await app.sql<{ creates: number }>(`SELECT count(*)::int AS creates FROM audit_events WHERE action = 'user.create'`);
    expect(body).toHaveLength(creates);
    for (const row of body) {
      expect(row).toHaveLength(header.length);
      expect(row[5]).toBe('user.create');
      expect(JSON.parse(row[12])).toEqual(expect.objectContaining({ username: expect.any(String) }));
    }

    expectError(await app.http.get('/api/v1/audit-events/export?format=xml').set(admin.auth), 400, 'validation_failed');
  });

  it('never stores a password, token or key in any audit row', async () => {
    // A refresh and a logout exercise the token paths too.
    const session = await login(app, 'admin', ADMIN_PASSWORD);
    const refreshed = await app.http.post('/api/v1/auth/refresh').send({ refresh_token: session.refreshToken });
    expect(refreshed.status).toBe(200);
    await app.http.post('/api/v1/auth/logout').set(session.auth).send({ refresh_token: refreshed.body.refresh_token }).expect(204);
    secrets.push(session.accessToken, session.refreshToken, refreshed.body.access_token, refreshed.body.refresh_token);

    const rows = await app.sql<{ seq: string; row: string }>('SELECT seq::text AS seq, row_to_json(a)::text AS row FROM audit_events a');
    expect(rows.length).toBeGreaterThan(60);
    expect(secrets.length).toBeGreaterThan(15);
    for (const { seq, row } of rows) {
      for (const secret of secrets) {
        if (row.includes(secret)) throw new Error(`audit row ${seq} contains a secret: ${row}`);
      }
      expect(row).not.toMatch(/\$argon2|Bearer |amk_|rt_[A-Za-z0-9_-]{40}/);
    }
  });
});

describe('audit tamper detection (e2e)', () => {
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp();
    admin = await loginAdmin(app);
    for (let i = 0; i < 3; i++) await createUser(app, admin, ['viewer']);
  });
  afterAll(() => app.close());

  const verify = async () => (await app.http.get('/api/v1/audit-events/verify').set(admin.auth)).body;

  it('reports the first row whose contents were changed behind the trigger', async () => {
    const [{ n }] = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM audit_events');
    expect(await verify()).toEqual({ valid: true, checked: n, first_invalid_seq: null, unsealed: 0, head_seq: n });
    const [target] = await app.sql<{ seq: string }>(
      `SELECT seq FROM audit_events WHERE action = 'user.create' ORDER BY seq LIMIT 1 OFFSET 1`,
    );

    // Only someone able to switch off the append-only triggers (a superuser or the owner) can do this.
    await app.sql('ALTER TABLE audit_events DISABLE TRIGGER USER');
    try {
      await app.sql(`UPDATE audit_events SET details = details || '{"roles": ["admin"]}' WHERE seq = $1`, [target.seq]);
    } finally {
      await app.sql('ALTER TABLE audit_events ENABLE TRIGGER USER');
    }
    const report = await verify();
    expect(report).toEqual({ valid: false, checked: Number(target.seq), first_invalid_seq: Number(target.seq), unsealed: 0, head_seq: n });
    // The triggers are back on.
    await expect(app.sql('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
  });

  it('reports a deleted row at the gap it leaves', async () => {
    const [last] = await app.sql<{ seq: string }>('SELECT max(seq)::text AS seq FROM audit_events');
    // Another write after the tampered row, so there is a row after the one we delete.
    await createUser(app, admin, ['viewer']);
    await app.sql('ALTER TABLE audit_events DISABLE TRIGGER USER');
    try {
      await app.sql('DELETE FROM audit_events WHERE seq = 1');
    } finally {
      await app.sql('ALTER TABLE audit_events ENABLE TRIGGER USER');
    }
    const report = await verify();
    expect(report.valid).toBe(false);
    expect(report.first_invalid_seq).toBe(2);
    expect(Number(last.seq)).toBeGreaterThan(2);
  });
});

describe('audit chain head (e2e)', () => {
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp();
    admin = await loginAdmin(app);
    for (let i = 0; i < 3; i++) await createUser(app, admin, ['viewer']);
  });
  afterAll(() => app.close());

  const verify = async () => (await app.http.get('/api/v1/audit-events/verify').set(admin.auth)).body;

  it('staged rows cannot be rewritten before the sealer reaches them', async () => {
    // Staged and changed in one statement, so the sealer cannot take the row in between.
    await expect(
      app.sql(`DO $$ BEGIN
        INSERT INTO audit_pending (ticket, ord, id, occurred_at, actor_type, action, resource_type, outcome, details)
          VALUES (-1, 1, gen_random_uuid(), now(), 'system', 'test.stage', 'test', 'error', '{}');
        UPDATE audit_pending SET outcome = 'success' WHERE ticket = -1;
      END $$`),
    ).rejects.toThrow(/never updated/);
    await expect(
      app.sql(`DO $$ BEGIN
        INSERT INTO events_pending (ticket, ord, type, payload) VALUES (-1, 1, 'task_update', '{}');
        UPDATE events_pending SET type = 'error' WHERE ticket = -1;
      END $$`),
    ).rejects.toThrow(/never updated/);
  });

  it('reports a cut-off tail: the last sealed row must be the recorded head', async () => {
    const [{ n }] = await app.sql<{ n: number }>('SELECT count(*)::int AS n FROM audit_events');
    expect(await verify()).toEqual({ valid: true, checked: n, first_invalid_seq: null, unsealed: 0, head_seq: n });
    // Every remaining row still links to the one before it: only the head notices the loss.
    await app.sql('ALTER TABLE audit_events DISABLE TRIGGER USER');
    try {
      await app.sql('DELETE FROM audit_events WHERE seq > $1', [n - 2]);
    } finally {
      await app.sql('ALTER TABLE audit_events ENABLE TRIGGER USER');
    }
    expect(await verify()).toEqual({ valid: false, checked: n - 2, first_invalid_seq: n - 1, unsealed: 0, head_seq: n });
  });
});

describe('signed audit checkpoints (e2e)', () => {
  const KEY = randomBytes(32).toString('hex');
  let app: TestApp;
  let admin: Session;

  beforeAll(async () => {
    app = await createTestApp({ env: { AUDIT_CHECKPOINT_KEY: KEY } });
    admin = await loginAdmin(app);
    for (let i = 0; i < 3; i++) await createUser(app, admin, ['viewer']);
  });
  afterAll(() => app.close());

  const checkpoint = async () => {
    const res = await app.http.get('/api/v1/audit-events/checkpoint').set(admin.auth);
    expect(res.status).toBe(200);
    return res.body as { seq: number; hash: string; signed_at: string; algorithm: string; signature: string };
  };
  const check = (body: Record<string, unknown>) => app.http.post('/api/v1/audit-events/checkpoint/verify').set(admin.auth).send(body);

  it('signs the chain head with a key the database never sees, and checks a checkpoint against the chain later', async () => {
    const cp = await checkpoint();
    const [head] = await app.sql<{ last_seq: string; last_hash: string }>('SELECT last_seq::text AS last_seq, last_hash FROM audit_chain_head');
    expect(cp).toMatchObject({ seq: Number(head.last_seq), hash: head.last_hash, algorithm: 'HMAC-SHA256' });
    await createUser(app, admin, ['viewer']); // the chain grows; the old checkpoint still holds
    expect((await check(cp)).body).toEqual({ signature_valid: true, chain_matches: true });
    // A forged checkpoint (another seq or hash under the same signature) is not this server's.
    expect((await check({ ...cp, seq: cp.seq - 1 })).body).toEqual({ signature_valid: false, chain_matches: false });
    expectError(await check({ ...cp, signature: 'not-hex' }), 400, 'validation_failed');
  });

  it('catches a rewrite that recomputes every hash (what the database owner could do) by the checkpoint taken before', async () => {
    const cp = await checkpoint();
    // The owner switches the trigger off and rewrites the row at the checkpoint with a fresh hash:
    // verify alone could be fooled by a chain recomputed to the end; the checkpoint cannot.
    await app.sql('ALTER TABLE audit_events DISABLE TRIGGER USER');
    try {
      await app.sql(`UPDATE audit_events SET hash = md5(hash) || md5(hash) WHERE seq = $1`, [cp.seq]);
    } finally {
      await app.sql('ALTER TABLE audit_events ENABLE TRIGGER USER');
    }
    expect((await check(cp)).body).toEqual({ signature_valid: true, chain_matches: false });
  });

  it('is 404 with no AUDIT_CHECKPOINT_KEY, and needs audit:read', async () => {
    const viewer = await createUser(app, admin, ['viewer']);
    expectError(await app.http.get('/api/v1/audit-events/checkpoint').set(viewer.auth), 403, 'forbidden');
    const plain = await createTestApp();
    try {
      const plainAdmin = await loginAdmin(plain);
      expectError(await plain.http.get('/api/v1/audit-events/checkpoint').set(plainAdmin.auth), 404, 'not_found');
    } finally {
      await plain.close();
    }
  });
});
