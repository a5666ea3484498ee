import { canonicalJson } from '../common/canonical-json';
import { canonicalRow, type ChainedFields,chainHash, GENESIS_HASH, scrubDetails } from './audit-chain';

const row: ChainedFields = {
  id: '6f1c1a43-5a35-4b0b-9c5d-3c1f7f1b2a10',
  occurredAt: '2026-11-22T08:00:00.000Z',
  actorType: 'user',
  actorId: 'u1',
  action: 'auth.login',
  resourceType: 'user',
  resourceId: 'u1',
  outcome: 'success',
  ip: '127.0.0.1',
  userAgent: 'jest',
  requestId: 'r1',
  details: { b: 1, a: { d: [1, 2], c: 'x' } },
};

describe('audit chain', () => {
  it('canonicalises objects independently of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe(canonicalJson({ a: { c: 3, d: 2 }, b: 1 }));
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
  });

  it('changes the hash when any covered field or the link changes', () => {
    const base = chainHash(GENESIS_HASH, '1', canonicalRow(row));
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(chainHash(GENESIS_HASH, '1', canonicalRow({ ...row, outcome: 'denied' }))).not.toBe(base);
    expect(chainHash(GENESIS_HASH, '2', canonicalRow(row))).not.toBe(base);
    expect(chainHash('f'.repeat(64), '1', canonicalRow(row))).not.toBe(base);
    expect(chainHash(GENESIS_HASH, '1', canonicalRow({ ...row, details: { a: { c: 'x', d: [1, 2] }, b: 1 } }))).toBe(base);
  });

  it('scrubs secret-looking fields at any depth', () => {
    expect(
      scrubDetails({ username: 'ann', password: 'p', nested: { refresh_token: 't', api_key: 'k', ok: 1 }, list: [{ secret: 's' }] }),
    ).toEqual({ username: 'ann', nested: { ok: 1 }, list: [{}] });
  });
});
