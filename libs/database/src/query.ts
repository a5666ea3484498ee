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
