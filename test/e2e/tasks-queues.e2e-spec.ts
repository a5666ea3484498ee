import { Client } from 'pg';
import { type AuthHeader, claimTasks, completeTask, createApiKey, createTask, createUser, loginAdmin, registerAgent, type Session,uniqueName } from '../harness/factories';
import { prng } from '../harness/prng';
import { createTestApp, type TestApp } from '../harness/test-app';

// A claim reads only the queues (distinct sets of required capabilities) the agent can serve.
// These tests hold it to the claim's guarantees with a large backlog in front of it that no agent
// can take: the right tasks, in priority order across capability sets, never one twice.

const FOREIGN = 20_000;
const SEED = Number(process.env.QUEUES_TEST_SEED ?? Date.now() % 1_000_000);

describe('claims by capability set behind a foreign backlog (e2e)', () => {
  let app: TestApp;
  let operator: Session;
  let key: AuthHeader;
  const gpu = uniqueName('gpu');

  /** Ready tasks inserted with SQL, as a bulk loader would: no repository, no API. */
  const insertReady = (n: number, capabilities: string[], priority: number, agoSec: number) =>
    app.sql<{ id: string }>(
      `INSERT INTO tasks (type, status, priority, required_capabilities, max_attempts, retry_count, timeout_sec, created_by, created_at)
       SELECT 'bulk', 'ready', $3, $2::text[], 4, 3, 300, 'test', now() - make_interval(secs => $4) + g * interval '1 microsecond'
         FROM generate_series(1, $1::int) AS g
       RETURNING id`,
      [n, capabilities, priority, agoSec],
    );

  const statuses = async (ids: string[]) =>
    Object.fromEntries(
      (await app.sql<{ id: string; status: string }>('SELECT id, status FROM tasks WHERE id = ANY($1::uuid[])', [ids])).map((r) => [r.id, r.status]),
    );

  beforeAll(async () => {
    app = await createTestApp();
    const admin = await loginAdmin(app);
    operator = await createUser(app, admin, ['operator']);
    key = (await createApiKey(app, admin, ['agent'])).auth;
    // First in claim order (high priority, an hour old), and nobody can take them.
    await insertReady(FOREIGN / 2, [gpu], 1, 3600);
    await insertReady(FOREIGN / 2, [gpu, 'python'], 1, 3600);
  });

  afterAll(() => app.close());

  it('hands out exactly the tasks the agent can take, in priority order across capability sets', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((p) => uniqueName(p));
    const agent = await registerAgent(app, key, { capabilities: [a, b, d, 'python'], max_parallel_tasks: 50 });
    const submit = (required_capabilities: string[], priority: string) =>
      createTask(app, operator.auth, { type: uniqueName('type'), required_capabilities, priority });
    const t1 = await submit([a], 'low');
    const t2 = await submit([b, a], 'medium');
    const t3 = await submit([a, b, a], 'high'); // the same set as t2, written differently
    const t4 = await submit([b], 'medium');
    const notMine1 = await submit([a, c], 'high');
    const notMine2 = await submit([c], 'high');
    const t7 = await submit([], 'low'); // no requirement: anyone's
    const t8 = await submit([a], 'high');
    // A set no task had before, through SQL only: it must be claimable all the same.
    const [raw] = await insertReady(1, [d], 1, 0);

    const order: string[] = [];
    for (;;) {
      const got = await claimTasks(app, key, agent.id);
      if (!got.length) break;
      expect(got).toHaveLength(1);
      order.push(got[0].id);
    }
    expect(order).toEqual([t3.id, t8.id, raw.id, t2.id, t4.id, t1.id, t7.id]);
    expect(await statuses([notMine1.id, notMine2.id])).toEqual({ [notMine1.id]: 'ready', [notMine2.id]: 'ready' });
  });

  it('claims a batch across capability sets in priority order, within max_parallel_tasks', async () => {
    const [a, b] = [uniqueName('a'), uniqueName('b')];
    const agent = await registerAgent(app, key, { capabilities: [a, b], max_parallel_tasks: 3 });
    const aMedium = await createTask(app, operator.auth, { type: uniqueName('type'), required_capabilities: [a], priority: 'medium' });
    const bHigh = await createTask(app, operator.auth, { type: uniqueName('type'), required_capabilities: [b], priority: 'high' });
    const bMedium = await createTask(app, operator.auth, { type: uniqueName('type'), required_capabilities: [b], priority: 'medium' });
    const aLow = await createTask(app, operator.auth, { type: uniqueName('type'), required_capabilities: [a], priority: 'low' });

    const first = await claimTasks(app, key, agent.id, { max_tasks: 10 });
    expect(first.map((t) => t.id)).toEqual([bHigh.id, aMedium.id, bMedium.id]);
    expect(await claimTasks(app, key, agent.id, { max_tasks: 10 })).toEqual([]);
    await completeTask(app, key, first[0], agent.id);
    expect((await claimTasks(app, key, agent.id, { max_tasks: 10 })).map((t) => t.id)).toEqual([aLow.id]);
  });

  it('when another transaction holds the head of one capability set, takes the next task elsewhere instead of nothing', async () => {
    const [a, b] = [uniqueName('a'), uniqueName('b')];
    const agent = await registerAgent(app, key, { capabilities: [a, b], max_parallel_tasks: 10 });
    const aHigh = await createTask(app, operator.auth, { type: uniqueName('type'), required_capabilities: [a], priority: 'high' });
    const bLow = await createTask(app, operator.auth, { type: uniqueName('type'), required_capabilities: [b], priority: 'low' });
    const holder = new Client({ connectionString: app.config.databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM tasks WHERE id = $1 FOR UPDATE', [aHigh.id]);
      expect((await claimTasks(app, key, agent.id)).map((t) => t.id)).toEqual([bLow.id]);
      await holder.query('ROLLBACK');
      expect((await claimTasks(app, key, agent.id)).map((t) => t.id)).toEqual([aHigh.id]);
    } finally {
      await holder.end();
    }
  });

  it('concurrent agents with overlapping capabilities never share a task and leave nothing they can take', async () => {
    const random = prng(SEED);
    const [a, b, c] = [uniqueName('a'), uniqueName('b'), uniqueName('c')];
    const sets = [[a], [b], [a, b], [b, a, c], []];
    const priorities = ['high', 'medium', 'low'];
    const agents = await Promise.all(
      [[a], [b], [a, b], [a, b, c]].map(async (capabilities) => ({ capabilities, id: (await registerAgent(app, key, { capabilities, max_parallel_tasks: 200 })).id })),
    );
    const submitted = new Map<string, string[]>();
    for (let i = 0; i < 120; i++) {
      const required = sets[Math.floor(random() * sets.length)];
      const t = await createTask(app, operator.auth, { type: uniqueName('type'), required_capabilities: required, priority: priorities[Math.floor(random() * 3)] });
      submitted.set(t.id, required);
    }

    const claimedBy = new Map<string, string[]>();
    for (let wave = 0; wave < 20; wave++) {
      const results = await Promise.all(
        Array.from({ length: 16 }, async (_, i) => {
          const agent = agents[i % agents.length];
          const got = await claimTasks(app, key, agent.id, { max_tasks: 1 + Math.floor(random() * 3) });
          return got.map((t) => ({ task: t.id, agent }));
        }),
      );
      const claims = results.flat();
      for (const { task, agent } of claims) {
        expect(submitted.has(task)).toBe(true);
        expect(submitted.get(task)!.every((cap) => agent.capabilities.includes(cap))).toBe(true);
        claimedBy.set(task, [...(claimedBy.get(task) ?? []), agent.id]);
      }
      if (!claims.length) break;
    }
    expect([...claimedBy.values()].filter((holders) => holders.length > 1)).toEqual([]);
    expect(claimedBy.size).toBe(submitted.size);
  });

  it('leaves the backlog nobody can serve as it was', async () => {
    const [foreign] = await app.sql<{ ready: number; touched: number }>(
      `SELECT count(*) FILTER (WHERE status = 'ready' AND attempt = 0)::int AS ready, count(*) FILTER (WHERE assigned_agent IS NOT NULL)::int AS touched
         FROM tasks WHERE $1 = ANY(required_capabilities)`,
      [gpu],
    );
    expect(foreign).toEqual({ ready: FOREIGN, touched: 0 });
  });
});
