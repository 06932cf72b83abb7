import type { ProbeClock } from '../../src/probes/probe-manager.ts';

export const T0 = Date.parse('2026-11-25T10:00:00Z');
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Time that moves only when told; timers fire in due order as it moves. */
export class FakeClock implements ProbeClock {
  t = T0;
  private nextId = 1;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  /** The most timers ever pending at once. */
  maxPending = 0;

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    this.maxPending = Math.max(this.maxPending, this.timers.size);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  /** Moves time forward by `ms`, firing every timer due on the way (and letting promises settle). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const [next] = [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at || a[0] - b[0]);
      if (!next || next[1].at > end) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
    await settle();
  }
}
