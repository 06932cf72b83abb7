/**
 * A token bucket, as golang.org/x/time/rate is under client-go's flowcontrol: it starts full with
 * `burst` tokens and refills continuously at `perSecond` up to `burst` again. Time is passed in
 * (ms since the epoch), so it is pure and steps with a test's clock.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  readonly burst: number;
  readonly perSecond: number;

  constructor(options: { burst: number; perSecond: number; now: number }) {
    this.burst = options.burst;
    this.perSecond = options.perSecond;
    this.tokens = options.burst;
    this.updatedAt = options.now;
  }

  /** Takes one token if there is one; false (nothing taken) when the bucket is empty. */
  tryTake(now: number): boolean {
    this.refill(now);
    // Refills add up in floating point: a token earned in several steps may come to 0.999….
    if (this.tokens < 1 - 1e-9) return false;
    this.tokens = Math.max(0, this.tokens - 1);
    return true;
  }

  /** Tokens available at `now` (fractions are the part of the next one already earned). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  private refill(now: number): void {
    // A clock that stepped back earns nothing, and does not push the next token further away.
    const elapsedMs = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs / 1000) * this.perSecond);
    this.updatedAt = Math.max(this.updatedAt, now);
  }
}
