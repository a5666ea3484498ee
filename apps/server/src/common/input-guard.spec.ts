import { badString, findInputProblem, MAX_JSON_DEPTH } from './input-guard';

const nested = (depth: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe('findInputProblem', () => {
  it('accepts ordinary JSON, including non-ASCII text and surrogate pairs', () => {
    expect(findInputProblem({ a: [1, 'x', { 'ключ': '😀' }], b: null, c: true }, 'body')).toBeNull();
    expect(findInputProblem(nested(MAX_JSON_DEPTH), 'body')).toBeNull();
  });

  it('names the field holding a NUL or an unpaired surrogate', () => {
    expect(findInputProblem({ payload: { list: ['ok', 'a\0b'] } }, 'body')?.field).toBe('payload.list[1]');
    expect(findInputProblem({ u: 'x\uD800' }, 'body')?.errors[0]).toMatch(/unpaired UTF-16 surrogates/);
    expect(findInputProblem({ u: '\uDC00x' }, 'body')?.field).toBe('u');
    expect(findInputProblem({ p: { 'k\0': 1 } }, 'body')?.field).toBe('p.k\0');
    expect(findInputProblem('\0', 'body')).toEqual({ field: 'body', errors: ['body must not contain NUL characters'] });
  });

  it('refuses nesting past the limit without recursing (100,000 levels)', () => {
    expect(findInputProblem(nested(MAX_JSON_DEPTH + 1), 'body')?.errors[0]).toMatch(`nested deeper than ${MAX_JSON_DEPTH}`);
    expect(findInputProblem({ deep: nested(100_000) }, 'body')?.field).toMatch(/^deep(\[0\])+$/);
  });
});

describe('badString', () => {
  it.each([
    ['plain', null],
    ['😀', null],
    ['a\0', 'must not contain NUL characters'],
    ['\uD83D', 'must not contain unpaired UTF-16 surrogates'],
    ['\uDE00\uD83D', 'must not contain unpaired UTF-16 surrogates'],
  ])('%j → %s', (value, expected) => {
    expect(badString(value)).toBe(expected);
  });
});
