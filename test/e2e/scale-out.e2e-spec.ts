import { Pool } from 'pg';
import request from 'supertest';
import { fromKey, pathsOverlap } from '../../apps/server/src/common/lock-path';
import { type LockAccess,locksConflict } from '../../apps/server/src/file-locks/lock-compatibility';
import { buildServer, type ServerProcess,startServerProcess } from '../harness/built-server';
import { createApiKey, loginAdmin, type Session,uniqueName } from '../harness/factories';
import { checkTaskHistory, type ClaimedTask,findOverlaps, TaskHistory, timestampMicros } from '../harness/history';
import { prng } from '../harness/prng';
import { ADMIN_PASSWORD, type TestApp } from '../harness/test-app';
import { cloneTemplateDatabase, dropDatabase } from '../harness/test-database';

// Two built server processes on one database, every client alternating between them call by
// call: claims, file locks and the sweepers (running on both) must keep the same invariants as
// on one instance — nothing lost, accepted twice or held twice, each lapse handled once.

const TASKS = 600;
const AGENTS = 4;
const LOOPS = 12;
const KILLED = new Set([2, 7]);
const SLEEPERS = new Set([4, 9]);
const LEASE_SEC = 2;
const LOCKERS = 12;
const LOCK_RUN_MS = 5000;
const SEED = Number(process.env.SCALE_TEST_SEED ?? Date.now() % 1_000_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Auth = { Authorization: string };
type Body = Record<string, unknown> & { tasks?: ClaimedTask[] };

describe('two server processes on one database (e2e)', () => {
  let db: { url: string; name: string };
  let sql: Pool;
  const servers: ServerProcess[] = [];
  let admin: Session;
  const random = prng(SEED);
  let turn = 0;

  /** JSON over HTTP to instance A or B, alternating call by call. */
  const call = async (method: string, path: string, auth: Auth, body?: unknown): Promise<{ status: number; body: Body; via: number }> => {
    const via = turn++ % 2;
    const res = await fetch(`${servers[via].baseUrl}/api/v1${path}`, {
      method,
      headers: { ...auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Body, via };
  };
  const asTestApp = (s: ServerProcess): TestApp => ({ baseUrl: s.baseUrl, http: request(s.baseUrl) }) as unknown as TestApp;

  async function registerAgents(n: number, prefix: string): Promise<{ auth: Auth; id: string }[]> {
    const agents: { auth: Auth; id: string }[] = [];
    for (let a = 0; a < n; a++) {
      const key = await createApiKey(asTestApp(servers[a % 2]), admin, ['agent']);
      const res = await call('POST', '/agents/register', key.auth, { name: uniqueName(prefix), type: 'worker', capabilities: ['scale'], max_parallel_tasks: 16 });
      expect(res.status).toBe(201);
      agents.push({ auth: key.auth, id: res.body.id as string });
    }
    return agents;
  }

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
      TASK_LEASE_SEC: String(LEASE_SEC),
      SWEEP_INTERVAL_MS: '200',
      RETRY_BASE_DELAY_MS: '50',
      RETRY_MAX_DELAY_MS: '200',
      AGENT_OFFLINE_AFTER_SEC: '3600',
      RATE_LIMIT_PER_MIN: '10000000',
      RATE_LIMIT_AGENT_PER_MIN: '10000000',
    };
    servers.push(await startServerProcess(env));
    servers.push(await startServerProcess(env));
    admin = await loginAdmin(asTestApp(servers[0]));
  }, 300_000);

  afterAll(async () => {
    for (const s of servers) s.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await sql?.end();
    if (db) await dropDatabase(db.name);
  });

  it(`${TASKS} tasks claimed and reported through alternating instances, loops killed and stalled: each completed exactly once, each lapse swept once (seed ${SEED})`, async () => {
    const agents = await registerAgents(AGENTS, 'scale');
    const history = new TaskHistory();
    const unexpected: string[] = [];
    const killedHeld: { loop: string; task: ClaimedTask }[] = [];
    const served = [0, 0];
    let done = false;

    let created = 0;
    let creationDone = false;
    const creator = (async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < TASKS) {
            const n = next++;
            const res = await call('POST', '/tasks', admin.auth, { type: 'scale', payload: { n }, retry_count: 20 });
            if (res.status === 201) created++;
            else unexpected.push(`create ${res.status} ${JSON.stringify(res.body)}`);
          }
        }),
      );
      creationDone = true;
    })();

    const loop = async (index: number) => {
      const name = `L${index}`;
      const agent = agents[index % AGENTS];
      let killAfter = KILLED.has(index) ? 2 + Math.floor(random() * 6) : Infinity;
      let sleepOnce = SLEEPERS.has(index);
      while (!done) {
        const invoke = history.now();
        const res = await call('POST', '/tasks/claim', agent.auth, { agent_id: agent.id, max_tasks: 1 + (index % 3), wait_seconds: 1 });
        served[res.via]++;
        if (res.status !== 200) {
          history.claimFailed(name, invoke, res.status);
          unexpected.push(`claim ${res.status} ${JSON.stringify(res.body)}`);
          await sleep(50);
          continue;
        }
        const tasks = res.body.tasks ?? [];
        history.claim(name, invoke, tasks);
        if (!tasks.length) continue;
        if (--killAfter <= 0) {
          for (const t of tasks) killedHeld.push({ loop: name, task: { id: t.id, attempt: t.attempt } });
          return;
        }
        if (sleepOnce) {
          sleepOnce = false;
          await sleep(LEASE_SEC * 1000 + 500);
        }
        for (const t of tasks) {
          const task = { id: t.id, attempt: t.attempt };
          const at = history.now();
          const c = await call('POST', `/tasks/${t.id}/complete`, agent.auth, { agent_id: agent.id, attempt: t.attempt, result: { by: name } });
          served[c.via]++;
          const outcome = history.report('complete', name, at, task, c.status);
          if (outcome === 'error') unexpected.push(`complete ${c.status} ${JSON.stringify(c.body)}`);
          if (outcome === 'rejected' && c.body.code !== 'stale_attempt') unexpected.push(`complete 409 ${String(c.body.code)}`);
        }
      }
    };

    const started = performance.now();
    const monitor = (async () => {
      while (!done) {
        await sleep(300);
        const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE type = 'scale' AND status = 'completed'`);
        if ((creationDone && rows[0].n >= TASKS) || performance.now() - started > 120_000) done = true;
      }
    })();
    await Promise.all([creator, monitor, ...Array.from({ length: LOOPS }, (_, i) => loop(i))]);

    const { rows: finalTasks } = await sql.query<{ id: string; status: string; attempt: number }>(`SELECT id, status, attempt FROM tasks WHERE type = 'scale'`);
    const report = checkTaskHistory(history, finalTasks);
    console.log(
      `scale-out: ${finalTasks.length} tasks over 2 instances (calls served ${served[0]}/${served[1]}), ${killedHeld.length} held by killed loops, ` +
        `${history.count('complete', 'accepted')} completions accepted, ${history.count('complete', 'rejected')} refused, ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s, seed ${SEED}`,
    );

    expect(unexpected).toEqual([]);
    expect(created).toBe(TASKS);
    expect(finalTasks.filter((t) => t.status !== 'completed')).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(report.duplicateAcceptedCompletions).toEqual([]);
    expect(report.staleAccepted).toEqual([]);
    expect(report.duplicateClaims).toEqual([]);
    expect(report.concurrentHolds).toEqual([]);
    expect(report.unclaimedAccepted).toEqual([]);
    // Both instances did real work.
    expect(Math.min(...served)).toBeGreaterThan(100);

    // The killed loops' tasks came back through a lapsed lease, swept by whichever instance got
    // the sweep's advisory lock, and were finished elsewhere.
    expect(killedHeld.length).toBeGreaterThanOrEqual(KILLED.size);
    const finalById = new Map(finalTasks.map((t) => [t.id, t]));
    for (const { task } of killedHeld) expect(finalById.get(task.id)?.attempt).toBeGreaterThan(task.attempt);
    // Each lapsed attempt was ended once: two sweepers never both handled it.
    const { rows: lapses } = await sql.query<{ resource_id: string; attempt: string; n: number }>(
      `SELECT resource_id, details->>'attempt' AS attempt, count(*)::int AS n FROM audit_events
        WHERE action = 'task.lease_expired' GROUP BY 1, 2`,
    );
    expect(lapses.length).toBeGreaterThanOrEqual(killedHeld.length);
    expect(lapses.filter((l) => l.n !== 1)).toEqual([]);

    const verify = await call('GET', '/audit-events/verify', admin.auth);
    expect(verify.body.valid).toBe(true);
  }, 240_000);

  it(`file locks taken and released through both instances never overlap incompatibly; fencing tokens grow (seed ${SEED})`, async () => {
    const lockers = await registerAgents(LOCKERS, 'locker');
    const root = uniqueName('scale');
    const paths = [`${root}/`, `${root}/a.ts`, `${root}/b.ts`, `${root}/sub/c.ts`];
    const modes: LockAccess[] = ['read', 'read', 'write', 'exclusive'];
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const granted: string[] = [];
    const counts = { conflicts: 0, released: 0, unexpected: [] as string[] };
    const deadline = Date.now() + LOCK_RUN_MS;

    await Promise.all(
      lockers.map(async (w) => {
        while (Date.now() < deadline) {
          const res = await call('POST', '/locks', w.auth, { path: pick(paths), access: pick(modes), agent_id: w.id, ttl_seconds: 1, wait_seconds: random() < 0.3 ? 1 : 0 });
          if (res.status === 409) {
            counts.conflicts++;
            await sleep(5 + random() * 20);
            continue;
          }
          if (res.status !== 201) {
            counts.unexpected.push(`acquire ${res.status} ${JSON.stringify(res.body)}`);
            continue;
          }
          granted.push(res.body.id as string);
          await sleep(random() * 200);
          // Some are left to lapse: both instances' sweepers race to expire them.
          if (random() < 0.75) {
            const del = await call('DELETE', `/locks/${String(res.body.id)}`, w.auth);
            if (del.status === 204) counts.released++;
            else if (del.status !== 404) counts.unexpected.push(`release ${del.status}`);
          }
        }
      }),
    );

    expect(counts.unexpected).toEqual([]);
    expect(granted.length).toBeGreaterThan(30);
    expect(counts.conflicts).toBeGreaterThan(10);

    const { rows } = await sql.query<{ id: string; path: string; access: LockAccess; token: string; start: string; end: string }>(
      `SELECT id, path, access, fencing_token::text AS token, ${timestampMicros('acquired_at')} AS start,
              ${timestampMicros('LEAST(COALESCE(released_at, expires_at), expires_at)')} AS "end"
         FROM file_locks WHERE path LIKE $1`,
      [`${root}/%`],
    );
    expect(rows.map((r) => r.id).sort()).toEqual([...granted].sort());
    const intervals = rows.map((r) => ({ start: Number(r.start), end: Number(r.end), value: { id: r.id, path: r.path, access: r.access, token: Number(r.token) } }));
    const conflict = (x: { path: string; access: LockAccess }, y: { path: string; access: LockAccess }) =>
      locksConflict({ path: fromKey(x.path), access: x.access }, { path: fromKey(y.path), access: y.access });
    expect(findOverlaps(intervals, conflict).map(([x, y]) => `${JSON.stringify(x)} overlaps ${JSON.stringify(y)}`)).toEqual([]);

    const byStart = [...intervals].sort((x, y) => x.start - y.start);
    const outOfOrder: string[] = [];
    for (let i = 0; i < byStart.length; i++) {
      for (let j = i + 1; j < byStart.length; j++) {
        const [x, y] = [byStart[i].value, byStart[j].value];
        if (pathsOverlap(fromKey(x.path), fromKey(y.path)) && byStart[j].start > byStart[i].start && y.token <= x.token) outOfOrder.push(`${x.id}(${x.token}) then ${y.id}(${y.token})`);
      }
    }
    expect(outOfOrder).toEqual([]);

    // Every grant ends in exactly one audited release or expiry, whichever instance's sweeper saw it.
    await sleep(1500);
    const { rows: expiries } = await sql.query<{ resource_id: string; n: number }>(
      `SELECT resource_id, count(*)::int AS n FROM audit_events WHERE action IN ('lock.expire', 'lock.release') AND resource_id = ANY($1) GROUP BY 1`,
      [granted],
    );
    expect(expiries.filter((e) => e.n !== 1)).toEqual([]);
    expect(expiries.map((e) => e.resource_id).sort()).toEqual([...granted].sort());
  }, 120_000);
});
