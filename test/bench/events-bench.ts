/**
 * `npm run bench:events`: how long an event takes from its transaction to a dashboard, with many
 * dashboards connected.
 *
 * The real server runs in a child process. 500 Socket.IO clients (BENCH_SOCKETS) connect and
 * subscribe to `tasks`; 8 workers then submit, claim and complete tasks for BENCH_SECONDS (each
 * task makes three task_update events). Every client records, for every event, the time it
 * arrived minus the event's `timestamp` (taken in the server inside the transaction, just
 * before commit), and the script prints p50/p99/max of that commit-to-client latency.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { createServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { loadConfig } from '../../apps/server/src/config/app-config';
import { percentile, withDatabase } from './bench-support';

const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const WORKERS = 8;
const ADMIN_PASSWORD = 'bench-admin-password';

async function serve(databaseUrl: string): Promise<number> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    ADMIN_PASSWORD,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_MIN: '10000000',
    RATE_LIMIT_AGENT_PER_MIN: '10000000',
    SOCKET_MAX_BUFFERED_EVENTS: '100000',
  });
  const server = await createServerApp(config, createLogger('silent'));
  await server.app.listen(0, '127.0.0.1');
  process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
  return (server.app.getHttpServer().address() as AddressInfo).port;
}

if (process.argv.includes('--serve')) {
  serve(process.env.BENCH_CHILD_DATABASE_URL as string)
    .then((port) => process.send?.({ port }))
    .catch((err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

function startServer(databaseUrl: string): Promise<{ child: ChildProcess; baseUrl: string }> {
  const child = fork(__filename, ['--serve'], { env: { ...process.env, BENCH_CHILD_DATABASE_URL: databaseUrl } });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve({ child, baseUrl: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)));
  });
}

async function call(baseUrl: string, method: string, path: string, body: unknown, auth?: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function main(): Promise<void> {
  await withDatabase(async (databaseUrl) => {
    const { child, baseUrl } = await startServer(databaseUrl);
    const sockets: Socket[] = [];
    try {
      const login = await call(baseUrl, 'POST', '/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
      const admin = `Bearer ${login.access_token as string}`;
      const key = await call(baseUrl, 'POST', '/api-keys', { name: 'bench', roles: ['agent'] }, admin);
      const agentAuth = `Bearer ${key.key as string}`;
      const agents = await Promise.all(
        Array.from({ length: WORKERS }, (_, i) =>
          call(baseUrl, 'POST', '/agents/register', { name: `bench-${i}`, type: 'worker', capabilities: ['bench'], max_parallel_tasks: 10 }, agentAuth),
        ),
      );

      const latencies: number[] = [];
      let received = 0;
      process.stdout.write(`connecting ${SOCKETS} sockets... `);
      for (let i = 0; i < SOCKETS; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, SOCKETS - i) }, async () => {
            const socket = io(baseUrl, { auth: { token: login.access_token }, transports: ['websocket'], reconnection: false, forceNew: true });
            sockets.push(socket);
            await new Promise<void>((resolve, reject) => {
              socket.once('connect', () => resolve());
              socket.once('connect_error', reject);
            });
            await socket.timeout(10_000).emitWithAck('subscribe', { channel: 'tasks' });
            socket.on('task_update', (e: { timestamp: string }) => {
              received++;
              latencies.push(Date.now() - Date.parse(e.timestamp));
            });
          }),
        );
      }
      process.stdout.write('ok\n');

      let tasks = 0;
      const stopAt = Date.now() + SECONDS * 1000;
      await Promise.all(
        agents.map(async (agent) => {
          while (Date.now() < stopAt) {
            await call(baseUrl, 'POST', '/tasks', { type: 'bench' }, admin);
            const claimed = (await call(baseUrl, 'POST', '/tasks/claim', { agent_id: agent.id, max_tasks: 1 }, agentAuth)).tasks as {
              id: string;
              attempt: number;
            }[];
            for (const t of claimed) {
              await call(baseUrl, 'POST', `/tasks/${t.id}/complete`, { agent_id: agent.id, attempt: t.attempt, result: {} }, agentAuth);
              tasks++;
            }
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 2000)); // let the last events arrive
      latencies.sort((a, b) => a - b);
      const expected = tasks * 3 * SOCKETS;
      const lines = [
        `sockets connected          ${SOCKETS}`,
        `tasks through the system   ${tasks} in ${SECONDS} s (${(tasks / SECONDS).toFixed(1)}/s, 3 task_update each)`,
        `events delivered           ${received} (${expected ? ((received / expected) * 100).toFixed(1) : '0'} % of ${expected} expected)`,
        `commit-to-client latency   p50 ${percentile(latencies, 50)} ms   p99 ${percentile(latencies, 99)} ms   max ${latencies[latencies.length - 1] ?? NaN} ms`,
      ];
      process.stdout.write(`\n${lines.join('\n')}\n`);
    } finally {
      for (const s of sockets) s.close();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
  });
}
