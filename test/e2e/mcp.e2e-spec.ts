import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type CallToolResult,ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { AddressInfo } from 'node:net';
import { createServerApp, type ServerApp } from '../../apps/server/src/bootstrap';
import { ERROR_STATUS, type ErrorCode } from '../../apps/server/src/common/errors';
import { createLogger } from '../../apps/server/src/common/logger';
import { loadConfig } from '../../apps/server/src/config/app-config';
import { McpSessions } from '../../apps/server/src/mcp/mcp-sessions';
import {
  type AuthHeader,
  claimTasks,
  createApiKey,
  createTask,
  createUser,
  eventually,
  loginAdmin,
  registerAgent,
  type Session,
  uniqueName,
} from '../harness/factories';
import { ADMIN_PASSWORD, createTestApp, type TestApp } from '../harness/test-app';

const BASE_TOOLS = [
  'register_agent',
  'send_heartbeat',
  'claim_tasks',
  'report_progress',
  'complete_task',
  'fail_task',
  'create_task',
  'get_task',
  'list_tasks',
  'list_agents',
  'acquire_file_lock',
  'renew_file_lock',
  'release_file_lock',
  'list_file_locks',
];

type Json = Record<string, unknown>;

interface Connected {
  client: Client;
  transport: StreamableHTTPClientTransport;
}

async function connect(baseUrl: string, auth: AuthHeader, fetchImpl?: typeof fetch): Promise<Connected> {
  const client = new Client({ name: 'mcp-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', baseUrl), { requestInit: { headers: auth }, fetch: fetchImpl });
  await client.connect(transport);
  return { client, transport };
}

async function call(client: Client, name: string, args: Json): Promise<{ ok: true; value: Json } | { ok: false; error: Json }> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  const text = result.content[0]?.type === 'text' ? result.content[0].text : '';
  const body = JSON.parse(text) as Json;
  return result.isError ? { ok: false, error: body } : { ok: true, value: body };
}

async function ok(client: Client, name: string, args: Json): Promise<Json> {
  const result = await call(client, name, args);
  if (!result.ok) throw new Error(`${name} failed: ${JSON.stringify(result.error)}`);
  return result.value;
}

async function fails(client: Client, name: string, args: Json): Promise<Json> {
  const result = await call(client, name, args);
  if (result.ok) throw new Error(`${name} unexpectedly succeeded: ${JSON.stringify(result.value)}`);
  return result.error;
}

describe('MCP endpoint (e2e)', () => {
  let app: TestApp;
  let admin: Session;
  let agentKey: { id: string; auth: AuthHeader };
  let viewer: Session;
  const open: Client[] = [];
  const connectAs = async (auth: AuthHeader, baseUrl = app.baseUrl, fetchImpl?: typeof fetch) => {
    const c = await connect(baseUrl, auth, fetchImpl);
    open.push(c.client);
    return c;
  };

  beforeAll(async () => {
    app = await createTestApp();
    admin = await loginAdmin(app);
    agentKey = await createApiKey(app, admin, ['agent']);
    viewer = await createUser(app, admin, ['viewer']);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(() => app.close());

  it('refuses a caller without a credential', async () => {
    const res = await app.http.post('/mcp').send({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('unauthenticated');
  });

  it('lists every tool with an input schema and truthful annotations', async () => {
    const { client } = await connectAs(agentKey.auth);
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(BASE_TOOLS));
    // The workflows module is part of the app, so its tools are too.
    expect(names).toEqual(expect.arrayContaining(['create_workflow', 'get_workflow']));
    for (const tool of tools) {
      expect(tool.name).toMatch(/^[a-z]+(_[a-z]+)+$/);
      expect(tool.description?.length).toBeGreaterThan(40);
      expect(tool.inputSchema).toMatchObject({ type: 'object', additionalProperties: false });
      expect(Object.keys(tool.inputSchema.properties ?? {}).length).toBeGreaterThan(0);
      const readOnly = /^(get|list)_/.test(tool.name);
      expect({ tool: tool.name, readOnly: tool.annotations?.readOnlyHint }).toEqual({ tool: tool.name, readOnly });
      expect(typeof tool.annotations?.destructiveHint).toBe('boolean');
      expect(typeof tool.annotations?.idempotentHint).toBe('boolean');
    }
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect(byName.get('complete_task')?.inputSchema.required).toEqual(expect.arrayContaining(['task_id', 'agent_id', 'attempt']));
    expect(byName.get('complete_task')?.description).toMatch(/stale_attempt/);
    expect(byName.get('acquire_file_lock')?.description).toMatch(/lock_conflict/);
    expect(byName.get('release_file_lock')?.annotations?.destructiveHint).toBe(true);
    expect(byName.get('send_heartbeat')?.annotations?.idempotentHint).toBe(true);
    expect(byName.get('claim_tasks')?.annotations?.idempotentHint).toBe(false);
  });

  it('runs the worker loop register → claim → lock → progress → complete, visible over REST and audited via mcp', async () => {
    const type = uniqueName('mcp-loop');
    const task = await createTask(app, admin.auth, { type, payload: { n: 1 } });
    const { client } = await connectAs(agentKey.auth);

    const agent = await ok(client, 'register_agent', { name: uniqueName('llm'), type: 'worker', capabilities: [type] });
    const again = await ok(client, 'register_agent', { name: agent.name, type: 'worker', capabilities: [type] });
    expect(again.id).toBe(agent.id);
    const { tasks } = (await ok(client, 'claim_tasks', { agent_id: agent.id, wait_seconds: 2 })) as { tasks: Json[] };
    expect(tasks.map((t) => t.id)).toEqual([task.id]);
    const attempt = tasks[0].attempt as number;

    const lock = await ok(client, 'acquire_file_lock', { path: `src/${type}.ts`, access: 'write', agent_id: agent.id, task_id: task.id });
    expect(lock).toMatchObject({ path: `src/${type}.ts`, access: 'write', holder: { type: 'agent', id: agent.id }, task_id: task.id });
    const listed = (await app.http.get('/api/v1/locks').query({ task_id: task.id }).set(admin.auth)).body as { locks: Json[] };
    expect(listed.locks.map((l) => l.id)).toEqual([lock.id]);

    await ok(client, 'send_heartbeat', { agent_id: agent.id, current_load: 1 });
    const progressed = await ok(client, 'report_progress', {
      task_id: task.id,
      agent_id: agent.id,
      attempt,
      progress: 0.5,
      logs: [{ level: 'info', message: 'halfway' }],
    });
    expect(progressed.progress).toBe(0.5);
    const done = await ok(client, 'complete_task', { task_id: task.id, agent_id: agent.id, attempt, result: { answer: 42 } });
    expect(done.status).toBe('completed');

    const rest = await app.http.get(`/api/v1/tasks/${task.id}`).set(admin.auth);
    expect(rest.status).toBe(200);
    expect(rest.body).toMatchObject({ status: 'completed', result: { answer: 42 }, assigned_agent: agent.id, progress: 1 });
    const locksAfter = (await app.http.get('/api/v1/locks').query({ task_id: task.id }).set(admin.auth)).body as { locks: Json[] };
    expect(locksAfter.locks).toEqual([]);

    const audit = await app.sql<{ action: string; via: string | null }>(
      `select action, details->>'via' as via from audit_events where resource_id = $1 and action like 'task.%' order by seq`,
      [task.id],
    );
    expect(audit).toEqual(
      expect.arrayContaining([
        { action: 'task.create', via: null },
        { action: 'task.complete', via: 'mcp' },
      ]),
    );
    expect(audit.filter((a) => a.action !== 'task.create').every((a) => a.via === 'mcp')).toBe(true);
  });

  it('answers a stale attempt with isError stale_attempt', async () => {
    const type = uniqueName('mcp-stale');
    const task = await createTask(app, admin.auth, { type });
    const { client } = await connectAs(agentKey.auth);
    const agent = await ok(client, 'register_agent', { name: uniqueName('llm'), type: 'worker', capabilities: [type] });
    const { tasks } = (await ok(client, 'claim_tasks', { agent_id: agent.id })) as { tasks: { attempt: number }[] };
    const error = await fails(client, 'complete_task', { task_id: task.id, agent_id: agent.id, attempt: tasks[0].attempt + 1 });
    expect(error).toMatchObject({ code: 'stale_attempt', message: expect.any(String), details: { task_id: task.id } });
    expect((await app.http.get(`/api/v1/tasks/${task.id}`).set(admin.auth)).body.status).toBe('running');
  });

  it('refuses complete_task to a viewer (forbidden, audited) and leaves the task unchanged', async () => {
    const type = uniqueName('mcp-viewer');
    const task = await createTask(app, admin.auth, { type });
    const agent = await registerAgent(app, agentKey.auth, { capabilities: [type] });
    const [claimed] = await claimTasks(app, agentKey.auth, agent.id);
    const { client } = await connectAs(viewer.auth);
    const error = await fails(client, 'complete_task', { task_id: task.id, agent_id: agent.id, attempt: claimed.attempt });
    expect(error).toMatchObject({ code: 'forbidden', message: expect.stringContaining('agents:act') });
    // A viewer may still read.
    expect((await ok(client, 'get_task', { task_id: task.id })).status).toBe('running');
    const after = await app.http.get(`/api/v1/tasks/${task.id}`).set(admin.auth);
    expect(after.body).toMatchObject({ status: 'running', attempt: claimed.attempt, result: null });
    const denied = await app.sql(`select details from audit_events where action = 'authz.denied' and resource_type = 'mcp_tool' and actor_id = $1`, [
      viewer.id,
    ]);
    expect(denied).toEqual([{ details: expect.objectContaining({ required_permission: 'agents:act', via: 'mcp' }) }]);
  });

  it('rejects bad arguments by schema, naming the fields, before anything changes', async () => {
    const { client } = await connectAs(agentKey.auth);
    const wrongType = await fails(client, 'complete_task', { task_id: 'nope', agent_id: 'x', attempt: 'one' });
    expect(wrongType.code).toBe('validation_failed');
    const fields = ((wrongType.details as { fields: { field: string }[] }).fields ?? []).map((f) => f.field).sort();
    expect(fields).toEqual(['agent_id', 'attempt', 'task_id']);
    const unknownProperty = await fails(client, 'list_tasks', { colour: 'red' });
    expect(unknownProperty).toMatchObject({ code: 'validation_failed', details: { fields: [{ field: 'colour' }] } });
    const missing = await fails(client, 'register_agent', { name: 'x' });
    expect(missing.code).toBe('validation_failed');
    // A rule only the DTO knows (lock path normalisation) is enforced exactly as over REST.
    const badPath = await fails(client, 'acquire_file_lock', { path: 'src/../etc/passwd', access: 'write' });
    expect(badPath).toMatchObject({ code: 'validation_failed', details: { fields: [{ field: 'path' }] } });
    const count = await app.sql<{ n: string }>(`select count(*)::text as n from agents where name = 'x'`);
    expect(count[0].n).toBe('0');
  });

  it('notifies a resource subscription when the task completes', async () => {
    const type = uniqueName('mcp-sub');
    const task = await createTask(app, admin.auth, { type });
    const agent = await registerAgent(app, agentKey.auth, { capabilities: [type] });
    const [claimed] = await claimTasks(app, agentKey.auth, agent.id);
    const { client, transport } = await connectAs(agentKey.auth);
    const uri = `agentmanager://tasks/${task.id}`;
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updates.push(n.params.uri);
    });
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(
      expect.arrayContaining(['agentmanager://tasks/{id}', 'agentmanager://agents/{id}', 'agentmanager://workflows/{id}']),
    );

    await client.subscribeResource({ uri });
    const sessions = app.server.app.get(McpSessions);
    expect(transport.sessionId).toEqual(expect.any(String));
    await eventually(async () => (sessions.hasStream(transport.sessionId ?? '') ? true : undefined));

    await app.http
      .post(`/api/v1/tasks/${task.id}/complete`)
      .set(agentKey.auth)
      .send({ agent_id: agent.id, attempt: claimed.attempt, result: 'done' })
      .expect(200);
    await eventually(async () => (updates.includes(uri) ? true : undefined));

    const read = await client.readResource({ uri });
    expect(read.contents[0]).toMatchObject({ uri, mimeType: 'application/json' });
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toMatchObject({ id: task.id, status: 'completed', result: 'done' });

    await expect(client.readResource({ uri: 'agentmanager://tasks/00000000-0000-4000-8000-000000000000' })).rejects.toThrow(/not found/i);
    await client.unsubscribeResource({ uri });
  });

  it('renders the two prompts', async () => {
    const { client } = await connectAs(agentKey.auth);
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(expect.arrayContaining(['work-on-next-task', 'review-workflow']));
    const work = await client.getPrompt({ name: 'work-on-next-task', arguments: { agent_name: 'coder-7', capabilities: 'code, python' } });
    const workText = (work.messages[0].content as { text: string }).text;
    expect(workText).toContain('register_agent {"name": "coder-7", "type": "worker", "capabilities": ["code","python"]}');
    for (const tool of ['claim_tasks', 'acquire_file_lock', 'report_progress', 'complete_task', 'fail_task', 'stale_attempt', 'lock_conflict']) {
      expect(workText).toContain(tool);
    }
    const review = await client.getPrompt({ name: 'review-workflow', arguments: { workflow_id: 'wf-1' } });
    const reviewText = (review.messages[0].content as { text: string }).text;
    const fenced = /```json\n([\s\S]*?)\n```/.exec(reviewText);
    const verdict = JSON.parse(fenced?.[1] ?? 'null') as Json;
    expect(Object.keys(verdict).sort()).toEqual(['confidence_score', 'feedback', 'is_successful', 'rework_suggestions']);
    expect(verdict.rework_suggestions).toEqual([{ key: expect.any(String), note: expect.any(String) }]);
    await expect(client.getPrompt({ name: 'review-workflow', arguments: {} })).rejects.toThrow(/workflow_id/);
  });

  describe('tool/REST parity', () => {
    interface Case {
      tool: string;
      args: Json;
      rest: { method: 'get' | 'post' | 'delete'; path: string; body?: Json; query?: Json };
      as?: 'agent' | 'viewer' | 'admin';
    }
    const none = '00000000-0000-4000-8000-000000000000';

    async function compare(clients: Record<'agent' | 'viewer' | 'admin', Client>, c: Case, expectSuccess: boolean): Promise<void> {
      const as = c.as ?? 'agent';
      const client = clients[as];
      const auth = { agent: agentKey.auth, viewer: viewer.auth, admin: admin.auth }[as];
      let req = app.http[c.rest.method](c.rest.path).set(auth);
      if (c.rest.query) req = req.query(c.rest.query);
      const res = await (c.rest.body !== undefined ? req.send(c.rest.body) : req);
      const result = await call(client, c.tool, c.args);
      const label = `${c.tool} ${JSON.stringify(c.args)}`;
      if (!result.ok) {
        const code = result.error.code as ErrorCode;
        expect({ label, status: res.status, code: res.body.code }).toEqual({ label, status: ERROR_STATUS[code], code });
        expect(expectSuccess).toBe(false);
        return;
      }
      expect({ label, status: res.status < 300 }).toEqual({ label, status: true });
      expect(expectSuccess).toBe(true);
      if (res.status === 204) expect(result.value).toMatchObject({ released: true });
      else expect({ label, keys: Object.keys(result.value).sort() }).toEqual({ label, keys: Object.keys(res.body as Json).sort() });
    }

    it('gives the same outcome as the REST twin for every tool, success and error', async () => {
      const clients = {
        agent: (await connectAs(agentKey.auth)).client,
        viewer: (await connectAs(viewer.auth)).client,
        admin: (await connectAs(admin.auth)).client,
      };
      const listed = (await clients.admin.listTools()).tools.map((t) => t.name);
      const type = uniqueName('parity');
      const agent = await registerAgent(app, agentKey.auth, { capabilities: [type], max_parallel_tasks: 10 });
      const t1 = await createTask(app, admin.auth, { type, priority: 'high' });
      const t2 = await createTask(app, admin.auth, { type, priority: 'high' });
      const t3 = await createTask(app, admin.auth, { type, priority: 'high' });
      const t4 = await createTask(app, admin.auth, { type, priority: 'high' });
      const claimed = new Map((await claimTasks(app, agentKey.auth, agent.id, { max_tasks: 4 })).map((t) => [t.id, t.attempt]));
      expect(claimed.size).toBe(4);
      const fenced = (id: string) => ({ agent_id: agent.id, attempt: claimed.get(id) ?? 0 });
      const lockPath = `parity/${type}/`;
      const lockA = (await app.http.post('/api/v1/locks').set(agentKey.auth).send({ path: `${lockPath}a`, access: 'write', agent_id: agent.id }))
        .body as Json;
      const lockB = (await app.http.post('/api/v1/locks').set(agentKey.auth).send({ path: `${lockPath}b`, access: 'write', agent_id: agent.id }))
        .body as Json;
      // Held by somebody else: the agent's exclusive request conflicts.
      await app.http.post('/api/v1/locks').set(admin.auth).send({ path: `${lockPath}e`, access: 'exclusive' }).expect(201);

      const successes: Case[] = [
        {
          tool: 'register_agent',
          args: { name: `${type}-x`, type: 'worker', capabilities: [] },
          rest: { method: 'post', path: '/api/v1/agents/register', body: { name: `${type}-x`, type: 'worker', capabilities: [] } },
        },
        { tool: 'send_heartbeat', args: { agent_id: agent.id }, rest: { method: 'post', path: `/api/v1/agents/${agent.id}/heartbeat`, body: {} } },
        { tool: 'claim_tasks', args: { agent_id: agent.id }, rest: { method: 'post', path: '/api/v1/tasks/claim', body: { agent_id: agent.id } } },
        {
          tool: 'report_progress',
          args: { task_id: t1.id, ...fenced(t1.id), progress: 0.2 },
          rest: { method: 'post', path: `/api/v1/tasks/${t1.id}/progress`, body: { ...fenced(t1.id), progress: 0.3 } },
        },
        {
          tool: 'complete_task',
          args: { task_id: t1.id, ...fenced(t1.id), result: 1 },
          rest: { method: 'post', path: `/api/v1/tasks/${t2.id}/complete`, body: { ...fenced(t2.id), result: 1 } },
        },
        {
          tool: 'fail_task',
          args: { task_id: t3.id, ...fenced(t3.id), error: { code: 'x', message: 'y' }, retryable: false },
          rest: { method: 'post', path: `/api/v1/tasks/${t4.id}/fail`, body: { ...fenced(t4.id), error: { code: 'x', message: 'y' }, retryable: false } },
        },
        { tool: 'create_task', args: { type: `${type}-other` }, rest: { method: 'post', path: '/api/v1/tasks', body: { type: `${type}-other` } } },
        { tool: 'get_task', args: { task_id: t1.id }, rest: { method: 'get', path: `/api/v1/tasks/${t1.id}` } },
        { tool: 'list_tasks', args: { type, limit: 2 }, rest: { method: 'get', path: '/api/v1/tasks', query: { type, limit: 2 } } },
        { tool: 'list_agents', args: { type: 'worker' }, rest: { method: 'get', path: '/api/v1/agents', query: { type: 'worker' } } },
        {
          tool: 'acquire_file_lock',
          args: { path: `${lockPath}c`, access: 'read', agent_id: agent.id },
          rest: { method: 'post', path: '/api/v1/locks', body: { path: `${lockPath}d`, access: 'read', agent_id: agent.id } },
        },
        {
          tool: 'renew_file_lock',
          args: { lock_id: lockA.id, ttl_seconds: 120 },
          rest: { method: 'post', path: `/api/v1/locks/${lockA.id as string}/renew`, body: { ttl_seconds: 120 } },
        },
        { tool: 'release_file_lock', args: { lock_id: lockA.id }, rest: { method: 'delete', path: `/api/v1/locks/${lockB.id as string}` } },
        { tool: 'list_file_locks', args: { path: lockPath }, rest: { method: 'get', path: '/api/v1/locks', query: { path: lockPath } } },
      ];
      const errors: Case[] = [
        {
          tool: 'register_agent',
          args: { name: 'ok-name', type: 'robot', capabilities: [] },
          rest: { method: 'post', path: '/api/v1/agents/register', body: { name: 'ok-name', type: 'robot', capabilities: [] } },
        },
        { tool: 'send_heartbeat', args: { agent_id: none }, rest: { method: 'post', path: `/api/v1/agents/${none}/heartbeat`, body: {} } },
        { tool: 'claim_tasks', args: { agent_id: none }, rest: { method: 'post', path: '/api/v1/tasks/claim', body: { agent_id: none } } },
        {
          tool: 'report_progress',
          args: { task_id: t1.id, ...fenced(t1.id), progress: 0.5 },
          rest: { method: 'post', path: `/api/v1/tasks/${t1.id}/progress`, body: { ...fenced(t1.id), progress: 0.5 } },
        },
        {
          tool: 'complete_task',
          args: { task_id: t2.id, ...fenced(t2.id) },
          rest: { method: 'post', path: `/api/v1/tasks/${t2.id}/complete`, body: fenced(t2.id) },
        },
        {
          tool: 'complete_task',
          args: { task_id: t1.id, ...fenced(t1.id) },
          rest: { method: 'post', path: `/api/v1/tasks/${t1.id}/complete`, body: fenced(t1.id) },
          as: 'viewer',
        },
        {
          tool: 'fail_task',
          args: { task_id: none, agent_id: agent.id, attempt: 1, error: { code: 'x', message: 'y' } },
          rest: { method: 'post', path: `/api/v1/tasks/${none}/fail`, body: { agent_id: agent.id, attempt: 1, error: { code: 'x', message: 'y' } } },
        },
        { tool: 'create_task', args: { type: '-bad type' }, rest: { method: 'post', path: '/api/v1/tasks', body: { type: '-bad type' } } },
        { tool: 'get_task', args: { task_id: none }, rest: { method: 'get', path: `/api/v1/tasks/${none}` } },
        { tool: 'list_tasks', args: { status: 'sleeping' }, rest: { method: 'get', path: '/api/v1/tasks', query: { status: 'sleeping' } } },
        { tool: 'list_agents', args: { limit: 0 }, rest: { method: 'get', path: '/api/v1/agents', query: { limit: 0 } } },
        {
          tool: 'acquire_file_lock',
          args: { path: `${lockPath}e`, access: 'exclusive', agent_id: agent.id },
          rest: { method: 'post', path: '/api/v1/locks', body: { path: `${lockPath}e`, access: 'exclusive', agent_id: agent.id } },
        },
        { tool: 'renew_file_lock', args: { lock_id: lockA.id }, rest: { method: 'post', path: `/api/v1/locks/${lockA.id as string}/renew`, body: {} } },
        { tool: 'release_file_lock', args: { lock_id: lockB.id }, rest: { method: 'delete', path: `/api/v1/locks/${lockB.id as string}` } },
        { tool: 'list_file_locks', args: { path: '../x' }, rest: { method: 'get', path: '/api/v1/locks', query: { path: '../x' } } },
      ];

      if (listed.includes('create_workflow')) {
        const graph = { name: 'parity', tasks: [{ key: 'a', type: `${type}-wf` }] };
        const cycle = { tasks: [{ key: 'a', type, depends_on: ['b'] }, { key: 'b', type, depends_on: ['a'] }] };
        const wf = (await app.http.post('/api/v1/workflows').set(admin.auth).send(graph).expect(201)).body as Json;
        successes.push(
          { tool: 'create_workflow', args: graph, rest: { method: 'post', path: '/api/v1/workflows', body: graph }, as: 'admin' },
          { tool: 'get_workflow', args: { workflow_id: wf.id }, rest: { method: 'get', path: `/api/v1/workflows/${wf.id as string}` }, as: 'admin' },
        );
        errors.push(
          { tool: 'create_workflow', args: cycle, rest: { method: 'post', path: '/api/v1/workflows', body: cycle }, as: 'admin' },
          { tool: 'create_workflow', args: graph, rest: { method: 'post', path: '/api/v1/workflows', body: graph } },
          { tool: 'get_workflow', args: { workflow_id: none }, rest: { method: 'get', path: `/api/v1/workflows/${none}` }, as: 'admin' },
        );
      }
      if (listed.includes('execute_pipeline')) {
        const pipeline = (await app.http.post('/api/v1/pipelines').set(admin.auth).send({ name: `${type}-pl` }).expect(201)).body as Json;
        const run = (await app.http.post(`/api/v1/pipelines/${pipeline.id as string}/execute`).set(admin.auth).send({}).expect(202)).body as Json;
        const execute = { method: 'post' as const, path: `/api/v1/pipelines/${pipeline.id as string}/execute`, body: { input_data: 1 } };
        successes.push(
          { tool: 'list_pipelines', args: { limit: 5 }, rest: { method: 'get', path: '/api/v1/pipelines', query: { limit: 5 } }, as: 'admin' },
          { tool: 'execute_pipeline', args: { pipeline_id: pipeline.id, input_data: 1 }, rest: execute, as: 'admin' },
          { tool: 'get_pipeline_run', args: { run_id: run.id }, rest: { method: 'get', path: `/api/v1/pipeline-runs/${run.id as string}` }, as: 'admin' },
        );
        errors.push(
          { tool: 'list_pipelines', args: { limit: 0 }, rest: { method: 'get', path: '/api/v1/pipelines', query: { limit: 0 } }, as: 'admin' },
          { tool: 'execute_pipeline', args: { pipeline_id: pipeline.id, input_data: 1 }, rest: execute, as: 'viewer' },
          { tool: 'get_pipeline_run', args: { run_id: none }, rest: { method: 'get', path: `/api/v1/pipeline-runs/${none}` }, as: 'admin' },
        );
      }

      for (const c of successes) await compare(clients, c, true);
      for (const c of errors) await compare(clients, c, false);
      // Every tool the server lists has a success and an error case here.
      expect(new Set(successes.map((c) => c.tool))).toEqual(new Set(listed));
      expect(new Set(errors.map((c) => c.tool))).toEqual(new Set(listed));
      expect(listed).toEqual(expect.arrayContaining(BASE_TOOLS));
    });
  });

  // Last: closing a second ServerApp on the same database disconnects this app's pool too (as in events.e2e-spec.ts).
  it('works statelessly across two server instances, calls alternating between them', async () => {
    const config = loadConfig({ DATABASE_URL: app.config.databaseUrl, ADMIN_PASSWORD, LOG_LEVEL: 'silent', DB_POOL_SIZE: '5' });
    const second: ServerApp = await createServerApp(config, createLogger('silent'));
    await second.app.listen(0, '127.0.0.1');
    try {
      const origins = [app.baseUrl, `http://127.0.0.1:${(second.app.getHttpServer().address() as AddressInfo).port}`];
      const hits = [0, 0];
      let next = 0;
      const alternating: typeof fetch = (input, init) => {
        const i = next++ % 2;
        const url = new URL(input instanceof Request ? input.url : input.toString());
        const target = new URL(origins[i]);
        url.host = target.host;
        if ((init?.method ?? 'GET') === 'POST') hits[i] += 1;
        return fetch(url, init);
      };
      const { client } = await connectAs(agentKey.auth, app.baseUrl, alternating);
      const type = uniqueName('mcp-two');
      const agent = await ok(client, 'register_agent', { name: uniqueName('llm'), type: 'worker', capabilities: [type] });
      const created = await ok(client, 'create_task', { type });
      const { tasks } = (await ok(client, 'claim_tasks', { agent_id: agent.id })) as { tasks: { id: string; attempt: number }[] };
      expect(tasks.map((t) => t.id)).toEqual([created.id]);
      await ok(client, 'report_progress', { task_id: created.id, agent_id: agent.id, attempt: tasks[0].attempt, progress: 0.3 });
      await ok(client, 'complete_task', { task_id: created.id, agent_id: agent.id, attempt: tasks[0].attempt });
      expect((await ok(client, 'get_task', { task_id: created.id })).status).toBe('completed');
      expect(hits[0]).toBeGreaterThanOrEqual(3);
      expect(hits[1]).toBeGreaterThanOrEqual(3);
      await client.close();
    } finally {
      await second.close();
    }
  });
});
