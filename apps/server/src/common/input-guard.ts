/**
 * Hostile-input checks that run on every parsed request before any DTO transform:
 * PostgreSQL refuses NUL in text and `\u0000` in jsonb, a lone UTF-16 surrogate cannot be
 * encoded as UTF-8 (it would be stored as U+FFFD), and class-transformer recurses, so a deeply
 * nested body overflows the stack. Each would otherwise be a 500 (or silent corruption).
 */

/** The deepest JSON nesting accepted anywhere in a request (objects and arrays both count). */
export const MAX_JSON_DEPTH = 64;

/** NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const BAD_CHARACTER = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string cannot be stored, or null. */
export function badString(value: string): string | null {
  const m = BAD_CHARACTER.exec(value);
  if (!m) return null;
  return m[0] === '\0' ? 'must not contain NUL characters' : 'must not contain unpaired UTF-16 surrogates';
}

export interface InputProblem {
  field: string;
  errors: string[];
}

interface Frame {
  value: object;
  depth: number;
  path: string;
}

const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

/**
 * The first problem in a parsed JSON value (or query object), or null. One iterative walk (an
 * explicit stack, so a hostile depth cannot overflow it), stopping at the first bad node; keys
 * are checked like values. Fields are named from the top level in (`payload.a[3]`); `label` names
 * the value itself (`body`) when the problem is the whole of it.
 */
export function findInputProblem(value: unknown, label: string, maxDepth = MAX_JSON_DEPTH): InputProblem | null {
  const problem = walk(value, maxDepth);
  return problem && !problem.field ? { field: label, errors: problem.errors.map((e) => `${label}${e}`) } : problem;
}

function walk(value: unknown, maxDepth: number): InputProblem | null {
  if (typeof value === 'string') {
    const bad = badString(value);
    return bad ? { field: '', errors: [` ${bad}`] } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  const stack: Frame[] = [{ value, depth: 1, path: '' }];
  while (stack.length) {
    const frame = stack.pop()!;
    if (frame.depth > maxDepth) {
      return { field: frame.path, errors: [`${frame.path} is nested deeper than ${maxDepth} levels`] };
    }
    const isArray = Array.isArray(frame.value);
    const entries = isArray ? (frame.value as unknown[]) : Object.keys(frame.value);
    for (let i = 0; i < entries.length; i++) {
      let key: string | number = i;
      let child: unknown;
      if (isArray) {
        child = entries[i];
      } else {
        key = entries[i] as string;
        const bad = badString(key);
        if (bad) return { field: join(frame.path, key), errors: [`a key in ${frame.path || 'the top level'} ${bad}`] };
        child = (frame.value as Record<string, unknown>)[key];
      }
      if (typeof child === 'string') {
        const bad = badString(child);
        if (bad) {
          const field = join(frame.path, key);
          return { field, errors: [`${field} ${bad}`] };
        }
      } else if (child !== null && typeof child === 'object') {
        stack.push({ value: child, depth: frame.depth + 1, path: join(frame.path, key) });
      }
    }
  }
  return null;
}

/** The largest value of a PostgreSQL `integer` column: a DTO field stored in one has this as its @Max. */
export const INT4_MAX = 2_147_483_647;

const INT8_MAX = 9223372036854775807n;

/** A non-negative whole number as text that a `bigint` column can hold (seq numbers, tokens). */
export function isInt8Text(value: unknown): value is string {
  return typeof value === 'string' && /^\d{1,19}$/.test(value) && BigInt(value) <= INT8_MAX;
}

/**
 * The earliest instant a date field accepts: JavaScript dates reach back to year -271821, but
 * PostgreSQL's timestamptz stops at 4713 BC and answers anything earlier with an error (a 500).
 * Use with class-validator's `@MinDate(EARLIEST_DATE, { message: ... })`.
 */
export const EARLIEST_DATE = new Date('0001-01-01T00:00:00Z');
