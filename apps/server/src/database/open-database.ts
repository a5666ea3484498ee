import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { createDataSource, migrations, runMigrations, startEmbeddedPostgres } from '@agentmanager/database';
import type { AppConfig } from '../config/app-config';
import { ENTITIES } from '../entities';

export interface OpenDatabase {
  dataSource: DataSource;
  url: string;
  /** Closes the pool, then stops embedded PostgreSQL if this process started it. */
  close(): Promise<void>;
}

async function migrate(url: string, logger: Logger): Promise<void> {
  const dataSource = createDataSource({ url, entities: ENTITIES, migrations, poolSize: 2 });
  await dataSource.initialize();
  try {
    const applied = await runMigrations(dataSource);
    if (applied.length) logger.info({ migrations: applied }, 'applied migrations');
  } finally {
    await dataSource.destroy();
  }
}

/**
 * Connects to `DATABASE_URL`, or starts embedded PostgreSQL under `DATA_DIR/postgres` when it is
 * unset, then applies pending migrations (under an advisory lock) unless told not to.
 */
export async function openDatabase(
  config: AppConfig,
  logger: Logger,
  options: { migrate?: boolean } = {},
): Promise<OpenDatabase> {
  let url = config.databaseUrl;
  let stopEmbedded: () => Promise<void> = async () => undefined;
  if (!url) {
    const embedded = await startEmbeddedPostgres(join(config.dataDir, 'postgres'), {
      log: (message) => logger.info(message),
    });
    url = embedded.url;
    stopEmbedded = embedded.stop;
    logger.info({ data_dir: join(config.dataDir, 'postgres') }, 'embedded PostgreSQL is running');
  }
  const dataSource = createDataSource({
    url,
    entities: ENTITIES,
    migrations,
    poolSize: config.dbPoolSize,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    idleInTransactionTimeoutMs: config.dbIdleInTransactionTimeoutMs,
  });
  try {
    // Migrations run on sessions of their own, without the request timeouts (a backfill may be long).
    if (options.migrate !== false) await migrate(url, logger);
    await dataSource.initialize();
  } catch (err) {
    if (dataSource.isInitialized) await dataSource.destroy();
    await stopEmbedded();
    throw err;
  }
  return {
    dataSource,
    url,
    close: async () => {
      if (dataSource.isInitialized) await dataSource.destroy();
      await stopEmbedded();
    },
  };
}
