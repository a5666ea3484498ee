import type { EntityManager } from 'typeorm';

/**
 * Runs SQL and returns its rows, whatever the statement. TypeORM's postgres driver returns
 * `[rows, rowCount]` for UPDATE and DELETE but bare rows for everything else; a pg row is an
 * object, never an array, so the two shapes cannot be confused.
 */
export async function rows<T>(manager: Pick<EntityManager, 'query'>, sql: string, params: unknown[] = []): Promise<T[]> {
  const result: unknown = await manager.query(sql, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}

interface PgClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/**
 * Like `rows`, as a named prepared statement on the connection of `manager`'s transaction: parsed
 * once per connection, and planned once (a generic plan) when PostgreSQL finds it as good as the
 * per-call plans. For the hot paths, whose planning otherwise costs as much as their execution.
 * `name` must be unique to `sql` across the program; constants that decide a plan (a status a
 * partial index is built on) belong in the text, not in the parameters. Outside a transaction
 * (no query runner) it runs as an ordinary statement.
 */
export async function prepared<T>(manager: Pick<EntityManager, 'query' | 'queryRunner'>, name: string, sql: string, params: unknown[]): Promise<T[]> {
  const runner = manager.queryRunner;
  if (!runner) return rows<T>(manager, sql, params);
  const client = (await runner.connect()) as PgClient;
  return (await client.query({ name, text: sql, values: params })).rows as T[];
}
