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
/** Per transaction: the last statement, built at commit time and sent together with COMMIT. */
type CommitStatement = () => string | undefined;
const commitStatements = new WeakMap<EntityManager, CommitStatement>();

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
 * Registers the transaction's final statement: built after the work and every before-commit
 * hook, and sent in the same round trip as COMMIT (`<statement>; COMMIT` over the simple-query
 * protocol, so it must be self-contained SQL with no parameters). Row locks it takes are then
 * held only while PostgreSQL runs it and flushes the commit, never across a round trip to this
 * process. If it fails, COMMIT does not run and the transaction is rolled back.
 */
export function setCommitStatement(manager: EntityManager, build: CommitStatement): void {
  if (!beforeCommit.has(manager)) throw new Error('setCommitStatement needs a manager from inTransaction()');
  commitStatements.set(manager, build);
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
      return await runOnce(dataSource, work, options.isolation);
    } catch (err) {
      const code = sqlState(err);
      if (!code || !RETRYABLE.has(code) || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    }
  }
}

/** One attempt: EntityManager.transaction's steps, with the commit statement sent alongside COMMIT. */
async function runOnce<T>(
  dataSource: DataSource,
  work: (manager: EntityManager) => Promise<T>,
  isolation: 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE' | undefined,
): Promise<T> {
  const runner = dataSource.createQueryRunner();
  const manager = runner.manager;
  try {
    await runner.startTransaction(isolation);
    beforeCommit.set(manager, []);
    const result = await work(manager);
    // Hooks may register more hooks; drain until none are left.
    for (let hooks = beforeCommit.get(manager) ?? []; hooks.length; hooks = beforeCommit.get(manager) ?? []) {
      beforeCommit.set(manager, []);
      for (const hook of hooks) await hook(manager);
    }
    const last = commitStatements.get(manager)?.();
    if (last) {
      await runner.query(`${last};\nCOMMIT`);
      // TypeORM did not issue this COMMIT itself: tell the runner its transaction has ended.
      Object.assign(runner, { isTransactionActive: false, transactionDepth: 0 });
    } else {
      await runner.commitTransaction();
    }
    return result;
  } catch (err) {
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    throw err;
  } finally {
    beforeCommit.delete(manager);
    commitStatements.delete(manager);
    await runner.release();
  }
}
