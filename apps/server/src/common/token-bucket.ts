/**
 * A token bucket on the local clock: holds at most `burst` tokens, refills `perSec` a second, and
 * each `take()` spends one. In memory, for limits kept per connection (a socket's messages).
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSec: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** Spends a token if one is left; false when the bucket is empty. */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSec);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
