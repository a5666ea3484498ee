import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentManagerClient, type EventStream } from '@agentmanager/client';
import type { AgentManagerEvent, Task } from '@agentmanager/contracts';
import { createServerApp, type ServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { gracefulShutdown } from '../../apps/server/src/shutdown';
import { createApiKey, eventually, loginAdmin, type Session,uniqueName } from '../harness/factories';
import { createTestApp, type TestApp } from '../harness/test-app';
import { artifactPath, buildWorker, WorkerProcess } from '../harness/worker-process';

/**
 * The built worker as real OS processes against a real server: a mixed backlog drained by a
 * heterogeneous fleet, SIGKILL mid-task, a server restart under the workers, SIGTERM drain, the
 * llm handler's Reason-Act loop against a fake OpenAI-compatible API, the shell allow list.
 */
describe('reference worker processes (e2e)', () => {
  let app: TestApp;
  let server: ServerApp; // the live server (replaced by the restart test)
  let admin: Session;
  let agentKey: string;
  let entry: string;
  let client: AgentManagerClient;
  let plugin: string;
  const workers: WorkerProcess[] = [];

  const sql = <T>(query: string, params: unknown[] = []) => server.db.dataSource.query<T[]>(query, params);

  const spawnWorker = (config: Record<string, unknown>, env: Record<string, string> = {}) => {
    const w = new WorkerProcess(
      entry,
      { server_url: app.baseUrl, auth_token: agentKey, polling_interval_sec: 1, max_parallel_tasks: 2, progress_interval_sec: 1, ...config },
      env,
    );
    workers.push(w);
    return w;
  };

  const waitFor = async (ids: string[], done: (t: Task) => boolean, timeoutMs = 40_000): Promise<Task[]> =>
    eventually(
      async () => {
        const tasks = await Promise.all(ids.map((id) => client.getTask(id)));
        return tasks.every(done) ? tasks : undefined;
      },
      timeoutMs,
      200,
    );

  beforeAll(async () => {
    entry = await buildWorker();
    plugin = artifactPath(`worker-plugin-${process.pid}.js`);
    // A plug-in handler: the text comes from the payload, or from input_data when run as a pipeline stage.
    writeFileSync(
      plugin,
      `exports.handlers = { upper: async (task, ctx) => { const text = task.payload.text ?? task.payload.input_data.text; ctx.record({ thought: 'shout', action: 'upper', observation: null }); return { upper: String(text).toUpperCase() }; } };\n`,
    );
    app = await createTestApp({
      env: {
        TASK_LEASE_SEC: '3',
        AGENT_HEARTBEAT_INTERVAL_SEC: '1',
        AGENT_OFFLINE_AFTER_SEC: '5',
        SWEEP_INTERVAL_MS: '200',
        RETRY_BASE_DELAY_MS: '100',
        RETRY_MAX_DELAY_MS: '300',
      },
    });
    server = app.server;
    admin = await loginAdmin(app);
    agentKey = (await createApiKey(app, admin, ['agent'])).key;
    client = new AgentManagerClient(app.baseUrl, admin.accessToken, { refreshToken: admin.refreshToken });
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    if (server !== app.server) await server.close();
    await app.close();
  });

  it('three workers with different capabilities drain a mixed backlog and a pipeline run, each task run by a capable worker', async () => {
    const fleet = [
      spawnWorker({ client_agent_id: uniqueName('a'), agent_capabilities: ['echo', 'upper'], handlers_module: plugin }),
      spawnWorker({ client_agent_id: uniqueName('b'), agent_capabilities: ['echo', 'sleep'] }),
      spawnWorker({ client_agent_id: uniqueName('c'), agent_capabilities: ['sleep', 'upper'], handlers_module: plugin }),
    ];
    const ids = await Promise.all(fleet.map((w) => w.agentId()));
    const capabilities = new Map<string, string[]>([
      [ids[0], ['echo', 'upper']],
      [ids[1], ['echo', 'sleep']],
      [ids[2], ['sleep', 'upper']],
    ]);
    // A three-stage pipeline (one stage per task type) runs alongside the backlog.
    const pipeline = await client.createPipeline({
      name: uniqueName('fleet-pipe'),
      stages: [
        { name: 'ingest', type: 'echo' },
        { name: 'pause', type: 'sleep' },
        { name: 'shout', type: 'upper' },
      ],
    });
    const run = await client.executePipeline(pipeline.id, { input_data: { text: 'pipeline', ms: 100 } });
    const created: Task[] = [];
    for (let i = 0; i < 6; i++) {
      created.push(await client.createTask({ type: 'echo', payload: { i } }));
      created.push(await client.createTask({ type: 'sleep', payload: { ms: 150 } }));
      created.push(await client.createTask({ type: 'upper', payload: { text: `word ${i}` } }));
    }
    const backlog = await waitFor(created.map((t) => t.id), (t) => t.status === 'completed');
    const finished = await eventually(async () => {
      const r = await client.getPipelineRun(run.id);
      return r.status === 'running' ? undefined : r;
    }, 40_000);
    expect(finished).toMatchObject({ status: 'completed', progress: 1, completed_stages: [0, 1, 2], output_data: { shout: { upper: 'PIPELINE' } } });
    const stages = await Promise.all(finished.stages.map((s) => client.getTask(s.task_id)));
    expect(stages.map((t) => t.type)).toEqual(['echo', 'sleep', 'upper']);
    expect(stages.every((t) => t.run_id === run.id)).toBe(true);
    const done = [...backlog, ...stages];
    for (const task of done) {
      expect(capabilities.get(task.assigned_agent!)).toContain(task.type);
      expect(task.execution_time).toEqual(expect.any(Number));
      expect(task.ra_history?.iterations.length).toBeGreaterThan(0);
    }
    expect(done.filter((t) => t.type === 'upper').map((t) => t.result)).toContainEqual({ upper: 'WORD 3' });
    expect(done.find((t) => t.type === 'echo')!.result).toEqual({ echo: { i: expect.any(Number) } });
    // Work was shared: both capable workers of some type took part.
    expect(new Set(done.map((t) => t.assigned_agent)).size).toBe(3);
  });

  it('a worker killed with SIGKILL mid-task: the task is reclaimed and completed by another worker', async () => {
    const victim = spawnWorker({ client_agent_id: uniqueName('victim'), agent_capabilities: ['slow'], task_handlers: { slow: 'sleep' } });
    const victimId = await victim.agentId();
    const task = await client.createTask({ type: 'slow', payload: { ms: 2500 }, retry_count: 2 });
    await victim.waitForLog('claimed', (l) => l.task_id === task.id);
    victim.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    const rescuer = spawnWorker({ client_agent_id: uniqueName('rescuer'), agent_capabilities: ['slow'], task_handlers: { slow: 'sleep' } });
    const rescuerId = await rescuer.agentId();
    const [final] = await waitFor([task.id], (t) => t.status === 'completed');
    expect(final.assigned_agent).toBe(rescuerId);
    expect(final.assigned_agent).not.toBe(victimId);
    expect(final.attempt).toBe(2);
    rescuer.kill('SIGTERM');
    expect((await rescuer.exited).code).toBe(0);
  });

  it('SIGTERM drains: held tasks finish or go back retryably within the grace period, and the worker exits 0', async () => {
    const w = spawnWorker({ client_agent_id: uniqueName('drain'), agent_capabilities: ['drain'], task_handlers: { drain: 'sleep' }, drain_grace_sec: 2 });
    const agentId = await w.agentId();
    const quick = await client.createTask({ type: 'drain', payload: { ms: 1000 }, priority: 'high' });
    const long = await client.createTask({ type: 'drain', payload: { ms: 60_000 }, priority: 'low' });
    await w.waitForLog('claimed', (l) => l.task_id === quick.id);
    await w.waitForLog('claimed', (l) => l.task_id === long.id);
    w.kill('SIGTERM');
    const exit = await w.exited;
    expect(exit.code).toBe(0);
    const quickAfter = await client.getTask(quick.id);
    expect(quickAfter.status).toBe('completed');
    const longAfter = await client.getTask(long.id);
    expect(['retrying', 'ready']).toContain(longAfter.status);
    expect(longAfter.error).toMatchObject({ code: 'worker_shutdown' });
    // It asked for no more work once told to stop.
    const agent = await client.getAgent(agentId);
    expect(agent.status).toBe('draining');
    await client.cancelTask(long.id);
  });

  it('the shell handler runs an allow-listed command with the payload on stdin and refuses anything else', async () => {
    spawnWorker({ client_agent_id: uniqueName('shell'), agent_capabilities: ['shell'], shell: { enabled: true, allow: ['cat'] } });
    const ok = await client.createTask({ type: 'shell', payload: { command: 'cat', data: [1, 2, 3] } });
    const refused = await client.createTask({ type: 'shell', payload: { command: 'sh -c "touch /tmp/pwned"' } });
    const tricky = await client.createTask({ type: 'shell', payload: { command: 'cat; rm -rf /' } });
    const [okDone] = await waitFor([ok.id], (t) => t.status === 'completed');
    expect(okDone.result).toMatchObject({ exit_code: 0, output: { command: 'cat', data: [1, 2, 3] } });
    const failed = await waitFor([refused.id, tricky.id], (t) => t.status === 'failed');
    for (const t of failed) {
      expect(t.error).toMatchObject({ code: 'command_not_allowed' });
      expect(t.attempt).toBe(1); // not retried
    }
  });

  it('the llm handler runs a Reason-Act loop against an OpenAI-compatible API and stores ra_history', async () => {
    const requests: { auth?: string; body: { model: string; messages: { role: string; content: string }[] } }[] = [];
    const fake: Server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      req.on('end', () => {
        const body = JSON.parse(raw);
        requests.push({ auth: req.headers.authorization, body });
        const last: string = body.messages[body.messages.length - 1].content;
        const reply = last.startsWith('Observation: 42')
          ? { thought: 'the calculator says 42', final_answer: { answer: 42 } }
          : { thought: 'I should compute 6*7', action: 'calc', action_input: '6*7' };
        res.writeHead(req.url === '/v1/chat/completions' ? 200 : 404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify(reply) }, finish_reason: 'stop' }] }));
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    try {
      const port = (fake.address() as AddressInfo).port;
      spawnWorker(
        { client_agent_id: uniqueName('llm'), agent_capabilities: ['llm'] },
        { OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`, OPENAI_API_KEY: 'sk-test', LLM_MODEL: 'fake-model', LLM_MAX_ITERATIONS: '4' },
      );
      const task = await client.createTask({ type: 'llm', payload: { description: 'What is 6 times 7?' } });
      const [done] = await waitFor([task.id], (t) => t.status === 'completed');
      expect(done.result).toEqual({ answer: 42 });
      const history = done.ra_history!;
      expect(history.final_result).toEqual({ answer: 42 });
      expect(history.iterations).toHaveLength(2);
      expect(history.iterations[0]).toMatchObject({ thought: 'I should compute 6*7', action: { tool: 'calc', input: '6*7' }, observation: 42 });
      expect(history.iterations[1]).toMatchObject({ thought: 'the calculator says 42', action: 'final_answer' });
      for (const it of history.iterations) expect(Date.parse(it.timestamp!)).not.toBeNaN();
      expect(requests[0].auth).toBe('Bearer sk-test');
      expect(requests[0].body.model).toBe('fake-model');
      expect(requests[0].body.messages[1].content).toContain('What is 6 times 7?');
    } finally {
      await new Promise((r) => fake.close(r));
    }
  });

  it('server restarted under the workers: they resume; no task is lost or completed twice; the event stream has no gap or duplicate', async () => {
    const fleet = [
      spawnWorker({ client_agent_id: uniqueName('r1'), agent_capabilities: ['sleep'] }),
      spawnWorker({ client_agent_id: uniqueName('r2'), agent_capabilities: ['sleep'] }),
    ];
    await Promise.all(fleet.map((w) => w.agentId()));
    const seen: AgentManagerEvent[] = [];
    const stream: EventStream = client.events({ subscriptions: [{ channel: 'tasks' }], onEvent: (e) => seen.push(e) });
    await stream.ready;
    const created: Task[] = [];
    for (let i = 0; i < 10; i++) created.push(await client.createTask({ type: 'sleep', payload: { ms: 800 }, retry_count: 5 }));
    const ids = created.map((t) => t.id);
    await eventually(async () => ((await sql<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status = 'running'`, [ids]))[0].n > 0 ? true : undefined));

    // Stop the server the way SIGTERM does (main.ts): a bare app.close() keeps serving the
    // keep-alive connections of workers that keep polling on them, and only returns once they
    // idle out (keepAliveTimeout, 65 s), which is not a restart at all.
    const port = Number(new URL(app.baseUrl).port);
    await gracefulShutdown(server, app.config, createLogger('silent'));
    await new Promise((r) => setTimeout(r, 2000)); // workers meet refused connections meanwhile
    server = await createServerApp(app.config, createLogger('silent'));
    await server.app.listen(port, '127.0.0.1');

    const done = await waitFor(ids, (t) => t.status === 'completed', 60_000);
    expect(done).toHaveLength(10);
    const completes = await sql<{ resource_id: string; n: number }>(
      `SELECT resource_id, count(*)::int AS n FROM audit_events WHERE action = 'task.complete' AND resource_id = ANY($1) GROUP BY resource_id`,
      [ids],
    );
    expect(completes).toHaveLength(10);
    expect(completes.every((c) => c.n === 1)).toBe(true);
    // The workers really did lose the server and come back.
    expect(fleet.some((w) => w.logs.some((l) => /backing off|could not reach the server/.test(l.msg)))).toBe(true);

    // Every task's completion reached the stream (replayed after the reconnect when needed),
    // in strictly increasing seq order.
    await eventually(async () => (ids.every((id) => seen.some((e) => e.type === 'task_update' && e.task_id === id && e.status === 'completed')) ? true : undefined), 15_000);
    const seqs = seen.map((e) => Number(e.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    stream.close();
  }, 75_000);
});
