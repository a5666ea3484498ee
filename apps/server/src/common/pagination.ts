import { DomainError } from './errors';
import { badString, isInt8Text } from './input-guard';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** Opaque keyset cursor: base64url of a JSON tuple of the last row's sort key. */
export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * What one element of a cursor must be, so a forged cursor is a 400 and never reaches SQL as a
 * value PostgreSQL refuses: `micros` a bigint as text (cursorTimestamp, audit seq), `uuid`,
 * `timestamptz` a PostgreSQL timestamptz text (`2024-01-02 03:04:05.123456+00`), `text` a name.
 */
export type CursorPart = 'micros' | 'seq' | 'uuid' | 'timestamptz' | 'text';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TIMESTAMPTZ = /^(\d{4})-(\d{2})-(\d{2})[ T]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?([+-]\d{2}(:?\d{2})?|Z)?$/;

function fits(part: CursorPart, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  switch (part) {
    case 'micros':
      return /^-?\d{1,16}$/.test(value);
    case 'seq':
      return isInt8Text(value);
    case 'uuid':
      return UUID.test(value);
    case 'timestamptz': {
      const m = TIMESTAMPTZ.exec(value);
      if (!m) return false;
      // A real calendar day (PostgreSQL refuses 2024-02-31 with an error, not a 400).
      const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
      return new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d && mo >= 1 && mo <= 12;
    }
    case 'text':
      return value.length <= 512 && badString(value) === null;
  }
}

export function decodeCursor(cursor: string | undefined, shape: readonly CursorPart[]): string[] | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === shape.length && shape.every((part, i) => fits(part, key[i]))) return key as string[];
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
