/**
 * Histogram buckets the kubelet uses, so dashboards and SLO queries written for the kubelet read
 * the agent's histograms the same way (pkg/kubelet/metrics/metrics.go).
 */

/** Prometheus' ExponentialBuckets(start, factor, count): start, start·factor, … (count of them). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  let next = start;
  for (let i = 0; i < count; i++) {
    out.push(next);
    next *= factor;
  }
  return out;
}

/** kubelet's podStartupDurationBuckets: hand-picked round numbers, 0.5 s to 1 h. */
export const podStartupDurationBuckets = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];

/** kubelet_runtime_operations_duration_seconds: ExponentialBuckets(.005, 2.5, 14), 5 ms to ~745 s. */
export const runtimeOperationBuckets = exponentialBuckets(0.005, 2.5, 14);

/** Prometheus' DefBuckets (prober_probe_duration_seconds sets none, so it has these). */
export const defaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
