import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { createServerApp, type ServerApp } from '../../apps/server/src/bootstrap';
import { createLogger } from '../../apps/server/src/common/logger';
import { type AppConfig,loadConfig } from '../../apps/server/src/config/app-config';
import { Sealer } from '../../apps/server/src/outbox/sealer.service';
import { cloneTemplateDatabase, dropDatabase } from './test-database';

export const ADMIN_PASSWORD = 'admin-password-for-tests';

export interface TestApp {
  baseUrl: string;
  http: TestAgent;
  server: ServerApp;
  config: AppConfig;
  /** Every JSON log line the app wrote (when started with captureLogs). */
  logs: string[];
  /** Runs SQL directly against this app's database, once what has committed so far is sealed. */
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * Boots the real server (same createServerApp + configureApp as main.ts) on its own cloned
 * database, listening on a random loopback port, for tests to call over real HTTP.
 */
export async function createTestApp(
  options: { env?: Record<string, string>; captureLogs?: boolean } = {},
): Promise<TestApp> {
  const db = await cloneTemplateDatabase();
  const config = loadConfig({
    DATABASE_URL: db.url,
    ADMIN_USERNAME: 'admin',
    ADMIN_PASSWORD,
    LOG_LEVEL: options.captureLogs ? 'info' : 'silent',
    DB_POOL_SIZE: '10',
    // Suites share one principal for many calls; the rate-limit suite sets its own small budget.
    RATE_LIMIT_PER_MIN: '1000000',
    // Suites read gauges right after changing things; the abuse suite sets its own refresh interval.
    METRICS_GAUGE_REFRESH_MS: '0',
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger(config.logLevel, options.captureLogs ? sink : undefined);
  const server = await createServerApp(config, logger);
  await server.app.listen(0, '127.0.0.1');
  const address = server.app.getHttpServer().address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${address.port}`;
  return {
    baseUrl,
    http: request(baseUrl),
    server,
    config,
    logs,
    sql: async <T>(query: string, params: unknown[] = []) => {
      // Audit rows and events are sealed just after commit; tests read them as a client would.
      await server.app.get(Sealer).settle();
      return server.db.dataSource.query<T[]>(query, params);
    },
    close: async () => {
      await server.close();
      await dropDatabase(db.name);
    },
  };
}
