import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_JSON_DEPTH } from '../../apps/server/src/common/input-guard';
import { createTask, createUser, expectError, loginAdmin, registerAgent, type Session, uniqueName } from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';

type Res = { status: number; body: Record<string, unknown>; headers: Record<string, string>; text: string };
type Fields = { field: string; errors: string[] }[];

const cursor = (key: unknown[]): string => Buffer.from(JSON.stringify(key)).toString('base64url');
const nestedArrays = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const nestedObject = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

/**
 * Hostile input over real HTTP: every vector is a 400 `validation_failed` naming the field, and
 * nothing is written. A loopback canary stands for an internal service a webhook must never reach.
 */
describe('hostile input (security e2e)', () => {
  let app: TestApp;
  let admin: Session;
  let canary: Server;
  let canaryUrl: string;
  let canaryHits = 0;
  let pipelineId: string;

  /** Row counts of the tables a refused request could have written. */
  const counts = async (): Promise<Record<string, number>> => {
    const tables = ['tasks', 'users', 'agents', 'workflows', 'pipelines', 'pipeline_runs', 'file_locks', 'webhook_deliveries', 'refresh_tokens'];
    const rows = await app.sql<{ t: string; n: number }>(tables.map((t) => `SELECT '${t}' AS t, count(*)::int AS n FROM ${t}`).join(' UNION ALL '));
    return Object.fromEntries(rows.map((r) => [r.t, r.n]));
  };

  /** Sends one hostile request and checks the 400 and that no table changed. */
  const refused = async (send: () => Promise<Res>, field?: string | RegExp): Promise<Fields> => {
    const before = await counts();
    const res = await send();
    expectError(res, 400, 'validation_failed');
    const fields = (res.body.details as { fields: Fields }).fields;
    expect(fields.length).toBeGreaterThan(0);
    if (field !== undefined) expect(fields.map((f) => f.field)).toContainEqual(typeof field === 'string' ? field : expect.stringMatching(field));
    expect(await counts()).toEqual(before);
    return fields;
  };

  const json = (method: 'post' | 'patch', path: string, raw: string) =>
    app.http[method](path).set(admin.auth).set('Content-Type', 'application/json').send(raw) as unknown as Promise<Res>;

  beforeAll(async () => {
    canary = createServer((_req, res) => {
      canaryHits += 1;
      res.end('canary');
    });
    await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve));
    canaryUrl = `http://127.0.0.1:${(canary.address() as AddressInfo).port}/hook`;
    app = await createTestApp();
    admin = await loginAdmin(app);
    const p = await app.http.post('/api/v1/pipelines').set(admin.auth).send({ name: uniqueName('hostile'), stages: [{ name: 'only', type: uniqueName('hostile-stage') }] });
    expect(p.status).toBe(201);
    pipelineId = (p.body as { id: string }).id;
  });

  afterAll(async () => {
    await app?.close();
    await new Promise<void>((resolve) => canary.close(() => resolve()));
  });

  describe('NUL bytes and unpaired surrogates', () => {
    it('refuses a NUL in the login username (was a 500 from PostgreSQL)', async () => {
      await refused(() => app.http.post('/api/v1/auth/login').send({ username: 'ad\u0000min', password: 'x' }), 'username');
    });

    it('refuses an unpaired surrogate in the login username', async () => {
      await refused(() => json('post', '/api/v1/auth/login', '{"username":"a\\ud800b","password":"x"}'), 'username');
      await refused(() => json('post', '/api/v1/auth/login', '{"username":"a\\udc00","password":"x"}'), 'username');
    });

    it('refuses a NUL inside a task payload (jsonb refuses \\u0000), naming the field path', async () => {
      await refused(
        () => app.http.post('/api/v1/tasks').set(admin.auth).send({ type: 'x', payload: { list: ['ok', 'a\u0000b'] } }),
        'payload.list[1]',
      );
    });

    it('refuses a NUL in a key of a task payload', async () => {
      await refused(() => json('post', '/api/v1/tasks', '{"type":"x","payload":{"k\\u0000":1}}'), /^payload\.k/);
    });

    it('refuses a NUL in a query parameter', async () => {
      await refused(() => app.http.get('/api/v1/tasks?type=a%00b').set(admin.auth), 'type');
    });

    it('refuses a NUL in a route parameter', async () => {
      await refused(() => app.http.get('/api/v1/roles/ad%00min').set(admin.auth), 'path');
    });

    it('refuses a NUL in an MCP JSON-RPC body before it reaches a tool', async () => {
      await refused(
        () =>
          app.http
            .post('/mcp')
            .set(admin.auth)
            .set('Accept', 'application/json, text/event-stream')
            .send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'create_task', arguments: { type: 'x\u0000' } } }),
        'params.arguments.type',
      );
    });

    it('keeps accepting well-formed non-ASCII text (surrogate pairs included)', async () => {
      const task = await createTask(app, admin.auth, { type: uniqueName('unicode'), payload: { emoji: '😀 ok', 'ключ': 'значение' } });
      expect(task.payload).toEqual({ emoji: '😀 ok', 'ключ': 'значение' });
    });
  });

  describe(`nesting deeper than ${MAX_JSON_DEPTH}`, () => {
    it('refuses a payload nested 5,000 arrays deep (was a stack overflow, 500)', async () => {
      await refused(() => json('post', '/api/v1/tasks', `{"type":"x","payload":${nestedArrays(5000)}}`), /^payload(\[0\])+$/);
    });

    it('refuses a payload one level past the limit and accepts one at it', async () => {
      // The body object is level 1, so payload may nest MAX_JSON_DEPTH - 1 containers.
      await refused(() => json('post', '/api/v1/tasks', JSON.stringify({ type: 'x', payload: nestedObject(MAX_JSON_DEPTH) })), /^payload(\.a)+$/);
      await createTask(app, admin.auth, { type: uniqueName('deep'), payload: nestedObject(MAX_JSON_DEPTH - 1) });
    });

    it('refuses deep nesting in an MCP body', async () => {
      await refused(() => json('post', '/mcp', `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":${nestedArrays(200)}}}`), /^params\.x/);
    });
  });

  describe('cursors and integers', () => {
    it.each([
      ['tasks', cursor(['not-a-timestamp', 'not-a-uuid'])],
      ['tasks', cursor([12, null])],
      ['workflows', cursor(['1', 'x'])],
      ['pipelines', cursor(['99999999999999999999999', randomUUID()])],
      ['agents', cursor([{}, []])],
      ['users', cursor(['1', 'zzz'])],
      ['audit-events', cursor(['abc'])],
      ['audit-events', cursor(['99999999999999999999'])],
      ['roles', cursor(['a\u0000'])],
      ['api-keys', cursor(['yesterday', randomUUID()])],
      ['api-keys', cursor(['2024-02-31 10:00:00+00', randomUUID()])],
    ])('refuses a %s cursor of the wrong shape (%s)', async (route, value) => {
      await refused(() => app.http.get(`/api/v1/${route}`).query({ cursor: value }).set(admin.auth), 'cursor');
    });

    it('still accepts every cursor it issues', async () => {
      for (let i = 0; i < 2; i++) {
        await createTask(app, admin.auth, { type: uniqueName('page') });
        await registerAgent(app, admin.auth);
        await createUser(app, admin, ['viewer']);
        for (const [path, body] of [
          ['pipelines', { name: uniqueName('page') }],
          ['workflows', { tasks: [{ key: 'a', type: uniqueName('page') }] }],
          ['api-keys', { name: uniqueName('page'), roles: ['viewer'] }],
          ['locks', { path: `${uniqueName('page')}/f.ts`, access: 'read' }],
        ] as const) {
          expect((await app.http.post(`/api/v1/${path}`).set(admin.auth).send(body)).status).toBe(201);
        }
      }
      for (const route of ['tasks', 'workflows', 'pipelines', `pipelines/${pipelineId}/runs`, 'agents', 'users', 'audit-events', 'roles', 'api-keys', 'locks']) {
        const first = await app.http.get(`/api/v1/${route}`).query({ limit: 1 }).set(admin.auth);
        expect({ route, status: first.status }).toEqual({ route, status: 200 });
        if (route.endsWith('/runs')) continue; // the runs here were all refused: one page
        const next = (first.body as { next_cursor: string | null }).next_cursor;
        expect({ route, next }).toEqual({ route, next: expect.any(String) });
        const second = await app.http.get(`/api/v1/${route}`).query({ limit: 1, cursor: next }).set(admin.auth);
        expect({ route, status: second.status }).toEqual({ route, status: 200 });
      }
    });

    it('refuses an events `after` beyond int8 and accepts the largest int8', async () => {
      await refused(() => app.http.get('/api/v1/events').query({ after: '9999999999999999999' }).set(admin.auth), 'after');
      expect((await app.http.get('/api/v1/events').query({ after: '9223372036854775807' }).set(admin.auth)).status).toBe(200);
    });

    it.each([
      ['tasks', { type: 'x', run_at: '-271821-04-20T00:00:00Z' }, 'run_at'],
      ['api-keys', { name: 'k', roles: ['viewer'], expires_at: '0000-01-01T00:00:00Z' }, 'expires_at'],
    ])('refuses a %s timestamp PostgreSQL cannot hold (%j)', async (route, body, field) => {
      await refused(() => app.http.post(`/api/v1/${route}`).set(admin.auth).send(body), field);
    });

    it('refuses an audit filter timestamp PostgreSQL cannot hold', async () => {
      await refused(() => app.http.get('/api/v1/audit-events').query({ from: '-271821-04-20T00:00:00Z' }).set(admin.auth), 'from');
    });

    it('refuses an attempt beyond the int4 column', async () => {
      const type = uniqueName('int-range');
      const agent = await registerAgent(app, admin.auth, { capabilities: [type] });
      const task = await createTask(app, admin.auth, { type });
      for (const attempt of [2 ** 31, 2 ** 63, 1e300]) {
        await refused(
          () =>
            app.http
              .post(`/api/v1/tasks/${task.id}/complete`)
              .set(admin.auth)
              .send({ agent_id: agent.id, attempt, result: {} }),
          'attempt',
        );
      }
    });
  });

  describe('webhook targets (SSRF)', () => {
    it.each([
      ['private IPv4', 'http://10.0.0.1/hook'],
      ['the loopback canary', 'CANARY'],
      ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
      ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/hook'],
      ['6to4 of 127.0.0.1', 'http://[2002:7f00:1::1]/hook'],
      ['Teredo', 'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook'],
      ['the IPv6 discard prefix 100::/64', 'http://[100::1]/hook'],
      ['IPv6 unique local', 'http://[fd00::1]/hook'],
      ['a decimal loopback literal', 'http://2130706433/hook'],
    ])('refuses a webhook at %s with 400 at request time', async (_what, url) => {
      const webhook = url === 'CANARY' ? canaryUrl : url;
      const fields = await refused(
        () => app.http.post(`/api/v1/pipelines/${pipelineId}/execute`).set(admin.auth).send({ notification: { webhook } }),
        'notification.webhook',
      );
      expect(fields[0].errors.join(' ')).toMatch(/refused range|not allowed|must be/);
    });

    it('still accepts a public literal address and a host name (vetted again when connecting)', async () => {
      for (const webhook of ['https://1.1.1.1/hook', 'https://hooks.example.com/agentmanager']) {
        const res = await app.http.post(`/api/v1/pipelines/${pipelineId}/execute`).set(admin.auth).send({ notification: { webhook } });
        expect(res.status).toBe(202);
      }
    });

    it('the loopback canary never received a request', () => {
      expect(canaryHits).toBe(0);
    });
  });
});
