/**
 * Per-container restart backoff, the kubelet's CrashLoopBackOff: after a container exits, it may
 * start again only when `delay` has passed since it finished. The delay starts at 10 s and doubles
 * to 300 s; it starts over when the container has not failed for twice the maximum (10 minutes).
 * Keyed by pod uid + container name. Pure apart from the map it keeps.
 */
export interface CrashBackoffOptions {
  initialMs: number;
  maxMs: number;
}

interface Entry {
  delayMs: number;
  /** When the failure that set this delay happened (the container's finish time). */
  lastFailureAt: number;
}

export class CrashBackoff {
  private readonly entries = new Map<string, Entry>();
  readonly initialMs: number;
  readonly maxMs: number;

  constructor(options: CrashBackoffOptions = { initialMs: 10_000, maxMs: 300_000 }) {
    this.initialMs = options.initialMs;
    this.maxMs = options.maxMs;
  }

  static key(podUid: string, container: string): string {
    return `${podUid}/${container}`;
  }

  /** Whether a restart now, for a container that finished at `finishedAt`, must wait; and how long. */
  inBackoff(key: string, finishedAt: number, now: number): { waiting: boolean; delayMs: number; remainingMs: number } {
    const entry = this.entries.get(key);
    if (!entry || this.expired(entry, finishedAt)) return { waiting: false, delayMs: 0, remainingMs: 0 };
    const remainingMs = finishedAt + entry.delayMs - now;
    return { waiting: remainingMs > 0, delayMs: entry.delayMs, remainingMs: Math.max(0, remainingMs) };
  }

  /** Records a restart of a container that finished at `finishedAt`: the next one waits longer. */
  next(key: string, finishedAt: number): number {
    const entry = this.entries.get(key);
    const delayMs = !entry || this.expired(entry, finishedAt) ? this.initialMs : Math.min(this.maxMs, entry.delayMs * 2);
    this.entries.set(key, { delayMs, lastFailureAt: finishedAt });
    return delayMs;
  }

  /** Whether a key made by key() belongs to the pod. */
  static isOfPod(key: string, podUid: string): boolean {
    return key.startsWith(`${podUid}/`);
  }

  forgetPod(podUid: string): void {
    for (const key of this.entries.keys()) if (CrashBackoff.isOfPod(key, podUid)) this.entries.delete(key);
  }

  /** Containers with a backoff kept. */
  get size(): number {
    return this.entries.size;
  }

  private expired(entry: Entry, finishedAt: number): boolean {
    return finishedAt - entry.lastFailureAt > 2 * this.maxMs;
  }
}
