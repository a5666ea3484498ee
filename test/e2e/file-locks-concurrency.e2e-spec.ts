import { inTransaction } from '@agentmanager/database';
import { fromKey, pathsOverlap } from '../../apps/server/src/common/lock-path';
import { FileLocksService } from '../../apps/server/src/file-locks/file-locks.service';
import { type LockAccess,locksConflict } from '../../apps/server/src/file-locks/lock-compatibility';
import { createApiKey, loginAdmin, uniqueName } from '../harness/factories';
import { findOverlaps, type Interval,timestampMicros } from '../harness/history';
import { prng } from '../harness/prng';
import { createTestApp, type TestApp } from '../harness/test-app';

const ACQUIRERS = 32;
const RUN_MS = 8000;
const SEED = Number(process.env.LOCK_TEST_SEED ?? Date.now() % 1_000_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Hold {
  id: string;
  path: string;
  access: LockAccess;
  token: number;
}

describe('file locks under concurrency (e2e)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp({ env: { RATE_LIMIT_PER_MIN: '10000000', DB_POOL_SIZE: '24' } });
  });
  afterAll(() => app.close());

  it('the overlap checker finds an incompatible overlap it is shown (so the real check can fail)', () => {
    const w = (start: number, end: number, key: string, access: LockAccess): Interval<{ path: string; access: LockAccess }> => ({
      start,
      end,
      value: { path: key, access },
    });
    const conflict = (x: { path: string; access: LockAccess }, y: { path: string; access: LockAccess }) =>
      locksConflict({ path: fromKey(x.path), access: x.access }, { path: fromKey(y.path), access: y.access });
    expect(findOverlaps([w(0, 10, 'a/', 'write'), w(10, 20, 'a/b', 'write'), w(15, 30, 'a/b', 'read')], conflict)).toEqual([]);
    expect(findOverlaps([w(0, 10, 'a/', 'write'), w(9, 20, 'a/b', 'write')], conflict)).toHaveLength(1);
  });

  it(`${ACQUIRERS} agents hammering overlapping paths never hold incompatible locks at the same time (seed ${SEED})`, async () => {
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const admin = await loginAdmin(app);

    // 8 keys of the agent role, each registering 4 agents: 32 independent holders.
    const workers: { auth: { Authorization: string }; agent: string }[] = [];
    for (let k = 0; k < ACQUIRERS / 4; k++) {
      const key = await createApiKey(app, admin, ['agent']);
      for (let i = 0; i < 4; i++) {
        const res = await app.http.post('/api/v1/agents/register').set(key.auth).send({ name: uniqueName('w'), type: 'worker', capabilities: [] });
        expect(res.status).toBe(201);
        workers.push({ auth: key.auth, agent: res.body.id });
      }
    }

    const root = uniqueName('conc');
    const other = uniqueName('conc2');
    // A directory, files in and under it, a nested directory, spellings of the same file, and
    // one path in another top segment.
    const paths = [`${root}/`, `${root}/a.ts`, `./${root}//a.ts`, `${root}/b.ts`, `${root}/sub/`, `${root}/sub/c.ts`, `${other}/x.ts`];
    const modes: LockAccess[] = ['read', 'read', 'read', 'write', 'write', 'exclusive'];

    const granted: Hold[] = [];
    const counts = { granted: 0, conflicts: 0, released: 0, renewed: 0, renewRefused: 0, leftToExpire: 0, unexpected: [] as string[] };
    const deadline = Date.now() + RUN_MS;

    const loop = async (w: (typeof workers)[number]) => {
      while (Date.now() < deadline) {
        const res = await app.http
          .post('/api/v1/locks')
          .set(w.auth)
          .send({
            path: pick(paths),
            access: pick(modes),
            agent_id: w.agent,
            ttl_seconds: 1 + Math.floor(random() * 2),
            wait_seconds: random() < 0.2 ? 1 : 0,
          });
        if (res.status === 409) {
          counts.conflicts++;
          await sleep(5 + random() * 30);
          continue;
        }
        if (res.status !== 201) {
          counts.unexpected.push(`acquire ${res.status} ${JSON.stringify(res.body)}`);
          continue;
        }
        counts.granted++;
        granted.push({ id: res.body.id, path: res.body.path, access: res.body.access, token: res.body.fencing_token });
        await sleep(random() * 400);
        const next = random();
        if (next < 0.2) {
          const renew = await app.http.post(`/api/v1/locks/${res.body.id}/renew`).set(w.auth).send({ ttl_seconds: 1 });
          if (renew.status === 200) counts.renewed++;
          else if (renew.status === 404) counts.renewRefused++;
          else counts.unexpected.push(`renew ${renew.status}`);
          await sleep(random() * 300);
        }
        if (next < 0.8) {
          const del = await app.http.delete(`/api/v1/locks/${res.body.id}`).set(w.auth);
          // 404: it lapsed first (TTL 1-2 s), which is a legitimate end of the hold.
          if (del.status === 204) counts.released++;
          else if (del.status !== 404) counts.unexpected.push(`release ${del.status}`);
        } else {
          counts.leftToExpire++;
        }
      }
    };

    // The sweeper runs alongside, as it will in the server.
    const service = app.server.app.get(FileLocksService);
    let sweeping = true;
    const sweeper = (async () => {
      while (sweeping) {
        await inTransaction(app.server.db.dataSource, (manager) => service.sweepExpired(manager));
        await sleep(200);
      }
    })();

    await Promise.all(workers.map(loop));
    sweeping = false;
    await sweeper;

    expect(counts.unexpected).toEqual([]);
    // The run must have been contended to mean anything.
    expect(counts.granted).toBeGreaterThan(100);
    expect(counts.conflicts).toBeGreaterThan(50);
    expect(counts.released).toBeGreaterThan(20);

    // Every hold, from the server's own timestamps (µs): acquired_at until it was released or lapsed.
    const rows = await app.sql<{ id: string; path: string; access: LockAccess; token: string; start: string; end: string }>(
      `SELECT id, path, access, fencing_token::text AS token, ${timestampMicros('acquired_at')} AS start,
              ${timestampMicros('LEAST(COALESCE(released_at, expires_at), expires_at)')} AS "end"
         FROM file_locks WHERE path LIKE $1 OR path LIKE $2`,
      [`${root}/%`, `${other}/%`],
    );
    // The database knows exactly the holds the clients were granted.
    expect(rows.map((r) => r.id).sort()).toEqual(granted.map((g) => g.id).sort());

    const intervals = rows.map((r) => ({
      start: Number(r.start),
      end: Number(r.end),
      value: { id: r.id, path: r.path, access: r.access, token: Number(r.token) },
    }));
    const conflict = (x: { path: string; access: LockAccess }, y: { path: string; access: LockAccess }) =>
      locksConflict({ path: fromKey(x.path), access: x.access }, { path: fromKey(y.path), access: y.access });
    const overlaps = findOverlaps(intervals, conflict);
    expect(overlaps.map(([x, y]) => `${JSON.stringify(x)} overlaps ${JSON.stringify(y)}`)).toEqual([]);

    // Fencing: on overlapping paths, a later acquisition always carries a larger token.
    const byStart = [...intervals].sort((x, y) => x.start - y.start);
    const outOfOrder: string[] = [];
    for (let i = 0; i < byStart.length; i++) {
      for (let j = i + 1; j < byStart.length; j++) {
        const [x, y] = [byStart[i].value, byStart[j].value];
        if (pathsOverlap(fromKey(x.path), fromKey(y.path)) && byStart[j].start > byStart[i].start && y.token <= x.token) {
          outOfOrder.push(`${x.id}(${x.token}) then ${y.id}(${y.token})`);
        }
      }
    }
    expect(outOfOrder).toEqual([]);
  }, 60_000);
});
