/**
 * `npm run bench`: how fast the real REST API drains a backlog, against a floor.
 *
 * Drains a backlog through POST /tasks/claim + POST /tasks/{id}/complete with 32 concurrent
 * workers (one agent each, keep-alive HTTP) at max_tasks 1 and 10, then drains the same-sized
 * backlog through a minimal node:http + pg server doing the same claim statement (MATERIALIZED
 * CTE, FOR UPDATE SKIP LOCKED, attempt + 1, lease from the database clock) and the same fenced
 * complete, with and without a hash-chained audit row per change. Prints tasks/s, claim p50/p99
 * and REST/floor ratios.
 *
 * Each server runs in its own child process (so the load generator does not share its event
 * loop). PostgreSQL: BENCH_DATABASE_URL or DATABASE_URL (a fresh database is created on that
 * server and dropped afterwards), else an embedded PostgreSQL in a temporary directory.
 * BENCH_TASKS (default 2500) sets the backlog per run; BENCH_WORKERS (default 32) the workers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Pool, type PoolClient } from 'pg';
import { percentile, withDatabase } from './bench-support';
import { canonicalRow } from '../../apps/server/src/audit/audit-chain';
import { createServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { loadConfig } from '../../apps/server/src/config/app-config';

const TASKS = Number(process.env.BENCH_TASKS ?? 2500);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 32);
const WARMUP_TASKS = 500;
const POOL_SIZE = 20; // the server's DB_POOL_SIZE default; the floor gets the same
const ADMIN_PASSWORD = 'bench-admin-password';
const LEASE_SEC = 300;

// ---------------------------------------------------------------------------------------------
// Child processes: the real server, or the floor.
// ---------------------------------------------------------------------------------------------

async function serveRest(databaseUrl: string): Promise<number> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    ADMIN_USERNAME: 'admin',
    ADMIN_PASSWORD,
    LOG_LEVEL: 'silent',
    DB_POOL_SIZE: String(POOL_SIZE),
    RATE_LIMIT_PER_MIN: '10000000',
    RATE_LIMIT_AGENT_PER_MIN: '10000000',
    TASK_LEASE_SEC: String(LEASE_SEC),
    AGENT_OFFLINE_AFTER_SEC: '3600',
  });
  const server = await createServerApp(config, createLogger('silent'));
  await server.app.listen(0, '127.0.0.1');
  return (server.app.getHttpServer().address() as AddressInfo).port;
}

const FLOOR_CLAIM = `WITH c AS MATERIALIZED (
    SELECT id, file_dependencies FROM tasks
     WHERE status = 'ready' AND required_capabilities <@ $2::text[] AND NOT (id = ANY($5::uuid[]))
     ORDER BY priority, created_at, id
     LIMIT $3
     FOR UPDATE SKIP LOCKED
  )
  UPDATE tasks t
     SET status = 'running', attempt = t.attempt + 1, assigned_agent = $1, progress = 0,
         lease_expires_at = clock_timestamp() + make_interval(secs => $4),
         started_at = clock_timestamp(), updated_at = clock_timestamp(), next_attempt_at = NULL
    FROM c WHERE t.id = c.id AND c.file_dependencies = '[]'::jsonb
  RETURNING t.*`;

const FLOOR_COMPLETE = `UPDATE tasks SET status = 'completed', progress = 1, result = $4::jsonb, ra_history = NULL, execution_time = NULL,
         completed_at = clock_timestamp(), updated_at = clock_timestamp(), lease_expires_at = NULL, error = NULL
   WHERE id = $1 AND assigned_agent = $2 AND attempt = $3 AND status = 'running'
     AND lease_expires_at > clock_timestamp()
     AND started_at + make_interval(secs => timeout_sec) > clock_timestamp()
  RETURNING *`;

/** The audit trail's chained append (same statement shape as AuditRepository.append). */
const FLOOR_AUDIT = `WITH RECURSIVE head AS (
    SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE
  ), input AS (
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[], $13::text[])
             WITH ORDINALITY AS x(id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                                  outcome, ip, user_agent, request_id, details, canonical, ord)
  ), chain AS (
    SELECT i.ord, h.last_seq + 1 AS seq, h.last_hash AS prev_hash,
           encode(sha256(convert_to(h.last_hash || '|' || (h.last_seq + 1)::text || '|' || i.canonical, 'UTF8')), 'hex') AS hash
      FROM head h JOIN input i ON i.ord = 1
    UNION ALL
    SELECT i.ord, c.seq + 1, c.hash,
           encode(sha256(convert_to(c.hash || '|' || (c.seq + 1)::text || '|' || i.canonical, 'UTF8')), 'hex')
      FROM chain c JOIN input i ON i.ord = c.ord + 1
  ), ins AS (
    INSERT INTO audit_events (seq, id, occurred_at, actor_type, actor_id, action, resource_type, resource_id,
                              outcome, ip, user_agent, request_id, details, prev_hash, hash)
    SELECT c.seq, i.id, i.occurred_at, i.actor_type, i.actor_id, i.action, i.resource_type, i.resource_id,
           i.outcome, i.ip, i.user_agent, i.request_id, i.details, c.prev_hash, c.hash
      FROM chain c JOIN input i ON i.ord = c.ord
    RETURNING seq, hash
  ), tip AS (
    SELECT seq, hash FROM ins ORDER BY seq DESC LIMIT 1
  )
  UPDATE audit_chain_head h SET last_seq = tip.seq, last_hash = tip.hash FROM tip WHERE h.id = 1`;

async function floorAudit(client: PoolClient, agentId: string, action: string, items: { id: string; details: Record<string, unknown> }[]): Promise<void> {
  const occurredAt = new Date().toISOString();
  const rows = items.map((item) => {
    const fields = {
      id: randomUUID(),
      occurredAt,
      actorType: 'agent',
      actorId: agentId,
      action,
      resourceType: 'task',
      resourceId: item.id,
      outcome: 'success',
      ip: '127.0.0.1',
      userAgent: null,
      requestId: randomUUID(),
      details: item.details,
    };
    return { fields, canonical: canonicalRow(fields) };
  });
  const col = (k: keyof (typeof rows)[number]['fields']) => rows.map((r) => r.fields[k]);
  await client.query(FLOOR_AUDIT, [
    col('id'),
    col('occurredAt'),
    col('actorType'),
    col('actorId'),
    col('action'),
    col('resourceType'),
    col('resourceId'),
    col('outcome'),
    col('ip'),
    col('userAgent'),
    col('requestId'),
    rows.map((r) => JSON.stringify(r.fields.details)),
    rows.map((r) => r.canonical),
  ]);
}

/**
 * The floor: no framework, no auth, no validation, no agent checks; one pooled connection per
 * request; the claim and the complete as single statements (in a transaction with the audit row
 * when the path starts with /audit).
 */
async function serveFloor(databaseUrl: string): Promise<number> {
  const pool = new Pool({ connectionString: databaseUrl, max: POOL_SIZE });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const body = JSON.parse(raw || '{}') as { agent_id: string; max_tasks?: number; attempt?: number };
    const audited = req.url?.startsWith('/audit/') ?? false;
    const path = audited ? (req.url ?? '').slice('/audit'.length) : (req.url ?? '');
    const client = await pool.connect();
    try {
      if (audited) await client.query('BEGIN');
      let status = 200;
      let out: unknown;
      if (path === '/tasks/claim') {
        const claimed = await client.query(FLOOR_CLAIM, [body.agent_id, ['bench'], body.max_tasks ?? 1, LEASE_SEC, []]);
        if (audited && claimed.rows.length) {
          const tasks = claimed.rows as { id: string; attempt: number }[];
          await floorAudit(client, body.agent_id, 'task.claim', tasks.map((t) => ({ id: t.id, details: { attempt: t.attempt } })));
        }
        out = { tasks: claimed.rows };
      } else {
        const id = /^\/tasks\/([0-9a-f-]{36})\/complete$/.exec(path)?.[1];
        const done = await client.query(FLOOR_COMPLETE, [id, body.agent_id, body.attempt, JSON.stringify({ ok: true })]);
        if (!done.rows.length) status = 409;
        else if (audited) await floorAudit(client, body.agent_id, 'task.complete', [{ id: id as string, details: { attempt: body.attempt } }]);
        out = done.rows[0] ?? { code: 'stale_attempt' };
      }
      if (audited) await client.query('COMMIT');
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    } catch (err) {
      if (audited) await client.query('ROLLBACK').catch(() => undefined);
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ message: (err as Error).message }));
    } finally {
      client.release();
    }
  };
  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

// ---------------------------------------------------------------------------------------------
// The parent: database, backlog, workers, table.
// ---------------------------------------------------------------------------------------------

function startChild(mode: 'rest' | 'floor', databaseUrl: string): Promise<{ child: ChildProcess; baseUrl: string }> {
  const child = fork(__filename, [`--serve=${mode}`], {
    env: { ...process.env, BENCH_CHILD_DATABASE_URL: databaseUrl },
    execArgv: process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve({ child, baseUrl: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (code) => reject(new Error(`the ${mode} server exited (${code}) before listening`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  // SIGINT lets --cpu-prof write its profile (the child handles it by exiting cleanly).
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
}

async function post(baseUrl: string, path: string, body: unknown, auth?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function insertBacklog(sql: Client, n: number): Promise<void> {
  await sql.query(
    `INSERT INTO tasks (type, status, priority, payload, required_capabilities, max_attempts, retry_count, timeout_sec, created_by, created_at)
     SELECT 'bench', 'ready', 2, jsonb_build_object('n', g), ARRAY['bench'], 4, 3, 3600, 'bench',
            now() + g * interval '1 microsecond'
       FROM generate_series(1, $1::int) AS g`,
    [n],
  );
  await sql.query('VACUUM ANALYZE tasks');
}

interface RunResult {
  label: string;
  tasks: number;
  seconds: number;
  tasksPerSec: number;
  claims: number;
  p50: number;
  p99: number;
  errors: number;
}


/** Drains the backlog: each worker claims (max_tasks = batch) and completes what it got, until a claim comes back empty. */
async function drain(
  label: string,
  baseUrl: string,
  prefix: string,
  workers: { agentId: string; auth?: string }[],
  batch: number,
  expected: number,
): Promise<RunResult> {
  const latencies: number[] = [];
  let completed = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    workers.map(async (w) => {
      for (;;) {
        const t0 = performance.now();
        const claim = await post(baseUrl, `${prefix}/tasks/claim`, { agent_id: w.agentId, max_tasks: batch }, w.auth);
        latencies.push(performance.now() - t0);
        if (claim.status !== 200) {
          errors++;
          if (errors > 100) throw new Error(`${label}: claim ${claim.status} ${JSON.stringify(claim.body)}`);
          continue;
        }
        const tasks = claim.body.tasks as { id: string; attempt: number }[];
        if (!tasks.length) return;
        for (const t of tasks) {
          const done = await post(baseUrl, `${prefix}/tasks/${t.id}/complete`, { agent_id: w.agentId, attempt: t.attempt, result: { ok: true } }, w.auth);
          if (done.status === 200) completed++;
          else errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (completed !== expected) throw new Error(`${label}: completed ${completed} of ${expected} tasks (${errors} errors)`);
  latencies.sort((a, b) => a - b);
  return {
    label,
    tasks: completed,
    seconds,
    tasksPerSec: completed / seconds,
    claims: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
  };
}


function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
}

async function main(): Promise<void> {
  await withDatabase(async (databaseUrl) => {
    const rest = await startChild('rest', databaseUrl); // migrates the fresh database on boot
    const floor = await startChild('floor', databaseUrl);
    const sql = new Client({ connectionString: databaseUrl });
    await sql.connect();
    try {
      // One API key of the agent role; one agent per worker (so workers do not queue on one agent's row).
      const login = await post(rest.baseUrl, '/api/v1/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
      const adminAuth = `Bearer ${String(login.body.access_token)}`;
      const key = await post(rest.baseUrl, '/api/v1/api-keys', { name: 'bench', roles: ['agent'] }, adminAuth);
      const agentAuth = `Bearer ${String(key.body.key)}`;
      const workers: { agentId: string; auth: string }[] = [];
      for (let i = 0; i < WORKERS; i++) {
        const agent = await post(rest.baseUrl, '/api/v1/agents/register', { name: `bench-${i}`, type: 'worker', capabilities: ['bench'], max_parallel_tasks: 100 }, agentAuth);
        if (agent.status !== 201) throw new Error(`register: ${agent.status} ${JSON.stringify(agent.body)}`);
        workers.push({ agentId: String(agent.body.id), auth: agentAuth });
      }
      const floorWorkers = workers.map((w) => ({ agentId: w.agentId }));

      const results: RunResult[] = [];
      const run = async (label: string, target: 'rest' | 'floor' | 'floor+audit', batch: number, n = TASKS, keep = true) => {
        await insertBacklog(sql, n);
        const r =
          target === 'rest'
            ? await drain(label, rest.baseUrl, '/api/v1', workers, batch, n)
            : await drain(label, floor.baseUrl, target === 'floor' ? '' : '/audit', floorWorkers, batch, n);
        if (keep) {
          results.push(r);
          console.log(`  ${label}: ${r.tasksPerSec.toFixed(0)} tasks/s`);
        }
        return r;
      };

      console.log(`backlog ${TASKS} tasks per run, ${WORKERS} workers, pool ${POOL_SIZE}, warming up...`);
      await run('warmup rest', 'rest', 1, WARMUP_TASKS, false);
      await run('warmup floor', 'floor', 1, WARMUP_TASKS, false);
      await run('warmup floor+audit', 'floor+audit', 1, WARMUP_TASKS, false);

      const byBatch: Record<number, { rest: RunResult; floor: RunResult; audited: RunResult }> = {};
      for (const batch of [1, 10]) {
        byBatch[batch] = {
          rest: await run(`REST            max_tasks=${batch}`, 'rest', batch),
          floor: await run(`floor           max_tasks=${batch}`, 'floor', batch),
          audited: await run(`floor + audit   max_tasks=${batch}`, 'floor+audit', batch),
        };
      }

      const widths = [28, 7, 8, 10, 9, 11, 11];
      console.log('');
      console.log(row(['run', 'tasks', 'seconds', 'tasks/s', 'claims', 'claim p50', 'claim p99'], widths));
      for (const r of results) {
        console.log(row([r.label, r.tasks, r.seconds.toFixed(1), r.tasksPerSec.toFixed(0), r.claims, `${r.p50.toFixed(1)} ms`, `${r.p99.toFixed(1)} ms`], widths));
      }
      console.log('');
      for (const batch of [1, 10]) {
        const { rest: r, floor: f, audited: a } = byBatch[batch];
        const target = batch === 1 ? 0.8 : 0.6;
        const ratio = r.tasksPerSec / f.tasksPerSec;
        console.log(
          `max_tasks=${String(batch).padEnd(3)} REST/floor = ${ratio.toFixed(2)} (target >= ${target}: ${ratio >= target ? 'met' : 'NOT met'}), ` +
            `REST/(floor + audit) = ${(r.tasksPerSec / a.tasksPerSec).toFixed(2)}`,
        );
      }
      const verify = await fetch(`${rest.baseUrl}/api/v1/audit-events/verify`, { headers: { authorization: adminAuth } });
      console.log(`audit chain after the run: ${JSON.stringify(await verify.json())}`);
    } finally {
      await sql.end();
      await stopChild(rest.child);
      await stopChild(floor.child);
    }
  });
}

const serveMode = process.argv.find((a) => a.startsWith('--serve='))?.slice('--serve='.length);
if (serveMode) {
  const databaseUrl = process.env.BENCH_CHILD_DATABASE_URL as string;
  process.on('SIGINT', () => process.exit(0));
  (serveMode === 'rest' ? serveRest(databaseUrl) : serveFloor(databaseUrl))
    .then((port) => process.send?.({ port }))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
