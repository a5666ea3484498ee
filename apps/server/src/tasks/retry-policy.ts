/**
 * Exponential backoff with "equal jitter": the delay before retry n is drawn from
 * [d/2, d] where d = min(max, base * 2^(n-1)). The ranges of successive retries do not overlap,
 * so the schedule always grows until it reaches the cap (a guarantee full jitter cannot give), while the random half still
 * spreads a herd of failing tasks apart.
 */
export function retryDelayMs(failedAttempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, failedAttempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}
