import { registerDecorator, type ValidationOptions } from 'class-validator';
import { validationFailed } from './errors';

/**
 * Lock paths are repository-relative names. One file has exactly one key, so two spellings of the
 * same file always meet in the conflict check. Pure functions; no I/O.
 */

export const MAX_LOCK_PATH_BYTES = 1024;

export interface LockPath {
  /** Canonical key: segments joined by '/', no leading '/', a trailing '/' for a directory. */
  key: string;
  /** A directory lock covers the directory's own name and everything under it. */
  isDirectory: boolean;
}

/** C0 controls and DEL (NUL is checked first, and reported by name because the contract names it). */
function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Why `input` is not a usable lock path, or null when it is. Rules:
 * - at most 1024 bytes (UTF-8), before and after normalisation; no NUL or other control characters;
 * - '\' is a separator like '/' (so a Windows spelling is the same key and `a\..\b` is caught);
 * - empty and '.' segments vanish (`a//b/./c` → `a/b/c`), a leading '/' or './' is dropped
 *   (paths are relative to the shared workspace), and a `..` segment anywhere is refused;
 * - something must remain: '/', '.', '' name no file.
 */
export function lockPathProblem(input: unknown): string | null {
  if (typeof input !== 'string') return 'path must be a string';
  if (input.includes('\u0000')) return 'path must not contain NUL bytes';
  if (hasControlCharacter(input)) return 'path must not contain control characters';
  if (LONE_SURROGATE.test(input)) return 'path must be valid Unicode text';
  if (Buffer.byteLength(input, 'utf8') > MAX_LOCK_PATH_BYTES) return `path must be at most ${MAX_LOCK_PATH_BYTES} bytes`;
  const { segments, isDirectory } = split(input);
  if (segments.includes('..')) return 'path must not contain .. segments';
  if (segments.length === 0) return 'path must name a file or a directory';
  if (Buffer.byteLength(join(segments, isDirectory), 'utf8') > MAX_LOCK_PATH_BYTES) {
    return `path must be at most ${MAX_LOCK_PATH_BYTES} bytes`;
  }
  return null;
}

/**
 * The canonical key of a lock path; throws `validation_failed` naming `field` when the path is not
 * acceptable (see lockPathProblem). Idempotent: normalising a key returns the same key.
 * The name is NFC-normalised (a precomposed and a decomposed 'é' are one file to a person and on
 * macOS); case is kept (they are different files on Linux).
 */
export function normalizeLockPath(input: unknown, field = 'path'): LockPath {
  const problem = lockPathProblem(input);
  if (problem) throw validationFailed([{ field, errors: [problem] }]);
  const { segments, isDirectory } = split(input as string);
  return { key: join(segments, isDirectory), isDirectory };
}

function split(input: string): { segments: string[]; isDirectory: boolean } {
  const raw = input.normalize('NFC').replace(/\\/g, '/').split('/');
  const last = raw[raw.length - 1];
  // `a/`, `a/.` and `a/./` all name the directory a.
  const isDirectory = last === '' || last === '.';
  return { segments: raw.filter((s) => s !== '' && s !== '.'), isDirectory };
}

function join(segments: string[], isDirectory: boolean): string {
  return segments.join('/') + (isDirectory ? '/' : '');
}

/** Reads back a stored key. */
export function fromKey(key: string): LockPath {
  return { key, isDirectory: key.endsWith('/') };
}

/** The name a lock is about, without the directory marker: `a/b/` → `a/b`. */
function nodeOf(p: LockPath): string {
  return p.isDirectory ? p.key.slice(0, -1) : p.key;
}

/** The first segment: every pair of overlapping paths shares it (the unit of mutual exclusion). */
export function topSegment(p: LockPath): string {
  const node = nodeOf(p);
  const slash = node.indexOf('/');
  return slash === -1 ? node : node.slice(0, slash);
}

/**
 * Do two lock scopes overlap? The same name (a file lock on `a/b` and a directory lock on `a/b/`
 * count as the same name: a path cannot be both), or one is a directory containing the other.
 * A file lock on `a` says nothing about `a/x`: only a trailing '/' makes a directory lock.
 */
export function pathsOverlap(a: LockPath, b: LockPath): boolean {
  const na = nodeOf(a);
  const nb = nodeOf(b);
  if (na === nb) return true;
  if (a.isDirectory && nb.startsWith(`${na}/`)) return true;
  if (b.isDirectory && na.startsWith(`${nb}/`)) return true;
  return false;
}

/**
 * How to find, with the btree index on `path` (collation "C", so byte order), every stored key
 * that overlaps `p`: keys equal to one of `exact` (the ancestors' directory keys and both spellings
 * of the name itself), plus, for a directory, keys in [lo, hi): everything under it. Byte order
 * puts exactly the keys starting with `n/` in [`n/`, `n0`), since '0' follows '/' in ASCII.
 */
export function overlapSearch(p: LockPath): { exact: string[]; range: { lo: string; hi: string } | null } {
  const node = nodeOf(p);
  const segments = node.split('/');
  const exact: string[] = [];
  for (let i = 1; i < segments.length; i++) exact.push(`${segments.slice(0, i).join('/')}/`);
  exact.push(node, `${node}/`);
  return { exact, range: p.isDirectory ? { lo: `${node}/`, hi: `${node}0` } : null };
}

/**
 * A lock path (the rules above): a string of at most 1024 bytes, no NUL or control
 * characters, no `..` segment, naming something. Tasks' `file_dependencies[].path` can use it too.
 */
export function IsLockPath(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isLockPath',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => lockPathProblem(value) === null,
        defaultMessage: (args) => lockPathProblem(args?.value) ?? 'path is not valid',
      },
    });
}
