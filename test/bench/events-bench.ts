/**
 * `npm run bench:events`: how long an event takes from its commit to a dashboard, with many
 * dashboards connected, against a floor.
 *
 * Ours: the real server in a child process. BENCH_SOCKETS (500) Socket.IO clients subscribe to
 * `tasks`; workers submit, claim and complete BENCH_TASKS_PER_SEC (50) tasks a second on a fixed
 * schedule, three task_update events each (32 workers, so that a slow request does not hold the
 * schedule back).
 * Floor: node:http + pg + Socket.IO in a child process; no Nest, no auth, no rooms. Writers
 * insert a row and NOTIFY in one transaction, as many a second as ours carried events in its turn
 * just before (so both fan out the same load), with a task_update-shaped payload stamped by
 * clock_timestamp() in the statement; one LISTEN connection io.emit()s each notification to
 * every socket.
 * Latency, both: the client's receive time minus the event's `timestamp`, for every event at
 * every socket; split, per event, into commit to the first socket (the path up to the fan-out)
 * and first to last socket (the fan-out). After a warm-up, the two take turns in BENCH_ROUNDS (3) rounds that share
 * BENCH_SECONDS (15) each, so load from anything else on the machine falls on both alike. Ours
 * is also held to seq order: a socket that sees a seq again, or out of order, is counted.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Pool } from 'pg';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { createServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { loadConfig } from '../../apps/server/src/config/app-config';
import { type ChildServer, envInt, type Figure,figureLine, forkServer, percentile, ratio, request, stopServer, withDatabase } from './bench-support';

const SOCKETS = envInt('BENCH_SOCKETS', 500);
const SECONDS = envInt('BENCH_SECONDS', 15);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const TASKS_PER_SEC = envInt('BENCH_TASKS_PER_SEC', 50);
const WARMUP_SECONDS = 3;
const SETTLE_MS = 10_000; // at most, after a turn, for its last events to arrive
const WORKERS = 32;
const EVENTS_PER_TASK = 3;
const ADMIN_PASSWORD = 'bench-admin-password';
const FLOOR = 'bench_floor_events';

// ---------------------------------------------------------------------------------------------
// Child processes: the real server, or the floor.
// ---------------------------------------------------------------------------------------------

async function serveOurs(databaseUrl: string): Promise<number> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    ADMIN_PASSWORD,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_MIN: '10000000',
    RATE_LIMIT_AGENT_PER_MIN: '10000000',
    SOCKET_MAX_BUFFERED_EVENTS: '100000',
    AGENT_OFFLINE_AFTER_SEC: '3600', // the bench's agents do not heartbeat
  });
  const server = await createServerApp(config, createLogger('silent'));
  await server.app.listen(0, '127.0.0.1');
  process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
  return (server.app.getHttpServer().address() as AddressInfo).port;
}

/** The floor: each notification to every socket, parsed once and encoded once. */
async function serveFloor(databaseUrl: string): Promise<number> {
  const listener = new Client({ connectionString: databaseUrl });
  await listener.connect();
  const http = createServer();
  const ioServer = new Server(http, { serveClient: false });
  // The dashboards are the same clients for both servers, so the floor acks `subscribe` too.
  ioServer.on('connection', (socket) => socket.on('subscribe', (_body: unknown, ack: (r: { ok: true }) => void) => ack({ ok: true })));
  listener.on('notification', (n) => ioServer.emit('task_update', JSON.parse(n.payload ?? '{}')));
  await listener.query(`LISTEN ${FLOOR}`);
  process.on('SIGINT', () => void ioServer.close(() => void listener.end().then(() => process.exit(0))));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return (http.address() as AddressInfo).port;
}

const serveMode = process.argv.find((a) => a.startsWith('--serve='))?.slice('--serve='.length);
if (serveMode) {
  const databaseUrl = process.env.BENCH_CHILD_DATABASE_URL as string;
  (serveMode === 'ours' ? serveOurs(databaseUrl) : serveFloor(databaseUrl))
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

// ---------------------------------------------------------------------------------------------
// The parent: dashboards, load, figures.
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the dashboards saw since they were last asked. */
interface Seen {
  latencies: number[];
  /** Per event (by seq): its latency at the first socket, and when the first and the last socket had it. */
  arrivals: Map<number, { latency: number; first: number; last: number }>;
  /** Events whose seq was not above the last one their socket saw: repeated, or out of order. */
  disordered: number;
}

const nothingSeen = (): Seen => ({ latencies: [], arrivals: new Map(), disordered: 0 });

/**
 * BENCH_SOCKETS clients subscribed to `tasks`, recording the latency of every task_update and,
 * when the server promises seq order (ours; the floor's seq is taken before commit), breaches of it.
 */
class Dashboards {
  private readonly sockets: Socket[] = [];
  private seen = nothingSeen();

  private constructor(private readonly seqOrdered: boolean) {}

  static async connect(baseUrl: string, token: string | undefined, seqOrdered: boolean): Promise<Dashboards> {
    const dashboards = new Dashboards(seqOrdered);
    for (let i = 0; i < SOCKETS; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, SOCKETS - i) }, () => dashboards.add(baseUrl, token)));
    }
    return dashboards;
  }

  private async add(baseUrl: string, token: string | undefined): Promise<void> {
    const socket = io(baseUrl, { auth: token ? { token } : {}, transports: ['websocket'], reconnection: false, forceNew: true });
    this.sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const ack = (await socket.timeout(10_000).emitWithAck('subscribe', { channel: 'tasks' })) as { ok: boolean };
    if (!ack.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);
    let lastSeq = 0;
    socket.on('task_update', (e: { timestamp: string; seq: number }) => {
      const now = Date.now();
      const latency = now - Date.parse(e.timestamp);
      this.seen.latencies.push(latency);
      if (this.seqOrdered && e.seq <= lastSeq) {
        this.seen.disordered++;
        return; // a repeat is not a later arrival of the same event
      }
      lastSeq = e.seq;
      const arrival = this.seen.arrivals.get(e.seq);
      if (arrival) arrival.last = now;
      else this.seen.arrivals.set(e.seq, { latency, first: now, last: now });
    });
  }

  get received(): number {
    return this.seen.latencies.length;
  }

  take(): Seen {
    const taken = this.seen;
    this.seen = nothingSeen();
    return taken;
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }
}

interface Load {
  steps: number;
  /** Over how long they started: `seconds` when the lanes kept to the schedule, longer when they fell behind. */
  seconds: number;
}

/** Starts `step` `perSec` times a second on a fixed schedule, over `lanes` concurrent loops, for `seconds`. */
async function paced(perSec: number, seconds: number, lanes: number, step: (lane: number) => Promise<void>): Promise<Load> {
  const start = performance.now();
  let steps = 0;
  let lastStart = start;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (;;) {
        const at = start + (steps * 1000) / perSec;
        if (at >= start + seconds * 1000) return;
        steps++;
        if (at > performance.now()) await sleep(at - performance.now());
        lastStart = Math.max(lastStart, performance.now());
        await step(lane);
      }
    }),
  );
  return { steps, seconds: (lastStart - start) / 1000 + 1 / perSec };
}

/** A server under test: its dashboards, and a load that makes events (`perSec` steps a second) for `seconds`. */
interface Target {
  title: string;
  dashboards: Dashboards;
  load: (perSec: number, seconds: number) => Promise<Load>;
  eventsPerStep: number;
  stop: () => Promise<void>;
}

interface Tally {
  events: number;
  seconds: number;
  seen: Seen[];
}

const emptyTally = (): Tally => ({ events: 0, seconds: 0, seen: [] });

/**
 * One turn: load for `seconds`, then wait for its last events (a turn starts with none in
 * flight). Returns the events a second it carried.
 */
async function turn(target: Target, perSec: number, seconds: number, tally: Tally): Promise<number> {
  const { dashboards } = target;
  dashboards.take();
  const load = await target.load(perSec, seconds);
  const events = load.steps * target.eventsPerStep;
  tally.events += events;
  tally.seconds += load.seconds;
  for (const settleBy = Date.now() + SETTLE_MS; dashboards.received < events * SOCKETS && Date.now() < settleBy; ) await sleep(50);
  await sleep(200); // a moment more, so that repeats past the count are seen
  tally.seen.push(dashboards.take());
  return events / load.seconds;
}

async function call(baseUrl: string, method: 'GET' | 'POST', path: string, body: unknown, auth?: string): Promise<Record<string, unknown>> {
  const res = await request(method, `${baseUrl}/api/v1${path}`, body, auth);
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** The real server: tasks submitted, claimed and completed over REST; each makes three task_updates. */
async function startOurs(databaseUrl: string): Promise<Target> {
  const server = await forkServer(__filename, ['--serve=ours'], { BENCH_CHILD_DATABASE_URL: databaseUrl });
  return stoppingOnFailure(server, () => prepareOurs(server));
}

async function prepareOurs(server: ChildServer): Promise<Target> {
  const { baseUrl } = server;
  const login = await call(baseUrl, 'POST', '/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
  const admin = `Bearer ${login.access_token as string}`;
  const key = await call(baseUrl, 'POST', '/api-keys', { name: 'bench', roles: ['agent'] }, admin);
  const agentAuth = `Bearer ${key.key as string}`;
  const agents = await Promise.all(
    Array.from({ length: WORKERS }, (_, i) =>
      call(baseUrl, 'POST', '/agents/register', { name: `bench-${i}`, type: 'worker', capabilities: [`bench-${i}`], max_parallel_tasks: 10 }, agentAuth),
    ),
  );
  // Each lane's tasks need its own agent's capability, so each lane claims the task it made.
  const task = async (lane: number) => {
    const agentId = agents[lane].id as string;
    const created = await call(baseUrl, 'POST', '/tasks', { type: 'bench', required_capabilities: [`bench-${lane}`] }, admin);
    const claimed = await call(baseUrl, 'POST', '/tasks/claim', { agent_id: agentId, max_tasks: 1 }, agentAuth);
    const [t] = claimed.tasks as { id: string; attempt: number }[];
    if (t?.id !== created.id) throw new Error(`lane ${lane} claimed ${JSON.stringify(claimed.tasks)}, not its task ${String(created.id)}`);
    await call(baseUrl, 'POST', `/tasks/${t.id}/complete`, { agent_id: agentId, attempt: t.attempt, result: {} }, agentAuth);
  };
  const dashboards = await Dashboards.connect(baseUrl, login.access_token as string, true);
  return {
    title: 'ours  (the server: REST writes, outbox relay, gateway rooms)',
    dashboards,
    load: (perSec, seconds) => paced(perSec, seconds, WORKERS, task),
    eventsPerStep: EVENTS_PER_TASK,
    stop: () => stopServer(server),
  };
}

/** A task_update-shaped payload, stamped in the statement, inserted and notified in one transaction. */
const FLOOR_WRITE = `BEGIN;
  WITH e AS (
    INSERT INTO ${FLOOR} (payload)
    SELECT jsonb_build_object('type', 'task_update', 'task_id', gen_random_uuid(), 'status', 'running', 'progress', 0,
             'attempt', 1, 'assigned_agent', gen_random_uuid(), 'pipeline_id', NULL, 'run_id', NULL, 'workflow_id', NULL,
             'timestamp', clock_timestamp())
    RETURNING seq, payload
  )
  SELECT pg_notify('${FLOOR}', (payload || jsonb_build_object('seq', seq))::text) FROM e;
  COMMIT`;

/** The floor: one event per write. */
async function startFloor(databaseUrl: string): Promise<Target> {
  const setup = new Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(`CREATE TABLE ${FLOOR} (seq bigserial PRIMARY KEY, payload jsonb NOT NULL)`);
  await setup.end();
  const server = await forkServer(__filename, ['--serve=floor'], { BENCH_CHILD_DATABASE_URL: databaseUrl });
  return stoppingOnFailure(server, async () => {
    const dashboards = await Dashboards.connect(server.baseUrl, undefined, false);
    const writers = new Pool({ connectionString: databaseUrl, max: WORKERS });
    const write = async () => void (await writers.query(FLOOR_WRITE));
    return {
      title: 'floor (node:http + pg: INSERT + NOTIFY, LISTEN, io.emit)',
      dashboards,
      load: (perSec, seconds) => paced(perSec, seconds, WORKERS, write),
      eventsPerStep: 1,
      stop: async () => {
        await writers.end();
        await stopServer(server);
      },
    };
  });
}

/** A server whose setup fails is stopped before the error goes on. */
async function stoppingOnFailure(server: ChildServer, prepare: () => Promise<Target>): Promise<Target> {
  try {
    return await prepare();
  } catch (err) {
    await stopServer(server);
    throw err;
  }
}

interface Spread {
  p50: number;
  p99: number;
  max: number;
}

function spread(samples: number[]): Spread {
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples[samples.length - 1] ?? NaN };
}

const spreadText = (s: Spread) => `p50 ${s.p50} ms, p99 ${s.p99} ms, max ${s.max} ms`;

interface Result {
  eventsPerSec: number;
  delivered: number;
  expected: number;
  disordered: number;
  /** Commit to every dashboard: the figure held to the targets. */
  latency: Spread;
  /** Commit to the first dashboard (the path before the fan-out), and first to last dashboard (the fan-out). */
  firstSocket: Spread;
  fanOut: Spread;
}

function result(tally: Tally): Result {
  const arrivals = tally.seen.flatMap((s) => [...s.arrivals.values()]);
  return {
    eventsPerSec: tally.events / tally.seconds,
    delivered: tally.seen.reduce((n, s) => n + s.latencies.length, 0),
    expected: tally.events * SOCKETS,
    disordered: tally.seen.reduce((n, s) => n + s.disordered, 0),
    latency: spread(tally.seen.flatMap((s) => s.latencies)),
    firstSocket: spread(arrivals.map((a) => a.latency)),
    fanOut: spread(arrivals.map((a) => a.last - a.first)),
  };
}

async function main(): Promise<void> {
  await withDatabase(async (databaseUrl) => {
    console.log(`${SOCKETS} sockets subscribed to tasks; ${TASKS_PER_SEC} tasks/s (${EVENTS_PER_TASK} task_update each, ${TASKS_PER_SEC * EVENTS_PER_TASK} events/s)`);
    console.log(`warm-up ${WARMUP_SECONDS} s each, then ${ROUNDS} alternating rounds sharing ${SECONDS} s each`);
    const targets: Target[] = [];
    try {
      targets.push(await startOurs(databaseUrl)); // migrates the fresh database on boot
      targets.push(await startFloor(databaseUrl));
      // Each round: ours at the target rate, then the floor at the event rate ours carried.
      const round = async (seconds: number, tallies: Tally[]) => {
        const carried = await turn(targets[0], TASKS_PER_SEC, seconds, tallies[0]);
        await turn(targets[1], carried, seconds, tallies[1]);
      };
      await round(WARMUP_SECONDS, [emptyTally(), emptyTally()]);
      const tallies = [emptyTally(), emptyTally()];
      for (let r = 0; r < ROUNDS; r++) await round(SECONDS / ROUNDS, tallies);
      const [ours, floor] = tallies.map(result);
      console.log('');
      for (const [i, r] of [ours, floor].entries()) {
        console.log(
          `${targets[i].title}\n` +
            `  ${r.eventsPerSec.toFixed(1)} events/s, delivered ${r.delivered} of ${r.expected} (${((r.delivered / r.expected) * 100).toFixed(1)} %)\n` +
            `  commit-to-client          ${spreadText(r.latency)}\n` +
            `    commit to first socket  ${spreadText(r.firstSocket)}\n` +
            `    first to last socket    ${spreadText(r.fanOut)}`,
        );
      }
      const figures: Figure[] = [
        { name: 'ours: tasks/s carried', value: ours.eventsPerSec / EVENTS_PER_TASK, format: (v) => v.toFixed(1), target: { bound: 'at least', limit: 50 } },
        { name: 'ours: events delivered %', value: (ours.delivered / ours.expected) * 100, format: (v) => v.toFixed(1), target: { bound: 'at least', limit: 100 } },
        { name: 'ours: repeated/out of order', value: ours.disordered, format: String, target: { bound: 'at most', limit: 0 } },
        { name: 'ours: p99 commit-to-client', value: ours.latency.p99, format: (v) => `${v} ms`, target: { bound: 'at most', limit: 35 } },
        { name: 'ours p99 / floor p99', value: ours.latency.p99 / floor.latency.p99, format: ratio, target: { bound: 'at most', limit: 1.5 } },
      ];
      console.log('');
      for (const f of figures) console.log(figureLine(f, 28));
    } finally {
      for (const target of targets) {
        target.dashboards.close();
        await target.stop();
      }
    }
  });
}
