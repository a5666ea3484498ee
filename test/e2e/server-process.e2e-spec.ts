import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer, type ServerProcess,startServerProcess } from '../harness/built-server';
import { EventClient } from '../harness/sockets';
import { cloneTemplateDatabase, dropDatabase } from '../harness/test-database';

// The built server as a real process (node dist/apps/server/src/main.js): what SIGTERM does to
// long-polls, in-flight requests and sockets, and OpenTelemetry export to an OTLP endpoint.

const ADMIN_PASSWORD = 'process-admin-password';
const GRACE_MS = 8000;

async function json(baseUrl: string, method: string, path: string, auth?: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown>, headers: res.headers };
}

async function adminToken(baseUrl: string): Promise<string> {
  const res = await json(baseUrl, 'POST', '/api/v1/auth/login', undefined, { username: 'admin', password: ADMIN_PASSWORD });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

describe('the built server process (e2e)', () => {
  let db: { url: string; name: string };
  const running: ServerProcess[] = [];

  beforeAll(async () => {
    buildServer();
    db = await cloneTemplateDatabase();
  }, 300_000);
  afterAll(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await dropDatabase(db.name);
  });

  const start = async (env: Record<string, string> = {}, port?: number) => {
    const p = await startServerProcess(
      { DATABASE_URL: db.url, ADMIN_PASSWORD, SHUTDOWN_GRACE_MS: String(GRACE_MS), AGENT_OFFLINE_AFTER_SEC: '3600', ...env },
      port,
    );
    running.push(p);
    return p;
  };

  it('on SIGTERM: ends long-polls empty, finishes in-flight requests, tells sockets, exits 0 in the grace; nothing is lost', async () => {
    const server = await start();
    const admin = await adminToken(server.baseUrl);
    const key = await json(server.baseUrl, 'POST', '/api/v1/api-keys', admin, { name: 'shutdown-agent', roles: ['agent'] });
    expect(key.status).toBe(201);
    const agentKey = key.body.key as string;
    const agent = await json(server.baseUrl, 'POST', '/api/v1/agents/register', agentKey, { name: 'waiter', type: 'worker', capabilities: ['idle'] });
    expect(agent.status).toBe(201);
    // Nobody can run this one yet: it must survive the restart, still claimable.
    const kept = await json(server.baseUrl, 'POST', '/api/v1/tasks', admin, { type: 'survivor', required_capabilities: ['later'] });
    expect(kept.status).toBe(201);

    const socket = new EventClient(server.baseUrl, admin);
    await socket.connected();
    const socketGone = new Promise<void>((resolve) => socket.socket.once('disconnect', () => resolve()));

    // A long-poll that would wait 20 s.
    const pollStarted = Date.now();
    const poll = json(server.baseUrl, 'POST', '/api/v1/tasks/claim', agentKey, { agent_id: agent.body.id, wait_seconds: 20 }).then((r) => ({
      ...r,
      at: Date.now(),
    }));

    // An in-flight request: its body is still arriving when SIGTERM lands.
    const body = JSON.stringify({ type: 'in-flight', payload: { note: 'x'.repeat(2000) } });
    const half = Math.floor(body.length / 2);
    const slow = new Promise<{ status: number; body: Record<string, unknown>; connection: string | undefined }>((resolve, reject) => {
      const req = httpRequest(
        `${server.baseUrl}/api/v1/tasks`,
        { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res: IncomingMessage) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown>, connection: res.headers.connection }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, half));
      setTimeout(() => req.end(body.slice(half)), 1500);
    });

    await new Promise((r) => setTimeout(r, 400));
    const signalled = Date.now();
    server.child.kill('SIGTERM');

    const polled = await poll;
    expect(polled.status).toBe(200);
    expect(polled.body.tasks).toEqual([]);
    expect(polled.at - signalled).toBeLessThan(2000);
    expect(polled.at - pollStarted).toBeLessThan(5000);

    const created = await slow;
    expect(created.status).toBe(201);
    expect(created.connection).toBe('close');

    await socketGone;
    expect(socket.of('error').map((e) => (e.details as { code: string }).code)).toContain('server_shutdown');
    socket.close();

    const exit = await server.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - signalled).toBeLessThan(GRACE_MS);
    const logged = server.lines.map((l) => JSON.parse(l) as { msg?: string });
    expect(logged.some((l) => l.msg === 'shut down')).toBe(true);

    // Restarted on the same database: both tasks are there, and the kept one is claimable.
    const again = await start({}, server.port);
    const token = await adminToken(again.baseUrl);
    expect((await json(again.baseUrl, 'GET', `/api/v1/tasks/${created.body.id as string}`, token)).status).toBe(200);
    const worker = await json(again.baseUrl, 'POST', '/api/v1/agents/register', agentKey, { name: 'later', type: 'worker', capabilities: ['later'] });
    expect(worker.status).toBe(201);
    const claim = await json(again.baseUrl, 'POST', '/api/v1/tasks/claim', agentKey, { agent_id: worker.body.id });
    expect(claim.status).toBe(200);
    expect((claim.body.tasks as { id: string }[]).map((t) => t.id)).toEqual([kept.body.id]);
    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
  }, 90_000);

  it('with the embedded database, SIGTERM keeps PostgreSQL up until in-flight requests are done, then stops it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'am-embedded-shutdown-'));
    // As root, embedded PostgreSQL runs as a `postgres` OS user, which must reach the data directory.
    chmodSync(dataDir, 0o755);
    try {
      const server = await startServerProcess({ DATA_DIR: dataDir, ADMIN_PASSWORD, SHUTDOWN_GRACE_MS: String(GRACE_MS) });
      running.push(server);
      const admin = await adminToken(server.baseUrl);
      // A request whose body is still arriving 1.5 s after SIGTERM: it needs the database then.
      const body = JSON.stringify({ type: 'late-write', payload: { note: 'y'.repeat(2000) } });
      const half = Math.floor(body.length / 2);
      const slow = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = httpRequest(
          `${server.baseUrl}/api/v1/tasks`,
          { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res: IncomingMessage) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString('utf8')));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, half));
        setTimeout(() => req.end(body.slice(half)), 1500);
      });
      await new Promise((r) => setTimeout(r, 300));
      server.child.kill('SIGTERM');
      const created = await slow;
      expect(created.status).toBe(201);
      expect((await server.exited).code).toBe(0);
      const warnings = server.lines.map((l) => JSON.parse(l) as { level: string; msg?: string }).filter((l) => l.level === 'warn' || l.level === 'error');
      expect(warnings).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('reads settings from a .env file when there is one, the process environment winning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'am-env-'));
    const file = join(dir, '.env');
    writeFileSync(file, `# settings for this test\nMETRICS_TOKEN="from-the-env-file-0123456789"\nADMIN_PASSWORD=not-the-one-in-use\n`);
    const server = await start({ ENV_FILE: file });
    try {
      expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(401);
      expect((await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: 'Bearer from-the-env-file-0123456789' } })).status).toBe(200);
      // ADMIN_PASSWORD came from the process environment too: that one holds.
      await adminToken(server.baseUrl);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exports traces to OTEL_EXPORTER_OTLP_ENDPOINT and names the trace in logs and a traceparent header', async () => {
    const received: { method: string; url: string; bytes: number }[] = [];
    const collector: Server = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (d: Buffer) => (bytes += d.length));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', bytes });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
      const server = await start({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'agentmanager-e2e' });
      const token = await adminToken(server.baseUrl);
      const me = await json(server.baseUrl, 'GET', '/api/v1/auth/me', token);
      expect(me.status).toBe(200);
      const traceparent = me.headers.get('traceparent');
      expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      const traceId = traceparent!.split('-')[1];

      // Shutdown flushes what is batched.
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
      const traces = received.filter((r) => r.method === 'POST' && r.url === '/v1/traces');
      expect(traces.length).toBeGreaterThan(0);
      expect(traces.every((t) => t.bytes > 0)).toBe(true);
      expect(received.some((r) => r.method === 'POST' && r.url === '/v1/metrics')).toBe(true);
      // The request's log line carries its trace id.
      const lines = server.lines.map((l) => JSON.parse(l) as { trace_id?: string; req?: { url: string } });
      expect(lines.some((l) => l.req?.url === '/api/v1/auth/me' && l.trace_id === traceId)).toBe(true);
    } finally {
      await new Promise((resolve) => collector.close(resolve));
    }
  }, 60_000);
});
