import { createApiKey, loginAdmin, uniqueName } from '../harness/factories';
import { checkTaskHistory, type ClaimedTask,TaskHistory } from '../harness/history';
import { prng } from '../harness/prng';
import { createTestApp, type TestApp } from '../harness/test-app';

// Jepsen-shaped: many HTTP claim loops over a few agents drain a backlog while some loops die
// holding tasks and others sleep past their lease; afterwards the recorded history and the
// database must agree that every task was completed exactly once, by its final attempt.

const TASKS = 2000;
const AGENTS = 4;
const LOOPS = 36; // 9 per agent; 4 of them are killed mid-task, so at least 32 run throughout
const KILLED = new Set([3, 12, 21, 30]);
const SLEEPERS = new Set([5, 14, 23, 32]); // once each, sleep past the lease before completing
const LEASE_SEC = 2;
const RUN_LIMIT_MS = 120_000;
const SEED = Number(process.env.TASK_TEST_SEED ?? Date.now() % 1_000_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('task engine under concurrency (e2e)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp({
      env: {
        TASK_LEASE_SEC: String(LEASE_SEC),
        SWEEP_INTERVAL_MS: '200',
        RETRY_BASE_DELAY_MS: '50',
        RETRY_MAX_DELAY_MS: '200',
        // No heartbeats here (a heartbeat extends every lease the agent holds, which would keep a
        // killed loop's tasks alive); the agents must not go offline during the run instead.
        AGENT_OFFLINE_AFTER_SEC: '3600',
        RATE_LIMIT_PER_MIN: '10000000',
        DB_POOL_SIZE: '20',
      },
    });
  });
  afterAll(() => app.close());

  it(`${TASKS} tasks, ${LOOPS} claim loops on ${AGENTS} agents, loops killed and stalled: every task completed exactly once (seed ${SEED})`, async () => {
    const random = prng(SEED);
    const admin = await loginAdmin(app);

    /** JSON over the app's real HTTP port, on keep-alive connections. */
    const call = async (method: string, path: string, auth: { Authorization: string }, body?: unknown) => {
      const res = await fetch(`${app.baseUrl}/api/v1${path}`, {
        method,
        headers: { ...auth, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> & { tasks?: ClaimedTask[] } };
    };

    const agents: { auth: { Authorization: string }; id: string }[] = [];
    for (let a = 0; a < AGENTS; a++) {
      const key = await createApiKey(app, admin, ['agent']);
      const res = await call('POST', '/agents/register', key.auth, { name: uniqueName('jepsen'), type: 'worker', capabilities: ['jepsen'], max_parallel_tasks: 16 });
      expect(res.status).toBe(201);
      agents.push({ auth: key.auth, id: res.body.id as string });
    }

    const started = performance.now();
    const history = new TaskHistory();
    const unexpected: string[] = [];
    const killedHeld: { loop: string; task: ClaimedTask }[] = [];
    let claims = 0;
    let done = false;

    // Submit the backlog through the API, 16 at a time, while the loops already claim.
    let created = 0;
    let creationDone = false;
    const creator = (async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < TASKS) {
            const n = next++;
            const res = await call('POST', '/tasks', admin.auth, { type: 'jepsen', payload: { n }, retry_count: 20 });
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
      const maxTasks = 1 + (index % 5);
      // A killed loop dies on one of its first claims that got something, holding what it got.
      let killAfter = KILLED.has(index) ? 2 + Math.floor(random() * 10) : Infinity;
      let sleepOnce = SLEEPERS.has(index);
      while (!done) {
        const invoke = history.now();
        const res = await call('POST', '/tasks/claim', agent.auth, { agent_id: agent.id, max_tasks: maxTasks, wait_seconds: 1 });
        if (res.status !== 200) {
          history.claimFailed(name, invoke, res.status);
          unexpected.push(`claim ${res.status} ${JSON.stringify(res.body)}`);
          await sleep(50);
          continue;
        }
        const tasks = res.body.tasks ?? [];
        history.claim(name, invoke, tasks);
        if (!tasks.length) continue;
        claims++;
        if (--killAfter <= 0) {
          // Killed mid-task: complete none of what it holds, and never run again.
          for (const t of tasks) killedHeld.push({ loop: name, task: { id: t.id, attempt: t.attempt } });
          return;
        }
        if (sleepOnce) {
          // Stalled past the lease: every report below must be refused, and others finish the tasks.
          sleepOnce = false;
          await sleep(LEASE_SEC * 1000 + 500);
        }
        for (const t of tasks) {
          const task = { id: t.id, attempt: t.attempt };
          if (random() < 0.2) {
            const at = history.now();
            const p = await call('POST', `/tasks/${t.id}/progress`, agent.auth, { agent_id: agent.id, attempt: t.attempt, progress: 0.5 });
            if (history.report('progress', name, at, task, p.status) === 'error') unexpected.push(`progress ${p.status}`);
          }
          if (random() < 0.1) await sleep(random() * 20);
          const at = history.now();
          const c = await call('POST', `/tasks/${t.id}/complete`, agent.auth, { agent_id: agent.id, attempt: t.attempt, result: { by: name } });
          const outcome = history.report('complete', name, at, task, c.status);
          if (outcome === 'error') unexpected.push(`complete ${c.status} ${JSON.stringify(c.body)}`);
          if (outcome === 'rejected' && c.body.code !== 'stale_attempt') unexpected.push(`complete 409 ${String(c.body.code)}`);
        }
      }
    };

    // Stop the loops once everything is completed (or at the time limit).
    const monitor = (async () => {
      while (!done) {
        await sleep(300);
        const [{ n }] = await app.sql<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE type = 'jepsen' AND status = 'completed'`);
        if ((creationDone && n >= TASKS) || performance.now() - started > RUN_LIMIT_MS) done = true;
      }
    })();

    await Promise.all([creator, monitor, ...Array.from({ length: LOOPS }, (_, i) => loop(i))]);
    const seconds = (performance.now() - started) / 1000;

    const finalTasks = await app.sql<{ id: string; status: string; attempt: number }>(
      `SELECT id, status, attempt FROM tasks WHERE type = 'jepsen'`,
    );
    const report = checkTaskHistory(history, finalTasks);
    const rejected = history.count('complete', 'rejected');
    console.log(
      `tasks-concurrency: ${finalTasks.length} tasks, ${LOOPS} loops (${KILLED.size} killed holding ${killedHeld.length} tasks), ` +
        `${claims} claims, ${history.count('complete', 'accepted')} completions accepted, ${rejected} 409s, ` +
        `${history.count('progress', 'accepted')} progress, ${seconds.toFixed(1)} s, seed ${SEED}`,
    );

    expect(unexpected).toEqual([]);
    expect(created).toBe(TASKS);
    expect(finalTasks).toHaveLength(TASKS);
    expect(finalTasks.filter((t) => t.status !== 'completed')).toEqual([]);
    expect(report.lost).toEqual([]);
    expect(report.duplicateAcceptedCompletions).toEqual([]);
    expect(report.staleAccepted).toEqual([]);
    expect(report.duplicateClaims).toEqual([]);
    expect(report.concurrentHolds).toEqual([]);
    expect(report.unclaimedAccepted).toEqual([]);

    // The faults happened, and were survived: killed loops' tasks came back through the lapsed
    // lease (a later attempt) and were completed by other loops; stalled reports were refused.
    expect(killedHeld.length).toBeGreaterThanOrEqual(KILLED.size);
    const finalById = new Map(finalTasks.map((t) => [t.id, t]));
    for (const { loop, task } of killedHeld) {
      expect(finalById.get(task.id)?.attempt).toBeGreaterThan(task.attempt);
      const completedBy = history.ops.find((o) => o.kind === 'complete' && o.task === task.id && o.outcome === 'accepted');
      expect(completedBy?.loop).not.toBe(loop);
    }
    expect(rejected).toBeGreaterThanOrEqual(SLEEPERS.size);

    const verify = await call('GET', '/audit-events/verify', admin.auth);
    expect(verify.status).toBe(200);
    expect(verify.body.valid).toBe(true);
  }, 180_000);
});
