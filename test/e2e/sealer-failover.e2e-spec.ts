import { Pool } from 'pg';
import request from 'supertest';
import { buildServer, type ServerProcess,startServerProcess } from '../harness/built-server';
import { createApiKey, loginAdmin, type Session,uniqueName } from '../harness/factories';
import { ADMIN_PASSWORD, type TestApp } from '../harness/test-app';
import { cloneTemplateDatabase, dropDatabase } from '../harness/test-database';

// Two built server processes on one database, 16 worker loops on each, 2,000 tasks; the
// instance that seals audit rows and events is killed with SIGKILL mid-load. The other takes the
// sealer's lock over: nothing is sealed twice or left behind, the event stream stays gapless and
// causal, and every task completes exactly once.

const TASKS = 2000;
const LOOPS_PER_INSTANCE = 16;
const AGENTS = 8;
const KILL_AFTER_COMPLETIONS = 600;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Auth = { Authorization: string };
type Body = Record<string, unknown>;
interface Reply {
  status: number;
  body: Body;
}

describe('sealer failover (e2e)', () => {
  let db: { url: string; name: string };
  let sql: Pool;
  const servers: ServerProcess[] = [];
  const dead = new Set<number>();
  let admin: Session;

  /** JSON over HTTP to instance `via`, or to the live one when `via` was killed (as a load balancer would). */
  const call = async (via: number, method: string, path: string, auth: Auth, body?: unknown, headers: Record<string, string> = {}): Promise<Reply | 'unreachable'> => {
    const target = dead.has(via) ? servers.findIndex((_, i) => !dead.has(i)) : via;
    try {
      const res = await fetch(`${servers[target].baseUrl}/api/v1${path}`, {
        method,
        headers: { ...auth, ...headers, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as Body };
    } catch {
      return 'unreachable';
    }
  };
  const asTestApp = (s: ServerProcess): TestApp => ({ baseUrl: s.baseUrl, http: request(s.baseUrl) }) as unknown as TestApp;

  const isLeader = async (s: ServerProcess): Promise<boolean> => {
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
    return /^agentmanager_sealer_leader 1$/m.test(text);
  };

  beforeAll(async () => {
    buildServer();
    db = await cloneTemplateDatabase();
    sql = new Pool({ connectionString: db.url, max: 2 });
    const env = {
      DATABASE_URL: db.url,
      ADMIN_USERNAME: 'admin',
      ADMIN_PASSWORD,
      LOG_LEVEL: 'warn',
      DB_POOL_SIZE: '12',
      TASK_LEASE_SEC: '5',
      RETRY_BASE_DELAY_MS: '50',
      RETRY_MAX_DELAY_MS: '200',
      SWEEP_INTERVAL_MS: '200',
      AGENT_OFFLINE_AFTER_SEC: '3600',
      RATE_LIMIT_PER_MIN: '10000000',
      RATE_LIMIT_AGENT_PER_MIN: '10000000',
    };
    servers.push(await startServerProcess(env));
    servers.push(await startServerProcess(env));
    admin = await loginAdmin(asTestApp(servers[0]));
  }, 300_000);

  afterAll(async () => {
    for (const [i, s] of servers.entries()) if (!dead.has(i)) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await sql?.end();
    if (db) await dropDatabase(db.name);
  });

  it(`${TASKS} tasks over 2 instances × ${LOOPS_PER_INSTANCE} loops, the sealer's instance killed: audit and events sealed once each, gapless and causal`, async () => {
    const agents: { auth: Auth; id: string }[] = [];
    for (let a = 0; a < AGENTS; a++) {
      const key = await createApiKey(asTestApp(servers[a % 2]), admin, ['agent']);
      const res = await call(a % 2, 'POST', '/agents/register', key.auth, { name: uniqueName('sealer'), type: 'worker', capabilities: ['seal'], max_parallel_tasks: 64 });
      if (res === 'unreachable' || res.status !== 201) throw new Error(`register: ${JSON.stringify(res)}`);
      agents.push({ auth: key.auth, id: res.body.id as string });
    }
    const leaders = await Promise.all(servers.map(isLeader));
    expect(leaders.filter(Boolean)).toHaveLength(1);
    const victim = leaders.indexOf(true);

    const unexpected: string[] = [];
    let created = 0;
    let completed = 0;
    let killedAt = 0;
    let done = false;

    const creator = (async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async (_, c) => {
          while (next < TASKS) {
            const n = next++;
            // A create cut off by the kill is retried on the other instance; its key makes it happen once.
            for (;;) {
              const res = await call(c % 2, 'POST', '/tasks', admin.auth, { type: 'seal', payload: { n }, required_capabilities: ['seal'] }, { 'Idempotency-Key': `${db.name}-${n}` });
              if (res === 'unreachable') continue;
              if (res.status === 201) created++;
              else unexpected.push(`create ${res.status} ${JSON.stringify(res.body)}`);
              break;
            }
          }
        }),
      );
    })();

    const loop = async (instance: number, index: number) => {
      const agent = agents[index % AGENTS];
      while (!done) {
        // A claim cut off by the kill may have committed: its tasks come back when their lease lapses.
        const claim = await call(instance, 'POST', '/tasks/claim', agent.auth, { agent_id: agent.id, max_tasks: 4, wait_seconds: 1 });
        if (claim === 'unreachable') continue;
        if (claim.status !== 200) {
          unexpected.push(`claim ${claim.status} ${JSON.stringify(claim.body)}`);
          await sleep(50);
          continue;
        }
        for (const t of claim.body.tasks as { id: string; attempt: number }[]) {
          let cutOff = false;
          for (;;) {
            const res = await call(instance, 'POST', `/tasks/${t.id}/complete`, agent.auth, { agent_id: agent.id, attempt: t.attempt, result: { ok: true } });
            if (res === 'unreachable') {
              cutOff = true;
              continue;
            }
            if (res.status === 200) completed++;
            // After a cut-off request the first try may have committed: then the retry is refused.
            else if (!(cutOff && res.status === 409)) unexpected.push(`complete ${res.status} ${JSON.stringify(res.body)}`);
            break;
          }
          if (!killedAt && completed >= KILL_AFTER_COMPLETIONS) {
            killedAt = Date.now();
            dead.add(victim);
            servers[victim].child.kill('SIGKILL');
          }
        }
      }
    };

    const started = Date.now();
    const monitor = (async () => {
      while (!done) {
        await sleep(250);
        const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE type = 'seal' AND status = 'completed'`);
        if (rows[0].n >= TASKS || Date.now() - started > 180_000) done = true;
      }
    })();
    await Promise.all([creator, monitor, ...servers.flatMap((_, s) => Array.from({ length: LOOPS_PER_INSTANCE }, (__, i) => loop(s, i)))]);
    const drained = Date.now();

    expect(killedAt).toBeGreaterThan(0);
    expect(unexpected).toEqual([]);
    expect(created).toBe(TASKS);
    const survivor = servers[1 - victim];
    expect(await isLeader(survivor)).toBe(true);

    // Within 5 s of the end, everything committed is sealed and the chain verifies.
    let verify: Body = {};
    for (;;) {
      const res = await call(1 - victim, 'GET', '/audit-events/verify', admin.auth);
      if (res !== 'unreachable') verify = res.body;
      if ((verify.valid === true && verify.unsealed === 0) || Date.now() - drained > 5000) break;
      await sleep(100);
    }
    expect(verify).toEqual(expect.objectContaining({ valid: true, unsealed: 0, first_invalid_seq: null }));
    expect(Date.now() - drained).toBeLessThan(5000);

    // Every task completed exactly once, by the database and by the audit trail.
    const { rows: finalTasks } = await sql.query<{ id: string; status: string }>(`SELECT id, status FROM tasks WHERE type = 'seal'`);
    expect(finalTasks).toHaveLength(TASKS);
    expect(finalTasks.filter((t) => t.status !== 'completed')).toEqual([]);
    const { rows: completions } = await sql.query<{ resource_id: string; n: number }>(
      `SELECT resource_id, count(*)::int AS n FROM audit_events WHERE action = 'task.complete' GROUP BY 1`,
    );
    expect(completions).toHaveLength(TASKS);
    expect(completions.filter((c) => c.n !== 1)).toEqual([]);
    const { rows: staged } = await sql.query<{ n: number }>(`SELECT (SELECT count(*) FROM audit_pending) + (SELECT count(*) FROM events_pending) AS n`);
    expect(Number(staged[0].n)).toBe(0);

    // The event stream from seq 1: gapless, and each task's events in causal order.
    const events: { seq: number; type: string; task_id?: string; status?: string }[] = [];
    for (let after = 0; ; ) {
      const page = await call(1 - victim, 'GET', `/events?after=${after}&limit=1000`, admin.auth);
      if (page === 'unreachable' || page.status !== 200) throw new Error(`events: ${JSON.stringify(page)}`);
      const batch = page.body.events as typeof events;
      events.push(...batch);
      if (!page.body.next_cursor) break;
      after = Number(page.body.next_cursor);
    }
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const byTask = new Map<string, string[]>();
    for (const e of events) {
      if (e.type !== 'task_update' || !e.task_id) continue;
      byTask.set(e.task_id, [...(byTask.get(e.task_id) ?? []), e.status as string]);
    }
    const ids = new Set(finalTasks.map((t) => t.id));
    // Created ready; an attempt whose claim was cut off by the kill lapses (retrying, then ready again).
    const causal = /^ready(>running(>retrying)?>ready)*>running>completed$/;
    const outOfOrder = [...byTask].filter(([id, s]) => ids.has(id) && !causal.test(s.join('>')));
    // Each offender with its events as stored: seq, status, commit-statement clock, seal time.
    const detail = await Promise.all(
      outOfOrder.slice(0, 5).map(async ([id]) =>
        (
          await sql.query<{ row: string }>(
            `SELECT concat_ws(' ', seq, payload->>'status', payload->>'attempt', payload->>'timestamp', sealed_at) AS row
               FROM events WHERE payload->>'task_id' = $1 ORDER BY seq`,
            [id],
          )
        ).rows.map((r) => r.row),
      ),
    );
    expect(detail).toEqual([]);
    expect([...ids].filter((id) => !byTask.has(id))).toEqual([]);

    console.log(
      `sealer failover: ${TASKS} tasks, instance ${victim} (the sealer) killed after ${KILL_AFTER_COMPLETIONS} completions, ` +
        `drained ${((drained - started) / 1000).toFixed(1)} s after start, sealed and verified ${Date.now() - drained} ms after the end, ` +
        `${events.length} events gapless`,
    );
  }, 300_000);
});
