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

export { sqlState };

/** Per transaction: the last statement, built at commit time and sent together with COMMIT. */
type CommitStatement = () => string | undefined;
interface TransactionHooks {
  statement?: CommitStatement;
  committed: (() => void)[];
}
const hooks = new WeakMap<EntityManager, TransactionHooks>();

function hooksOf(manager: EntityManager, caller: string): TransactionHooks {
  const h = hooks.get(manager);
  if (!h) throw new Error(`${caller} needs a manager from inTransaction()`);
  return h;
}

/**
 * Registers the transaction's final statement: built after the work, and sent in the same round
 * trip as COMMIT (`<statement>; COMMIT` over the simple-query protocol, so it must be
 * self-contained SQL with no parameters). If it fails, COMMIT does not run and the transaction
 * is rolled back.
 */
export function setCommitStatement(manager: EntityManager, build: CommitStatement): void {
  hooksOf(manager, 'setCommitStatement').statement = build;
}

/** Runs `fn` once the transaction has committed (not on rollback, nor on an attempt that is retried). */
export function onCommitted(manager: EntityManager, fn: () => void): void {
  hooksOf(manager, 'onCommitted').committed.push(fn);
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
    const h: TransactionHooks = { committed: [] };
    hooks.set(manager, h);
    const result = await work(manager);
    const last = h.statement?.();
    if (last) {
      await runner.query(`${last};\nCOMMIT`);
      // TypeORM did not issue this COMMIT itself: tell the runner its transaction has ended.
      Object.assign(runner, { isTransactionActive: false, transactionDepth: 0 });
    } else {
      await runner.commitTransaction();
    }
    for (const fn of h.committed) fn();
    return result;
  } catch (err) {
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    throw err;
  } finally {
    hooks.delete(manager);
    await runner.release();
  }
}
