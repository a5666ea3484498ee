import type { DataSource, EntityManager } from 'typeorm';

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

function sqlState(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (sqlState(err) !== '23505') return false;
  if (!constraint) return true;
  const e = err as { constraint?: string; driverError?: { constraint?: string } };
  return (e.driverError?.constraint ?? e.constraint) === constraint;
}

export function isForeignKeyViolation(err: unknown): boolean {
  return sqlState(err) === '23503';
}

export { sqlState };

type BeforeCommit = (manager: EntityManager) => Promise<void>;
const beforeCommit = new WeakMap<EntityManager, BeforeCommit[]>();

/** True inside inTransaction's work (so deferred writes such as events will be flushed). */
export function isInTransaction(manager: EntityManager): boolean {
  return beforeCommit.has(manager);
}

/**
 * Defers `fn` to the end of the transaction `manager` belongs to, after the work itself: for
 * writes that take a global lock held until commit (the audit chain tip, the event sequence),
 * which should be held for as short a time as possible.
 */
export function onBeforeCommit(manager: EntityManager, fn: BeforeCommit): void {
  const list = beforeCommit.get(manager);
  if (!list) throw new Error('onBeforeCommit needs a manager from inTransaction()');
  list.push(fn);
}

/**
 * Runs `work` in one transaction and retries it (with a short randomised pause) when PostgreSQL
 * aborts it for a serialization failure or a deadlock. `work` must be safe to run again: it should
 * only touch the database through the manager it is given.
 */
export async function inTransaction<T>(
  dataSource: DataSource,
  work: (manager: EntityManager) => Promise<T>,
  options: { attempts?: number; isolation?: 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE' } = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      const run = async (manager: EntityManager): Promise<T> => {
        beforeCommit.set(manager, []);
        try {
          const result = await work(manager);
          // Hooks may register more hooks; drain until none are left.
          for (let hooks = beforeCommit.get(manager) ?? []; hooks.length; hooks = beforeCommit.get(manager) ?? []) {
            beforeCommit.set(manager, []);
            for (const hook of hooks) await hook(manager);
          }
          return result;
        } finally {
          beforeCommit.delete(manager);
        }
      };
      return options.isolation ? await dataSource.transaction(options.isolation, run) : await dataSource.transaction(run);
    } catch (err) {
      const code = sqlState(err);
      if (!code || !RETRYABLE.has(code) || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    }
  }
}
