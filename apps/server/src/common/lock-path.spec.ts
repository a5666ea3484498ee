import fc from 'fast-check';
import { DomainError } from '../common/errors';
import { type LockPath,lockPathProblem, normalizeLockPath, overlapSearch, pathsOverlap, topSegment } from './lock-path';

const accepted = (input: string): LockPath | null => (lockPathProblem(input) === null ? normalizeLockPath(input) : null);

/** Path-like strings built from pieces that exercise every rule (separators, dots, unicode, controls). */
const pathish = fc
  .array(
    fc.tuple(
      fc.constantFrom('a', 'b', 'src', 'é', 'e\u0301', '.', '..', '...', '', ' ', '.git', 'x.ts', '\u0000', '\n', '日本'),
      fc.constantFrom('/', '//', '\\', '/./', ''),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.map(([piece, sep]) => piece + sep).join(''));
const anyInput = fc.oneof(pathish, fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ maxLength: 40 }));

/** A plain segment: never '.', '..', empty, a separator or a control character. */
const segment = fc
  .string({ unit: fc.constantFrom('a', 'b', 'Z', '0', '-', '_', '.', ' ', 'é', '日'), minLength: 1, maxLength: 6 })
  .filter((s) => s !== '.' && s !== '..');

describe('normalizeLockPath', () => {
  it('normalises the spellings in the contract', () => {
    expect(normalizeLockPath('a//b/./c')).toEqual({ key: 'a/b/c', isDirectory: false });
    expect(normalizeLockPath('./src/app.ts')).toEqual({ key: 'src/app.ts', isDirectory: false });
    expect(normalizeLockPath('/data/input.csv')).toEqual({ key: 'data/input.csv', isDirectory: false });
    expect(normalizeLockPath('src\\lib\\x.ts')).toEqual({ key: 'src/lib/x.ts', isDirectory: false });
    expect(normalizeLockPath('src/lib/')).toEqual({ key: 'src/lib/', isDirectory: true });
    expect(normalizeLockPath('src/lib/.')).toEqual({ key: 'src/lib/', isDirectory: true });
    expect(normalizeLockPath('src//lib//')).toEqual({ key: 'src/lib/', isDirectory: true });
    expect(normalizeLockPath('...')).toEqual({ key: '...', isDirectory: false });
    expect(normalizeLockPath('caf\u0065\u0301.txt').key).toBe(normalizeLockPath('caf\u00e9.txt').key);
  });

  it.each([
    ['a/../b', '..'],
    ['..', '..'],
    ['a/..', '..'],
    ['a\\..\\b', '..'],
    ['/../etc/passwd', '..'],
    ['a/\u0000b', 'NUL'],
    ['a/\nb', 'control'],
    ['', 'name a file'],
    ['/', 'name a file'],
    ['.', 'name a file'],
    ['./', 'name a file'],
    ['//./', 'name a file'],
    ['a'.repeat(1025), '1024 bytes'],
    ['é'.repeat(513), '1024 bytes'],
    ['a\ud800b', 'Unicode'],
  ])('refuses %j (%s) with validation_failed on the field', (input, why) => {
    expect(lockPathProblem(input)).toContain(why);
    let thrown: unknown;
    try {
      normalizeLockPath(input, 'file_dependencies[2].path');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(DomainError);
    expect((thrown as DomainError).code).toBe('validation_failed');
    expect((thrown as DomainError).details).toEqual({ fields: [{ field: 'file_dependencies[2].path', errors: [expect.stringContaining(why)] }] });
  });

  it('accepts exactly 1024 bytes', () => {
    expect(normalizeLockPath('a'.repeat(1024)).key).toHaveLength(1024);
  });

  it('refuses non-strings', () => {
    expect(lockPathProblem(42)).toBe('path must be a string');
    expect(lockPathProblem(undefined)).toBe('path must be a string');
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const once = accepted(input);
        if (once) expect(normalizeLockPath(once.key)).toEqual(once);
      }),
      { numRuns: 2000 },
    );
  });

  it('never yields a .. or . segment, an empty segment, a leading / or a control character', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const p = accepted(input);
        if (!p) return;
        const segments = (p.isDirectory ? p.key.slice(0, -1) : p.key).split('/');
        expect(segments.length).toBeGreaterThan(0);
        for (const s of segments) expect(['', '.', '..']).not.toContain(s);
        expect(p.key.startsWith('/')).toBe(false);
        expect([...p.key].filter((ch) => ch < ' ' || ch === '\u007f' || ch === '\\')).toEqual([]);
        expect(p.key.endsWith('/')).toBe(p.isDirectory);
        expect(Buffer.byteLength(p.key)).toBeLessThanOrEqual(1024);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses any input with a .. segment, however it is spelled', () => {
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 4 }), fc.array(segment, { maxLength: 4 }), fc.constantFrom('/', '\\', '//'), (before, after, sep) => {
        expect(lockPathProblem([...before, '..', ...after].join(sep))).toBe('path must not contain .. segments');
      }),
    );
  });

  it('gives every equivalent spelling the same key', () => {
    const separator = fc.constantFrom('/', '//', '/./', '\\', '/.//', '\\.\\', '///');
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        fc.constantFrom('', '/', './', '//', '/./', '.\\'),
        fc.array(separator, { minLength: 6, maxLength: 6 }),
        fc.constantFrom('/', '/.', '/./', '//', '\\', '/.//'),
        (segments, isDirectory, lead, seps, trail) => {
          const canonical = segments.join('/') + (isDirectory ? '/' : '');
          const spelled = lead + segments.map((s, i) => (i === 0 ? s : seps[i] + s)).join('') + (isDirectory ? trail : '');
          expect(normalizeLockPath(spelled)).toEqual({ key: canonical.normalize('NFC'), isDirectory });
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('pathsOverlap', () => {
  const p = (input: string) => normalizeLockPath(input);

  it('treats a directory as covering everything under it, both ways round', () => {
    expect(pathsOverlap(p('a/b/'), p('a/b/c'))).toBe(true);
    expect(pathsOverlap(p('a/b/c'), p('a/b/'))).toBe(true);
    expect(pathsOverlap(p('a/'), p('a/b/c/d.ts'))).toBe(true);
    expect(pathsOverlap(p('a/b/c/'), p('a/'))).toBe(true);
    expect(pathsOverlap(p('a/b/'), p('a/b/'))).toBe(true);
  });

  it('counts a file and a directory of the same name as one name', () => {
    expect(pathsOverlap(p('a/b'), p('a/b/'))).toBe(true);
    expect(pathsOverlap(p('a/b/'), p('a/b'))).toBe(true);
  });

  it('does not overlap siblings, name prefixes, or a file lock with paths under that name', () => {
    expect(pathsOverlap(p('a/b/'), p('a/bc'))).toBe(false);
    expect(pathsOverlap(p('a/b/'), p('a/b.txt'))).toBe(false);
    expect(pathsOverlap(p('a/b/'), p('a/c/'))).toBe(false);
    expect(pathsOverlap(p('a/b'), p('a/b/c'))).toBe(false);
    expect(pathsOverlap(p('a/x'), p('a/y'))).toBe(false);
    expect(pathsOverlap(p('a/'), p('ab/'))).toBe(false);
  });

  it('only overlaps paths sharing the top segment (the unit of the advisory lock)', () => {
    const small = fc
      .tuple(fc.array(fc.constantFrom('a', 'b', 'a0', 'a.b', 'é'), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([segs, dir]) => p(segs.join('/') + (dir ? '/' : '')));
    fc.assert(
      fc.property(small, small, (x, y) => {
        if (pathsOverlap(x, y)) expect(topSegment(x)).toBe(topSegment(y));
        expect(pathsOverlap(x, y)).toBe(pathsOverlap(y, x));
      }),
      { numRuns: 2000 },
    );
  });

  it('is found exactly by overlapSearch (the SQL probes: exact keys, and a byte-order range)', () => {
    // Segments chosen around '/', '0' and '.' in byte order, where a range bug would show.
    const small = fc
      .tuple(fc.array(fc.constantFrom('a', 'b', 'a0', 'a.', 'a-', 'a/', 'é', '0'), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([segs, dir]) => p(segs.join('/') + (dir ? '/' : '')));
    const inRange = (key: string, lo: string, hi: string) =>
      Buffer.compare(Buffer.from(key), Buffer.from(lo)) >= 0 && Buffer.compare(Buffer.from(key), Buffer.from(hi)) < 0;
    fc.assert(
      fc.property(small, small, (wanted, held) => {
        const search = overlapSearch(wanted);
        const found = search.exact.includes(held.key) || (search.range !== null && inRange(held.key, search.range.lo, search.range.hi));
        expect(found).toBe(pathsOverlap(wanted, held));
      }),
      { numRuns: 5000 },
    );
  });
});
