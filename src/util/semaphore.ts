/**
 * A counting semaphore: at most `limit` holders at once, the rest wait in arrival order. Used to
 * bound how many requests the agent keeps in flight against a daemon that degrades under load
 * (dockerd 20.10 wedged with a few hundred concurrent create/remove calls from three agents).
 */
export class Semaphore {
  private readonly limit: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`semaphore limit must be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  /** Runs `task` once a slot is free and frees the slot when it settles, whatever the outcome. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, so a newcomer cannot overtake it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }
}
