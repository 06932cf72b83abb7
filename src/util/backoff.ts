/**
 * Exponential backoff with jitter, the shape client-go's wait.Backoff uses: each failure
 * multiplies the delay by `factor` up to `max`; jitter spreads agents that failed together so
 * they do not retry in lockstep against a recovering apiserver. A success resets it.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** Fraction of the delay added at random, 0..1. */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private current: number;
  private failuresSinceReset = 0;

  constructor(options: BackoffOptions) {
    if (options.initialMs <= 0 || options.maxMs < options.initialMs) {
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs, got ${options.initialMs}, ${options.maxMs}`);
    }
    this.initialMs = options.initialMs;
    this.maxMs = options.maxMs;
    this.factor = options.factor ?? 2;
    this.jitter = options.jitter ?? 0.1;
    this.random = options.random ?? Math.random;
    this.current = options.initialMs;
  }

  /** The delay to wait after one more failure. */
  next(): number {
    const base = this.current;
    this.failuresSinceReset += 1;
    this.current = Math.min(this.maxMs, this.current * this.factor);
    return Math.min(this.maxMs, Math.round(base * (1 + this.jitter * this.random())));
  }

  get failures(): number {
    return this.failuresSinceReset;
  }

  reset(): void {
    this.current = this.initialMs;
    this.failuresSinceReset = 0;
  }
}
