import fc from 'fast-check';
import { retryDelayMs } from './retry-policy';

describe('retryDelayMs', () => {
  it('stays within [d/2, d] of the exponential step', () => {
    expect(retryDelayMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(retryDelayMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(retryDelayMs(3, 1000, 60_000, () => 0)).toBe(2000);
    expect(retryDelayMs(3, 1000, 60_000, () => 1)).toBe(4000);
  });

  it('is capped at the maximum', () => {
    expect(retryDelayMs(30, 1000, 60_000, () => 1)).toBe(60_000);
    expect(retryDelayMs(30, 1000, 60_000, () => 0)).toBe(30_000);
  });

  it('never shrinks from one attempt to the next below the cap, whatever the jitter', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r1, r2) => {
        const a = retryDelayMs(n, 250, 300_000, () => r1);
        const b = retryDelayMs(n + 1, 250, 300_000, () => r2);
        return b >= a;
      }),
    );
  });
});
