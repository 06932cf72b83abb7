/**
 * usageNanoCores needs a rate, and a cgroup gives only a running total of CPU time. cAdvisor
 * samples every container on its own housekeeping timer and reports the rate between its last two
 * samples; the agent samples only when the Summary is asked for, and reports the rate since the
 * previous ask for the same cgroup. So the first ask after a start (or for a new pod) has no rate
 * and leaves usageNanoCores out, as the kubelet does before cAdvisor has two samples. Asks closer
 * together than `minIntervalMs` reuse the last rate and keep the older sample as the baseline, so
 * two scrapers a moment apart do not get a rate over a few milliseconds of noise. A total that
 * went down is a new cgroup under the same name (a pod recreated): it starts over.
 *
 * Bounded: `retain` drops the cgroups not in the latest ask (pods that are gone), and no more
 * than `maxEntries` are kept whatever the callers do. Pure: times are given.
 */
export class CpuRates {
  private readonly last = new Map<string, { usageNs: number; atMs: number; rate: number | undefined }>();
  private readonly minIntervalMs: number;
  private readonly maxEntries: number;

  constructor(options: { minIntervalMs?: number; maxEntries?: number } = {}) {
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.maxEntries = options.maxEntries ?? 5000;
  }

  /** The rate in nanocores (1e9 = one core busy) since the previous sample of `key`, if there is one. */
  rate(key: string, usageNs: number, atMs: number): number | undefined {
    const prev = this.last.get(key);
    if (prev && usageNs >= prev.usageNs && atMs - prev.atMs < this.minIntervalMs) return prev.rate;
    let rate: number | undefined;
    if (prev && usageNs >= prev.usageNs && atMs > prev.atMs) rate = Math.round(((usageNs - prev.usageNs) * 1000) / (atMs - prev.atMs));
    this.last.delete(key); // re-inserted last: the Map's order is oldest first, for the cap below
    this.last.set(key, { usageNs, atMs, rate });
    while (this.last.size > this.maxEntries) {
      const oldest = this.last.keys().next();
      if (oldest.done) break;
      this.last.delete(oldest.value);
    }
    return rate;
  }

  /** Forgets every cgroup not in `keys`. */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.last.keys()) if (!keys.has(key)) this.last.delete(key);
  }

  get size(): number {
    return this.last.size;
  }
}
