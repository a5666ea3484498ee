import { DomainError } from './errors';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** Opaque keyset cursor: base64url of a JSON tuple of the last row's sort key. */
export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined, arity: number): unknown[] | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === arity) return key as unknown[];
  } catch {
    // fall through to the validation error
  }
  throw new DomainError('validation_failed', 'The cursor is not valid', {
    fields: [{ field: 'cursor', errors: ['cursor must be a value returned as next_cursor'] }],
  });
}

/** Given `limit + 1` rows, returns the page and the cursor for the next one. */
export function page<T>(rows: T[], limit: number, keyOf: (row: T) => unknown[]): { items: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(keyOf(items[items.length - 1])) };
}

/**
 * Keyset cursors on timestamps must keep PostgreSQL's microseconds: a JavaScript Date keeps only
 * milliseconds, and a cursor rounded down would return the last row of a page again. Select
 * `cursorTimestamp('t.created_at')` and compare with `cursorTimestampParam('$1')`.
 */
export const cursorTimestamp = (column: string): string => `(extract(epoch from ${column}) * 1000000)::bigint::text`;
export const cursorTimestampParam = (param: string): string => `(timestamptz 'epoch' + ${param}::bigint * interval '1 microsecond')`;
