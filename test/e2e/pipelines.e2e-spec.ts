import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookSender } from '../../apps/server/src/pipelines/webhook-sender';
import {
  type AuthHeader,
  claimTasks,
  completeTask,
  createApiKey,
  createUser,
  eventually,
  expectError,
  failTask,
  loginAdmin,
  registerAgent,
  type Session,
  uniqueName,
} from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';

const SECRET = 'webhook-secret-for-tests';
const SIX = ['ingestion', 'transformation', 'analysis', 'validation', 'processing', 'output'];
type Task = { id: string; attempt: number; stage: string; payload: Record<string, unknown>; depends_on: string[]; [k: string]: unknown };
type Run = {
  id: string;
  status: string;
  pipeline_version: number;
  current_stage: number | null;
  completed_stages: number[];
  progress: number;
  stages: { index: number; name: string; status: string; task_id: string }[];
  output_data: unknown;
  error: { code: string } | null;
  [k: string]: unknown;
};

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local HTTP receiver on 127.0.0.1; `statuses` are answered in turn (then 200). */
async function receiver(statuses: number[] = []): Promise<{ url: string; port: number; got: Received[]; close: () => Promise<void> }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = statuses.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, port, got, close: () => new Promise((r) => server.close(() => r())) };
}

describe('pipelines (e2e)', () => {
  let app: TestApp;
  let operator: Session;
  let viewer: Session;
  let key: AuthHeader;

  beforeAll(async () => {
    app = await createTestApp({ env: { SWEEP_INTERVAL_MS: '200', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_SECRET: SECRET } });
    const admin = await loginAdmin(app);
    operator = await createUser(app, admin, ['operator']);
    viewer = await createUser(app, admin, ['viewer']);
    key = (await createApiKey(app, admin, ['agent'])).auth;
  });
  afterAll(() => app.close());

  const createPipeline = (body: Record<string, unknown>) => app.http.post('/api/v1/pipelines').set(operator.auth).send(body);
  const execute = (id: string, body: Record<string, unknown> = {}) => app.http.post(`/api/v1/pipelines/${id}/execute`).set(operator.auth).send(body);
  const getRun = async (id: string): Promise<Run> => {
    const res = await app.http.get(`/api/v1/pipeline-runs/${id}`).set(viewer.auth);
    expect(res.status).toBe(200);
    return res.body as Run;
  };
  const agentFor = async (capabilities: string[]) => (await registerAgent(app, key, { capabilities, max_parallel_tasks: 20 })).id;
  /** A pipeline with fresh stage types so tests never claim each other's stage tasks. */
  async function customPipeline(stages: Record<string, unknown>[], dependencies?: { from: string; to: string }[]) {
    const res = await createPipeline({ name: uniqueName('pipe'), stages, ...(dependencies ? { dependencies } : {}) });
    expect(res.status).toBe(201);
    return res.body as { id: string; version: number; stages: { name: string; type: string }[] };
  }

  it('runs the default six stages one by one, passing data along, and ends with output_data', async () => {
    const created = await createPipeline({ name: 'standard', description: 'seed 002' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ version: 1, status: 'active', stages: SIX.map((name) => ({ name, type: name, required: true })) });
    expect(created.body.dependencies).toEqual(SIX.slice(1).map((to, i) => ({ from: SIX[i], to })));
    const agent = await agentFor(SIX);

    const res = await execute(created.body.id, { input_data: { source: 's3://bucket/x' }, parameters: { depth: 2 } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ pipeline_id: created.body.id, pipeline_version: 1, status: 'running', current_stage: null, completed_stages: [], progress: 0 });
    expect(res.body.stages.map((s: { status: string }) => s.status)).toEqual(['ready', 'pending', 'pending', 'pending', 'pending', 'pending']);
    const runId = res.body.id as string;

    for (let i = 0; i < 6; i++) {
      const claimed = (await claimTasks(app, key, agent, { max_tasks: 10 })) as unknown as Task[];
      expect(claimed.map((t) => t.stage)).toEqual([SIX[i]]);
      const t = claimed[0];
      expect(t).toMatchObject({ type: SIX[i], run_id: runId, pipeline_id: created.body.id, required_capabilities: [SIX[i]] });
      expect(t.payload).toMatchObject({ input_data: { source: 's3://bucket/x' }, parameters: { depth: 2 }, stage: { index: i, name: SIX[i] } });
      expect(t.payload.stage_results).toEqual(i === 0 ? {} : { [SIX[i - 1]]: { stage: SIX[i - 1], n: i - 1 } });
      const during = await getRun(runId);
      expect(during).toMatchObject({ current_stage: i, completed_stages: Array.from({ length: i }, (_, k) => k) });
      await completeTask(app, key, t, agent, { stage: SIX[i], n: i });
      const after = await getRun(runId);
      expect(after.completed_stages).toEqual(Array.from({ length: i + 1 }, (_, k) => k));
      expect(after.progress).toBeCloseTo((i + 1) / 6);
      expect(after.current_stage).toBeNull();
    }
    const done = await getRun(runId);
    expect(done).toMatchObject({ status: 'completed', progress: 1, output_data: { output: { stage: 'output', n: 5 } }, completed_at: expect.any(String) });
    const events = await eventually(async () => {
      const res = await app.http.get('/api/v1/events?after=0&limit=1000').set(operator.auth);
      const mine = (res.body.events as { type: string; run_id?: string; progress?: number; status?: string }[]).filter(
        (e) => e.type === 'pipeline_progress' && e.run_id === runId,
      );
      return mine.some((e) => e.status === 'completed') ? mine : undefined;
    });
    expect(events[events.length - 1]).toMatchObject({ status: 'completed', progress: 1, completed_stages: [0, 1, 2, 3, 4, 5], current_stage: null });
    expect(events.some((e) => (e as { current_stage?: number }).current_stage === 3)).toBe(true);
    const runs = await app.http.get(`/api/v1/pipelines/${created.body.id}/runs`).set(viewer.auth);
    expect(runs.status).toBe(200);
    expect(runs.body.runs.map((r: Run) => r.id)).toEqual([runId]);
    const audit = await app.sql(`SELECT action FROM audit_events WHERE action LIKE 'pipeline%' AND (resource_id = $1 OR resource_id = $2) ORDER BY seq`, [created.body.id, runId]);
    expect(audit.map((r) => r.action)).toEqual(['pipeline.create', 'pipeline.execute', 'pipeline_run.complete']);
  });

  it('skips a failed optional stage and goes on; its dependents run without it', async () => {
    const t = uniqueName('st');
    const p = await customPipeline(
      [
        { name: 'a', type: `${t}-a` },
        { name: 'b', type: `${t}-b`, required: false, retry_count: 0 },
        { name: 'c', type: `${t}-c` },
      ],
      [
        { from: 'a', to: 'b' },
        { from: 'a', to: 'c' },
        { from: 'b', to: 'c' },
      ],
    );
    const agent = await agentFor([`${t}-a`, `${t}-b`, `${t}-c`]);
    const run = (await execute(p.id, { input_data: 1 })).body as Run;
    let [task] = (await claimTasks(app, key, agent)) as unknown as Task[];
    await completeTask(app, key, task, agent, 'A');
    [task] = (await claimTasks(app, key, agent)) as unknown as Task[];
    expect(task.stage).toBe('b');
    await failTask(app, key, task, agent, false);
    const mid = await getRun(run.id);
    expect(mid.status).toBe('running');
    expect(mid.stages.map((s) => s.status)).toEqual(['completed', 'skipped', 'ready']);
    expect(mid.completed_stages).toEqual([0, 1]);
    [task] = (await claimTasks(app, key, agent)) as unknown as Task[];
    expect(task.stage).toBe('c');
    expect(task.payload.stage_results).toEqual({ a: 'A' });
    await completeTask(app, key, task, agent, 'C');
    expect(await getRun(run.id)).toMatchObject({ status: 'completed', completed_stages: [0, 1, 2], output_data: { c: 'C' }, progress: 1 });
  });

  it('a failed required stage fails the run and cancels the rest', async () => {
    const t = uniqueName('st');
    const p = await customPipeline([
      { name: 'x', type: `${t}-x`, retry_count: 0, timeout: 60 },
      { name: 'y', type: `${t}-y` },
    ]);
    const agent = await agentFor([`${t}-x`, `${t}-y`]);
    const run = (await execute(p.id)).body as Run;
    const [task] = (await claimTasks(app, key, agent)) as unknown as Task[];
    expect(task).toMatchObject({ timeout: 60, max_attempts: 1 });
    await failTask(app, key, task, agent, true);
    const after = await getRun(run.id);
    expect(after).toMatchObject({ status: 'failed', error: { code: 'stage_failed' }, completed_at: expect.any(String) });
    expect(after.stages.map((s) => s.status)).toEqual(['failed', 'cancelled']);
    expect(after.progress).toBe(0);
  });

  it('PATCH makes a new version; runs keep theirs; DELETE archives', async () => {
    const t = uniqueName('st');
    const p = await customPipeline([{ name: 'one', type: `${t}-1` }]);
    const run1 = (await execute(p.id)).body as Run;
    const patched = await app.http
      .patch(`/api/v1/pipelines/${p.id}`)
      .set(operator.auth)
      .send({ description: 'two stages now', stages: [{ name: 'one', type: `${t}-1` }, { name: 'two', type: `${t}-2` }] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ version: 2, description: 'two stages now', dependencies: [{ from: 'one', to: 'two' }] });
    const run2 = (await execute(p.id)).body as Run;
    expect(run2.pipeline_version).toBe(2);
    expect(run2.stages.map((s) => s.name)).toEqual(['one', 'two']);
    const again = await getRun(run1.id);
    expect(again.pipeline_version).toBe(1);
    expect(again.stages.map((s) => s.name)).toEqual(['one']);
    const versions = await app.sql<{ version: number }>('SELECT version FROM pipeline_versions WHERE pipeline_id = $1 ORDER BY version', [p.id]);
    expect(versions.map((v) => v.version)).toEqual([1, 2]);

    expect((await app.http.delete(`/api/v1/pipelines/${p.id}`).set(operator.auth)).status).toBe(204);
    const listed = await app.http.get('/api/v1/pipelines?limit=200').set(viewer.auth);
    expect(listed.body.pipelines.some((x: { id: string }) => x.id === p.id)).toBe(false);
    const all = await app.http.get('/api/v1/pipelines?limit=200&include_archived=true').set(viewer.auth);
    expect(all.body.pipelines.find((x: { id: string }) => x.id === p.id)).toMatchObject({ status: 'archived' });
    expectError(await execute(p.id), 409, 'illegal_transition');
    expectError(await app.http.patch(`/api/v1/pipelines/${p.id}`).set(operator.auth).send({ name: 'x' }), 409, 'illegal_transition');
    // Runs of an archived pipeline can still be read and cancelled.
    const cancelled = await app.http.post(`/api/v1/pipeline-runs/${run2.id}/cancel`).set(operator.auth);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled' });
    expect(cancelled.body.stages.map((s: { status: string }) => s.status)).toEqual(['cancelled', 'cancelled']);
    expectError(await app.http.post(`/api/v1/pipeline-runs/${run2.id}/cancel`).set(operator.auth), 409, 'illegal_transition');
  });

  it('validates definitions and notifications', async () => {
    const cycle = await createPipeline({
      name: 'cyclic',
      stages: [
        { name: 'a', type: 'a' },
        { name: 'b', type: 'b' },
      ],
      dependencies: [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'a' },
      ],
    });
    expectError(cycle, 422, 'dependency_cycle');
    expect(cycle.body.details.cycle).toHaveLength(3);
    expectError(await createPipeline({ name: 'x', stages: [{ name: 'a', type: 'a' }], dependencies: [{ from: 'ghost', to: 'a' }] }), 422, 'unknown_dependency');
    expectError(await createPipeline({ name: 'x', stages: [{ name: 'a', type: 'a' }], dependencies: [{ from: 'a', to: 'ghost' }] }), 422, 'unknown_dependency');
    expectError(await app.http.post('/api/v1/pipelines').set(viewer.auth).send({ name: 'x' }), 403, 'forbidden');
    const p = await customPipeline([{ name: 'a', type: uniqueName('st') }]);
    expectError(await execute(p.id, { notification: { webhook: 'ftp://example.com/x' } }), 400, 'validation_failed');
    const email = await execute(p.id, { notification: { email: 'ops@example.com' } });
    expectError(email, 422, 'unprocessable');
    expect(email.body.message).toMatch(/not configured/);
    expectError(await app.http.post(`/api/v1/pipelines/${p.id}/execute`).set(viewer.auth).send({}), 403, 'forbidden');
  });

  it('POSTs the run, signed, to the webhook on completion, retrying after a failed attempt', async () => {
    const hook = await receiver([500]);
    try {
      const type = uniqueName('st');
      const p = await customPipeline([{ name: 'only', type }]);
      const agent = await agentFor([type]);
      const run = (await execute(p.id, { notification: { webhook: hook.url } })).body as Run;
      const [task] = await claimTasks(app, key, agent);
      await completeTask(app, key, task, agent, { ok: true });
      await eventually(async () => (hook.got.length >= 2 ? true : undefined), 15_000);
      const [first, second] = hook.got;
      expect(second.headers['x-agentmanager-delivery']).toBe(first.headers['x-agentmanager-delivery']);
      const expected = `sha256=${createHmac('sha256', SECRET).update(second.body).digest('hex')}`;
      expect(second.headers['x-agentmanager-signature']).toBe(expected);
      expect(JSON.parse(second.body)).toEqual(await getRun(run.id));
      expect(JSON.parse(second.body)).toMatchObject({ status: 'completed', output_data: { only: { ok: true } } });
      const delivery = await eventually(async () => {
        const rows = await app.sql<{ id: string; status: string; attempts: number }>('SELECT id, status, attempts FROM webhook_deliveries WHERE run_id = $1', [run.id]);
        return rows[0]?.status === 'delivered' ? rows[0] : undefined;
      });
      expect(delivery).toMatchObject({ id: second.headers['x-agentmanager-delivery'], attempts: 2 });
      const audits = await app.sql<{ outcome: string }>(`SELECT outcome FROM audit_events WHERE action = 'webhook.delivery' AND resource_id = $1 ORDER BY seq`, [delivery.id]);
      expect(audits.map((a) => a.outcome)).toEqual(['error', 'success']);
    } finally {
      await hook.close();
    }
  });

  it('refuses webhook targets in private, metadata and loopback ranges (DNS stubbed), and never connects to them', async () => {
    const canary = await receiver();
    const sender = app.server.app.get(WebhookSender, { strict: false });
    const realResolver = sender.resolver;
    const stub: Record<string, string> = { 'internal.example': '10.0.0.5', 'metadata.example': '169.254.169.254', 'canary.example': '127.0.0.1', 'v6.example': '::1' };
    const asked: string[] = [];
    sender.resolver = async (host) => {
      asked.push(host);
      const address = stub[host];
      if (!address) throw new Error(`unexpected lookup of ${host}`);
      return [{ address, family: address.includes(':') ? 6 : 4 }];
    };
    try {
      const type = uniqueName('st');
      const p = await customPipeline([{ name: 'only', type }]);
      const agent = await agentFor([type]);
      const targets = [
        'http://internal.example/hook',
        'http://metadata.example/latest/meta-data/',
        `http://canary.example:${canary.port}/hook`,
        `http://v6.example:${canary.port}/hook`,
      ];
      // A literal address is judged at once: no run, no delivery.
      expectError(await execute(p.id, { notification: { webhook: `http://[::1]:${canary.port}/hook` } }), 400, 'validation_failed');
      const runs: string[] = [];
      for (const webhook of targets) runs.push(((await execute(p.id, { notification: { webhook } })).body as Run).id);
      for (const task of await claimTasks(app, key, agent, { max_tasks: 10 })) await completeTask(app, key, task, agent);
      const rows = await eventually(async () => {
        const r = await app.sql<{ run_id: string; status: string; last_error: string; attempts: number }>(
          'SELECT run_id, status, last_error, attempts FROM webhook_deliveries WHERE run_id = ANY($1::uuid[])',
          [runs],
        );
        return r.length === targets.length && r.every((x) => x.status !== 'pending') ? r : undefined;
      });
      for (const r of rows) {
        expect(r).toMatchObject({ status: 'failed', attempts: 1 });
        expect(r.last_error).toMatch(/refused range/);
      }
      const byRun = new Map(rows.map((r) => [r.run_id, r.last_error]));
      expect(byRun.get(runs[0])).toContain('10.0.0.5');
      expect(byRun.get(runs[1])).toContain('169.254.169.254');
      expect(byRun.get(runs[2])).toContain('loopback');
      expect(new Set(asked)).toEqual(new Set(['internal.example', 'metadata.example', 'canary.example', 'v6.example']));
      expect(canary.got).toEqual([]);
    } finally {
      sender.resolver = realResolver;
      await canary.close();
    }
  });
});
