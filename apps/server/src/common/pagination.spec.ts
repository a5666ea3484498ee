import { decodeCursor, encodeCursor } from './pagination';

describe('decodeCursor', () => {
  it('returns a cursor this server issued', () => {
    const key = ['1765158963123456', '2f1c7a52-4a38-4c53-9d7e-8c1a1b2c3d4e'];
    expect(decodeCursor(encodeCursor(key), ['micros', 'uuid'])).toEqual(key);
    expect(decodeCursor(encodeCursor(['2026-12-08 01:56:03.123456+00', key[1]]), ['timestamptz', 'uuid'])).toHaveLength(2);
    expect(decodeCursor(encodeCursor(['42']), ['seq'])).toEqual(['42']);
    expect(decodeCursor(undefined, ['seq'])).toBeUndefined();
  });

  it.each([
    ['not base64 JSON', '%%%', ['seq']],
    ['the wrong arity', encodeCursor(['1', '2']), ['seq']],
    ['a number where text is stored', encodeCursor([12]), ['seq']],
    ['a seq beyond int8', encodeCursor(['9223372036854775808']), ['seq']],
    ['a timestamp PostgreSQL cannot hold', encodeCursor(['99999999999999999', '2f1c7a52-4a38-4c53-9d7e-8c1a1b2c3d4e']), ['micros', 'uuid']],
    ['a non-UUID id', encodeCursor(['1', 'x']), ['micros', 'uuid']],
    ['an impossible date', encodeCursor(['2024-02-31 10:00:00+00', '2f1c7a52-4a38-4c53-9d7e-8c1a1b2c3d4e']), ['timestamptz', 'uuid']],
    ['a word PostgreSQL would read as a time', encodeCursor(['now', '2f1c7a52-4a38-4c53-9d7e-8c1a1b2c3d4e']), ['timestamptz', 'uuid']],
    ['a NUL in a name', encodeCursor(['a\0']), ['text']],
  ] as const)('refuses %s with validation_failed on cursor', (_what, cursor, shape) => {
    expect(() => decodeCursor(cursor, shape)).toThrow(expect.objectContaining({ code: 'validation_failed', details: { fields: [expect.objectContaining({ field: 'cursor' })] } }));
  });
});
