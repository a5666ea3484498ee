/**
 * The servers the claim benchmark measures, each started in its own child process by
 * `startBenchServer`: the real server (`rest`), or the floors (`floor`), a bare node:http + pg
 * server with no framework, auth, validation, audit or events, one pooled statement per request.
 *
 * The floor serves two tables under /{floor}/tasks, /{floor}/tasks/claim and
 * /{floor}/tasks/{id}/complete:
 * - `minimal`: its own table (`bench_minimal_tasks`, MINIMAL_TASKS_DDL) with the columns a queue
 *   needs and one partial index, the cheapest correct write path;
 * - `schema`: the project's `tasks` table with all its columns and indexes, the same statements
 *   the server's claim and complete run; the gap between the two is the cost of the schema.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'pg';
import { createServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { loadConfig } from '../../apps/server/src/config/app-config';
import { type ChildServer,forkServer } from './bench-support';

export const ADMIN_PASSWORD = 'bench-admin-password';
export const POOL_SIZE = 20; // the server's DB_POOL_SIZE default; the floor gets the same
const LEASE_SEC = 300;
const PRIORITY = { high: 1, medium: 2, low: 3 } as const;

export type BenchServerMode = 'rest' | 'floor';
export type FloorName = 'minimal' | 'schema';

/** The minimal floor's table; created by the parent, which owns the bench database. */
export const MINIMAL_TASKS_DDL = `
  CREATE TABLE bench_minimal_tasks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    type text NOT NULL,
    status text NOT NULL,
    priority smallint NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}',
    result jsonb,
    attempt int NOT NULL DEFAULT 0,
    assigned_agent uuid,
    lease_expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX bench_minimal_tasks_claimable ON bench_minimal_tasks (priority, created_at, id) WHERE status = 'ready'`;

export function startBenchServer(mode: BenchServerMode, databaseUrl: string): Promise<ChildServer> {
  return forkServer(__filename, [`--serve=${mode}`], { BENCH_CHILD_DATABASE_URL: databaseUrl });
}

// ---------------------------------------------------------------------------------------------
// The real server
// ---------------------------------------------------------------------------------------------

async function serveRest(databaseUrl: string): Promise<number> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    ADMIN_USERNAME: 'admin',
    ADMIN_PASSWORD,
    LOG_LEVEL: 'silent',
    DB_POOL_SIZE: String(POOL_SIZE),
    // Benchmarks measure throughput, not limits.
    RATE_LIMIT_PER_MIN: '10000000',
    RATE_LIMIT_AGENT_PER_MIN: '10000000',
    TASK_LEASE_SEC: String(LEASE_SEC),
    AGENT_OFFLINE_AFTER_SEC: '3600',
  });
  const server = await createServerApp(config, createLogger('silent'));
  await server.app.listen(0, '127.0.0.1');
  process.once('SIGINT', () => void server.close().finally(() => process.exit(0)));
  return (server.app.getHttpServer().address() as AddressInfo).port;
}

// ---------------------------------------------------------------------------------------------
// The floors
// ---------------------------------------------------------------------------------------------

interface FloorBody {
  agent_id: string;
  max_tasks?: number;
  attempt?: number;
  type?: string;
  payload?: unknown;
  priority?: keyof typeof PRIORITY;
}

/** One write path: each operation is one statement (autocommit), params in the order given. */
interface Floor {
  submit: { sql: string; params: (b: FloorBody) => unknown[] };
  claim: { sql: string; params: (b: FloorBody) => unknown[] };
  complete: { sql: string; params: (b: FloorBody, id: string) => unknown[] };
}

const RESULT = JSON.stringify({ ok: true });

const FLOORS: Record<FloorName, Floor> = {
  minimal: {
    submit: {
      sql: `INSERT INTO bench_minimal_tasks (type, status, priority, payload) VALUES ($1, 'ready', $2, $3::jsonb) RETURNING *`,
      params: (b) => [b.type, PRIORITY[b.priority ?? 'medium'], JSON.stringify(b.payload ?? {})],
    },
    // MATERIALIZED: the LIMIT applies once, so a claim never takes more than max_tasks rows.
    claim: {
      sql: `WITH c AS MATERIALIZED (
              SELECT id FROM bench_minimal_tasks WHERE status = 'ready'
               ORDER BY priority, created_at, id
               LIMIT $2
               FOR UPDATE SKIP LOCKED
            )
            UPDATE bench_minimal_tasks t
               SET status = 'running', attempt = t.attempt + 1, assigned_agent = $1,
                   lease_expires_at = clock_timestamp() + make_interval(secs => $3), updated_at = clock_timestamp()
              FROM c WHERE t.id = c.id
            RETURNING t.*`,
      params: (b) => [b.agent_id, b.max_tasks ?? 1, LEASE_SEC],
    },
    // The attempt fence: a holder whose lease lapsed cannot complete its successor's attempt.
    complete: {
      sql: `UPDATE bench_minimal_tasks
               SET status = 'completed', result = $4::jsonb, lease_expires_at = NULL, updated_at = clock_timestamp()
             WHERE id = $1 AND assigned_agent = $2 AND attempt = $3 AND status = 'running'
               AND lease_expires_at > clock_timestamp()
            RETURNING *`,
      params: (b, id) => [id, b.agent_id, b.attempt, RESULT],
    },
  },
  // TasksRepository's insert, claimRound (one queue: every bench task needs {bench}) and complete
  // (FENCE), without the service around them.
  // Copies, not imports: when claimRound changes (a new claim index, say), change this with it,
  // or this floor measures a statement the schema no longer serves.
  schema: {
    submit: {
      sql: `INSERT INTO tasks (type, status, priority, payload, required_capabilities, max_attempts, retry_count, timeout_sec, created_by)
            VALUES ($1, 'ready', $2, $3::jsonb, ARRAY[$1], 4, 3, 300, 'bench') RETURNING *`,
      params: (b) => [b.type, PRIORITY[b.priority ?? 'medium'], JSON.stringify(b.payload ?? {})],
    },
    claim: {
      sql: `WITH c AS MATERIALIZED (
              SELECT id, file_dependencies FROM tasks
               WHERE status = 'ready' AND task_queue_key(required_capabilities) COLLATE "C" = task_queue_key($2::text[])
                 AND NOT (id = ANY($5::uuid[]))
               ORDER BY priority, created_at, id
               LIMIT $3
               FOR UPDATE SKIP LOCKED
            )
            UPDATE tasks t
               SET status = 'running', attempt = t.attempt + 1, assigned_agent = $1, progress = 0,
                   lease_expires_at = clock_timestamp() + make_interval(secs => $4),
                   started_at = clock_timestamp(), updated_at = clock_timestamp(), next_attempt_at = NULL
              FROM c WHERE t.id = c.id AND c.file_dependencies = '[]'::jsonb
            RETURNING t.*`,
      params: (b) => [b.agent_id, ['bench'], b.max_tasks ?? 1, LEASE_SEC, []],
    },
    complete: {
      sql: `UPDATE tasks
               SET status = 'completed', progress = 1, result = $4::jsonb, ra_history = NULL, execution_time = NULL,
                   completed_at = clock_timestamp(), updated_at = clock_timestamp(), lease_expires_at = NULL, error = NULL
             WHERE id = $1 AND assigned_agent = $2 AND attempt = $3 AND status = 'running'
               AND lease_expires_at > clock_timestamp()
               AND started_at + make_interval(secs => timeout_sec) > clock_timestamp()
            RETURNING *`,
      params: (b, id) => [id, b.agent_id, b.attempt, RESULT],
    },
  },
};

const ROUTE = /^\/(minimal|schema)\/tasks(?:\/(claim)|\/([0-9a-f-]{36})\/complete)?$/;

async function readJson(req: IncomingMessage): Promise<FloorBody> {
  let raw = '';
  for await (const chunk of req) raw += String(chunk);
  return JSON.parse(raw || '{}') as FloorBody;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function handleFloor(pool: Pool, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const route = ROUTE.exec(req.url ?? '');
    if (!route || req.method !== 'POST') return send(res, 404, { code: 'not_found' });
    const floor = FLOORS[route[1] as FloorName];
    const [, , claim, id] = route;
    const body = await readJson(req);
    if (claim) {
      const claimed = await pool.query(floor.claim.sql, floor.claim.params(body));
      return send(res, 200, { tasks: claimed.rows });
    }
    if (id) {
      const done = await pool.query(floor.complete.sql, floor.complete.params(body, id));
      return done.rows.length ? send(res, 200, done.rows[0]) : send(res, 409, { code: 'stale_attempt' });
    }
    const created = await pool.query(floor.submit.sql, floor.submit.params(body));
    return send(res, 201, created.rows[0]);
  } catch (err) {
    send(res, 500, { message: (err as Error).message });
  }
}

async function serveFloor(databaseUrl: string): Promise<number> {
  const pool = new Pool({ connectionString: databaseUrl, max: POOL_SIZE });
  const server = createServer((req, res) => void handleFloor(pool, req, res));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.once('SIGINT', () => void pool.end().finally(() => process.exit(0)));
  return (server.address() as AddressInfo).port;
}

// ---------------------------------------------------------------------------------------------
// Child entry
// ---------------------------------------------------------------------------------------------

if (require.main === module) {
  const mode = process.argv.find((a) => a.startsWith('--serve='))?.slice('--serve='.length);
  const databaseUrl = process.env.BENCH_CHILD_DATABASE_URL as string;
  const serve = mode === 'rest' ? serveRest : mode === 'floor' ? serveFloor : undefined;
  if (!serve) throw new Error(`unknown --serve=${String(mode)}`);
  serve(databaseUrl)
    .then((port) => process.send?.({ port }))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
