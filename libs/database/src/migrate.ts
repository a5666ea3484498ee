import type { DataSource } from 'typeorm';

/** Arbitrary but fixed: every instance (and the migration job) contends for the same key. */
export const MIGRATION_LOCK_KEY = 7_316_001;

/**
 * Applies pending migrations while holding a session advisory lock, so several instances starting
 * at once (or a migration job racing a rolling deploy) apply each migration exactly once.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

/** True when every migration known to the code has been applied. */
export async function migrationsApplied(dataSource: DataSource): Promise<boolean> {
  return !(await dataSource.showMigrations());
}
