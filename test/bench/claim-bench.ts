/**
 * `npm run bench`: is the write path at the floor (issue 14)? Prints each figure with its target
 * and a met / NOT met verdict, then all the targets together.
 *
 * Parts, run in this order (`--only=claim,scale` or BENCH_PARTS=...; default all):
 * - claim: WORKERS workers (one agent each, keep-alive) drain a backlog through claim +
 *   complete at max_tasks 1 and 10, through the REST API, the floor on our `tasks` table and
 *   the minimal floor (bench-servers.ts).
 * - submit: WORKERS clients POST tasks, through the same three.
 * - scale: the claim drain through one REST instance, then through two on the same database.
 * - foreign: one agent's sequential claims with a plain backlog, then behind a million ready
 *   tasks that no agent can claim. Last, because those rows would slow every later part.
 *
 * Every server runs in its own child process. PostgreSQL: BENCH_DATABASE_URL or DATABASE_URL (a
 * fresh database is created there and dropped afterwards), else an embedded one. Sizes:
 * BENCH_TASKS (2500 per drain), BENCH_WORKERS (32), BENCH_SUBMIT_TASKS (3000), BENCH_FOREIGN_ROWS
 * (1000000). BENCH_CPU_PROF=<dir> writes a CPU profile of each server there.
 */
import { Client } from 'pg';
import { ADMIN_PASSWORD, type FloorName,MINIMAL_TASKS_DDL, POOL_SIZE, startBenchServer } from './bench-servers';
import { type ChildServer, envInt, type Figure,figureLine, ms, postExpecting, ratio, request, stopServer, withDatabase } from './bench-support';
import { drain, type Endpoint, printRun, printRunHeader, type RunResult, sequentialClaims, submit, type Worker,workersOn } from './workloads';

const TASKS = envInt('BENCH_TASKS', 2500);
const WORKERS = envInt('BENCH_WORKERS', 32);
const SUBMIT_TASKS = envInt('BENCH_SUBMIT_TASKS', 3000);
const FOREIGN_ROWS = envInt('BENCH_FOREIGN_ROWS', 1_000_000);
const FOREIGN_BASELINE = 10_000; // (a)'s claimable backlog
const FOREIGN_CLAIMABLE = 1_000; // (b)'s claimable tasks; both (a) and (b) measure this many claims
const WARMUP_TASKS = 500;
const WARMUP_CLAIMS = 100;
const SUBMIT_TYPE = 'bench-submit';

const PARTS = ['claim', 'submit', 'scale', 'foreign'] as const;
type Part = (typeof PARTS)[number];

interface Bench {
  sql: Client;
  databaseUrl: string;
  rest: ChildServer;
  floor: ChildServer;
  adminAuth: string;
  agentAuth: string;
  /** One registered agent (capability `bench`) per worker. */
  agentIds: string[];
}

type Table = 'tasks' | 'bench_minimal_tasks';

/** A write path under test and the table its backlog goes into. */
interface WritePath {
  name: string;
  endpoint: Endpoint;
  table: Table;
}

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

function selectedParts(): Part[] {
  const raw = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? process.env.BENCH_PARTS;
  if (!raw) return [...PARTS];
  const wanted = raw.split(',').map((p) => p.trim());
  const unknown = wanted.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length) throw new Error(`unknown bench part(s) ${unknown.join(', ')}; the parts are ${PARTS.join(', ')}`);
  return PARTS.filter((p) => wanted.includes(p));
}

const restApi = (server: ChildServer, auth: string): Endpoint => ({ base: `${server.baseUrl}/api/v1`, auth });
const floorApi = (b: Bench, floor: FloorName): Endpoint => ({ base: `${b.floor.baseUrl}/${floor}` });

function writePaths(b: Bench): WritePath[] {
  return [
    { name: 'REST', endpoint: restApi(b.rest, b.agentAuth), table: 'tasks' },
    { name: 'floor on our schema', endpoint: floorApi(b, 'schema'), table: 'tasks' },
    { name: 'minimal floor', endpoint: floorApi(b, 'minimal'), table: 'bench_minimal_tasks' },
  ];
}

/** The admin's token, one API key of the agent role, and one agent per worker. */
async function enrol(rest: ChildServer): Promise<Pick<Bench, 'adminAuth' | 'agentAuth' | 'agentIds'>> {
  const api = `${rest.baseUrl}/api/v1`;
  const login = await postExpecting(200, `${api}/auth/login`, { username: 'admin', password: ADMIN_PASSWORD });
  const adminAuth = `Bearer ${String(login.access_token)}`;
  const key = await postExpecting(201, `${api}/api-keys`, { name: 'bench', roles: ['agent'] }, adminAuth);
  const agentAuth = `Bearer ${String(key.key)}`;
  const agentIds: string[] = [];
  for (let i = 0; i < WORKERS; i++) {
    const agent = await postExpecting(201, `${api}/agents/register`, { name: `bench-${i}`, type: 'worker', capabilities: ['bench'], max_parallel_tasks: 100 }, agentAuth);
    agentIds.push(String(agent.id));
  }
  return { adminAuth, agentAuth, agentIds };
}

/**
 * `n` ready tasks in the project's table requiring `capability`, created 1 µs apart (a stable
 * claim order) starting `agoSec` before now. Only the columns without defaults are set, so
 * columns added later take their defaults.
 */
async function insertReadyTasks(sql: Client, n: number, capability = 'bench', agoSec = 0): Promise<void> {
  await sql.query(
    `INSERT INTO tasks (type, status, priority, payload, required_capabilities, max_attempts, retry_count, timeout_sec, created_by, created_at)
     SELECT $2::text, 'ready', 2, jsonb_build_object('n', g), ARRAY[$2::text], 4, 3, 3600, 'bench',
            now() - make_interval(secs => $3) + g * interval '1 microsecond'
       FROM generate_series(1, $1::int) AS g`,
    [n, capability, agoSec],
  );
  await sql.query('VACUUM ANALYZE tasks');
}

async function insertBacklog(sql: Client, table: Table, n: number): Promise<void> {
  if (table === 'tasks') return insertReadyTasks(sql, n);
  await sql.query(
    `INSERT INTO bench_minimal_tasks (type, status, priority, payload, created_at)
     SELECT 'bench', 'ready', 2, jsonb_build_object('n', g), now() + g * interval '1 microsecond'
       FROM generate_series(1, $1::int) AS g`,
    [n],
  );
  await sql.query('VACUUM ANALYZE bench_minimal_tasks');
}

async function drainBacklog(b: Bench, label: string, table: Table, workers: Worker[], batch: number, n: number): Promise<RunResult> {
  await insertBacklog(b.sql, table, n);
  return drain(label, workers, batch, n);
}

const perSec = (v: number): string => `${v.toFixed(0)}/s`;
const atLeast = (limit: number) => ({ bound: 'at least', limit }) as const;
const atMost = (limit: number) => ({ bound: 'at most', limit }) as const;

function heading(text: string): void {
  console.log(`\n== ${text} ==`);
}

function printFigures(figures: Figure[]): void {
  const width = Math.max(...figures.map((f) => f.name.length));
  for (const f of figures) console.log(figureLine(f, width));
}

// ---------------------------------------------------------------------------------------------
// Parts
// ---------------------------------------------------------------------------------------------

async function claimPart(b: Bench): Promise<Figure[]> {
  heading(`claim: ${WORKERS} workers drain ${TASKS} tasks per run (claim + complete)`);
  const all = writePaths(b);
  for (const t of all) await drainBacklog(b, `warm-up ${t.name}`, t.table, workersOn([t.endpoint], b.agentIds), 1, WARMUP_TASKS);
  printRunHeader('claim');
  const figures: Figure[] = [];
  for (const batch of [1, 10]) {
    const [rest, schema, minimal] = await inTurn(all, async (t) =>
      printRun(await drainBacklog(b, `${t.name}, max_tasks=${batch}`, t.table, workersOn([t.endpoint], b.agentIds), batch, TASKS)),
    );
    figures.push(
      { name: `REST / minimal floor, max_tasks=${batch}`, value: rest.tasksPerSec / minimal.tasksPerSec, format: ratio, target: atLeast(0.5) },
      { name: `REST / floor on our schema, max_tasks=${batch}`, value: rest.tasksPerSec / schema.tasksPerSec, format: ratio },
      { name: `floor on our schema / minimal floor, max_tasks=${batch}`, value: schema.tasksPerSec / minimal.tasksPerSec, format: ratio },
      { name: `REST claim p99 at ${WORKERS} workers, max_tasks=${batch}`, value: rest.p99, format: ms, target: atMost(50) },
    );
  }
  return figures;
}

async function submitPart(b: Bench): Promise<Figure[]> {
  heading(`submit: ${WORKERS} clients POST ${SUBMIT_TASKS} tasks per run (one row each)`);
  const all = writePaths(b);
  const clients = (t: WritePath) => Array.from({ length: WORKERS }, () => t.endpoint);
  for (const t of all) await submit(`warm-up ${t.name}`, clients(t), SUBMIT_TYPE, WARMUP_TASKS);
  printRunHeader('POST');
  const [rest, schema, minimal] = await inTurn(all, async (t) => printRun(await submit(t.name, clients(t), SUBMIT_TYPE, SUBMIT_TASKS)));
  // No agent has `bench-submit`: left ready, these would sit ahead of later backlogs in the claim order.
  await b.sql.query('DELETE FROM tasks WHERE type = $1', [SUBMIT_TYPE]);
  await b.sql.query('DELETE FROM bench_minimal_tasks WHERE type = $1', [SUBMIT_TYPE]);
  await b.sql.query('VACUUM ANALYZE tasks, bench_minimal_tasks');
  return [
    { name: 'REST submit throughput', value: rest.tasksPerSec, format: perSec, target: atLeast(1000) },
    { name: 'REST / minimal floor, submit', value: rest.tasksPerSec / minimal.tasksPerSec, format: ratio },
    { name: 'REST / floor on our schema, submit', value: rest.tasksPerSec / schema.tasksPerSec, format: ratio },
  ];
}

async function scalePart(b: Bench): Promise<Figure[]> {
  const batch = 10;
  heading(`scale: ${WORKERS} workers drain ${TASKS} tasks at max_tasks=${batch} through one REST instance, then two`);
  // Started once the first is up, so only the first created the admin.
  const second = await startBenchServer('rest', b.databaseUrl);
  try {
    const one = workersOn([restApi(b.rest, b.agentAuth)], b.agentIds);
    const two = workersOn([restApi(b.rest, b.agentAuth), restApi(second, b.agentAuth)], b.agentIds);
    await drainBacklog(b, 'warm-up both instances', 'tasks', two, batch, WARMUP_TASKS);
    printRunHeader('claim');
    const single = printRun(await drainBacklog(b, 'one REST instance', 'tasks', one, batch, TASKS));
    const pair = printRun(await drainBacklog(b, 'two REST instances', 'tasks', two, batch, TASKS));
    return [{ name: 'two instances / one instance', value: pair.tasksPerSec / single.tasksPerSec, format: ratio, target: atLeast(1.0) }];
  } finally {
    await stopServer(second);
  }
}

async function foreignPart(b: Bench): Promise<Figure[]> {
  heading(`foreign backlog: one agent claims and completes ${FOREIGN_CLAIMABLE} tasks, one at a time, through REST`);
  const [worker] = workersOn([restApi(b.rest, b.agentAuth)], b.agentIds.slice(0, 1));
  await insertReadyTasks(b.sql, WARMUP_CLAIMS + FOREIGN_BASELINE);
  await sequentialClaims('warm-up', worker, WARMUP_CLAIMS);
  const plain = await sequentialClaims(`(a) ${FOREIGN_BASELINE} claimable`, worker, FOREIGN_CLAIMABLE);
  await b.sql.query(`DELETE FROM tasks WHERE status = 'ready'`); // what (a) left, so (b) has exactly its own

  // Queued an hour earlier at the same priority: first in the claim order, the worst case.
  process.stdout.write(`inserting ${FOREIGN_ROWS} ready tasks requiring {gpu}, which no agent has... `);
  const started = performance.now();
  await insertReadyTasks(b.sql, FOREIGN_ROWS, 'gpu', 3600);
  process.stdout.write(`ok (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  await insertReadyTasks(b.sql, FOREIGN_CLAIMABLE);
  const behind = await sequentialClaims(`(b) ${FOREIGN_CLAIMABLE} claimable + ${FOREIGN_ROWS} {gpu}`, worker, FOREIGN_CLAIMABLE);

  printRunHeader('claim');
  printRun(plain);
  printRun(behind);
  return [
    { name: 'foreign backlog: claim p50 (b) / (a)', value: behind.p50 / plain.p50, format: ratio, target: atMost(1.3) },
    { name: 'foreign backlog: claim p99 (b) / (a)', value: behind.p99 / plain.p99, format: ratio },
  ];
}

const RUN_PART: Record<Part, (b: Bench) => Promise<Figure[]>> = {
  claim: claimPart,
  submit: submitPart,
  scale: scalePart,
  foreign: foreignPart,
};

/** `run` for each item, one after another (runs must not overlap: they share the machine). */
async function inTurn<T, R>(items: T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await run(item));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const parts = selectedParts();
  await withDatabase(async (databaseUrl) => {
    const rest = await startBenchServer('rest', databaseUrl); // migrates the fresh database, creates the admin
    const floor = await startBenchServer('floor', databaseUrl);
    const sql = new Client({ connectionString: databaseUrl });
    await sql.connect();
    try {
      await sql.query(MINIMAL_TASKS_DDL);
      const b: Bench = { sql, databaseUrl, rest, floor, ...(await enrol(rest)) };
      const version = await sql.query<{ server_version: string }>('SHOW server_version');
      console.log(`parts: ${parts.join(', ')}; ${WORKERS} workers; pool ${POOL_SIZE} per server; PostgreSQL ${version.rows[0].server_version}`);

      const figures: Figure[] = [];
      for (const part of parts) {
        const partFigures = await RUN_PART[part](b);
        console.log('');
        printFigures(partFigures);
        figures.push(...partFigures);
      }

      heading('issue 14 targets');
      printFigures(figures.filter((f) => f.target));
      const verify = await request('GET', `${rest.baseUrl}/api/v1/audit-events/verify`, undefined, b.adminAuth);
      console.log(`\naudit chain after the run: ${JSON.stringify(verify.body)}`);
    } finally {
      await sql.end();
      await stopServer(rest);
      await stopServer(floor);
    }
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
