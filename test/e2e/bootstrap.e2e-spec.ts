import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { createServerApp, type ServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { loadConfig } from '../../apps/server/src/config/app-config';
import { cloneTemplateDatabase, dropDatabase } from '../harness/test-database';

interface Instance {
  server: ServerApp;
  http: TestAgent;
}

/** One server instance, started the way main.ts starts it, on the given database. */
async function startInstance(env: Record<string, string>): Promise<Instance> {
  const config = loadConfig({ LOG_LEVEL: 'silent', DB_POOL_SIZE: '4', ...env });
  const server = await createServerApp(config, createLogger('silent'));
  await server.app.listen(0, '127.0.0.1');
  const { port } = server.app.getHttpServer().address() as AddressInfo;
  return { server, http: request(`http://127.0.0.1:${port}`) };
}

const FIRST_ADMIN_BANNER = /created the first admin[\s\S]*?username: (\S+)[\s\S]*?password: (\S+)/;

describe('first start (e2e)', () => {
  const instances: Instance[] = [];
  const databases: string[] = [];
  let stdout: string[];
  let writeSpy: jest.SpyInstance;

  const freshDatabase = async () => {
    const db = await cloneTemplateDatabase();
    databases.push(db.name);
    return db.url;
  };
  const start = async (env: Record<string, string>) => {
    const instance = await startInstance(env);
    instances.push(instance);
    return instance;
  };
  const count = async (instance: Instance, sql: string) =>
    (await instance.server.db.dataSource.query<{ n: number }[]>(sql))[0].n;

  beforeEach(() => {
    stdout = [];
    // Captured instead of printed: the banner holds a password.
    writeSpy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    });
  });
  afterEach(() => writeSpy.mockRestore());
  afterAll(async () => {
    for (const instance of instances) await instance.server.close();
    for (const name of databases) await dropDatabase(name);
  });

  it('creates the first admin once, printing a generated password once; a second instance adds no one and shares the JWT key', async () => {
    const url = await freshDatabase();
    const a = await start({ DATABASE_URL: url, ADMIN_USERNAME: 'Root' });
    const banner = FIRST_ADMIN_BANNER.exec(stdout.join(''));
    expect(banner).not.toBeNull();
    const [, username, password] = banner!;
    expect(username).toBe('root');
    expect(password.length).toBeGreaterThanOrEqual(20);

    const login = await a.http.post('/api/v1/auth/login').send({ username: 'root', password });
    expect(login.status).toBe(200);
    const me = await a.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${login.body.access_token}`);
    expect(me.body).toMatchObject({ username: 'root', roles: ['admin'] });

    // A second instance on the same database, even configured with other admin settings.
    stdout.length = 0;
    const b = await start({ DATABASE_URL: url, ADMIN_USERNAME: 'someone-else', ADMIN_PASSWORD: 'another-password' });
    expect(stdout.join('')).not.toMatch(/created the first admin/);
    expect(await count(b, 'SELECT count(*)::int AS n FROM users')).toBe(1);
    expect((await b.http.post('/api/v1/auth/login').send({ username: 'someone-else', password: 'another-password' })).status).toBe(401);
    expect(
      await count(b, `SELECT count(*)::int AS n FROM audit_events WHERE action = 'user.create' AND details->>'reason' = 'first_admin'`),
    ).toBe(1);

    // Both instances sign and verify with the one key stored in the database.
    expect(await count(b, `SELECT count(*)::int AS n FROM system_secrets WHERE name = 'jwt_signing_key'`)).toBe(1);
    const fromA = login.body.access_token as string;
    expect((await b.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${fromA}`)).status).toBe(200);
    const loginB = await b.http.post('/api/v1/auth/login').send({ username: 'root', password });
    expect(loginB.status).toBe(200);
    expect((await a.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${loginB.body.access_token}`)).status).toBe(200);
    // A refresh token issued by one instance rotates on the other.
    expect((await a.http.post('/api/v1/auth/refresh').send({ refresh_token: loginB.body.refresh_token })).status).toBe(200);
  });

  it('creates exactly one admin when several instances start at once on an empty database', async () => {
    const url = await freshDatabase();
    const started = await Promise.all(
      [1, 2, 3].map(() => start({ DATABASE_URL: url, ADMIN_USERNAME: 'boss', ADMIN_PASSWORD: 'boss-password-123' })),
    );
    expect(await count(started[0], 'SELECT count(*)::int AS n FROM users')).toBe(1);
    // With ADMIN_PASSWORD set nothing is printed: the operator already knows it.
    expect(stdout.join('')).not.toMatch(/password:/);
    for (const instance of started) {
      expect((await instance.http.post('/api/v1/auth/login').send({ username: 'boss', password: 'boss-password-123' })).status).toBe(200);
    }
  });
});
