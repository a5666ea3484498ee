import { DataSource, type DataSourceOptions, type MixedList } from 'typeorm';

export interface DatabaseOptions {
  url: string;
  // TypeORM's own element types (entity classes, migration classes).
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function>;
  poolSize?: number;
  applicationName?: string;
  /** Server-side limits for every pooled session (unset: none, e.g. for migrations). */
  statementTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
}

export function dataSourceOptions(options: DatabaseOptions): DataSourceOptions {
  return {
    type: 'postgres',
    url: options.url,
    entities: options.entities,
    migrations: options.migrations,
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    // gen_random_uuid() is built into PostgreSQL 13+; never try to CREATE EXTENSION at connect.
    uuidExtension: 'pgcrypto',
    installExtensions: false,
    migrationsRun: false,
    logging: false,
    extra: {
      max: options.poolSize ?? 20,
      application_name: options.applicationName ?? 'agentmanager',
      // Fail fast instead of queueing forever when the pool is exhausted or the database is gone.
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      // Short OLTP statements: JIT compiling one costs more than running it (seen: a claim over a
      // large backlog, estimated expensive, compiled on every call).
      options: '-c jit=off',
      statement_timeout: options.statementTimeoutMs,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
    },
  };
}

export function createDataSource(options: DatabaseOptions): DataSource {
  return new DataSource(dataSourceOptions(options));
}
