import { Counter, Histogram, type Metric } from 'prom-client';
import type { ProbeKind } from '../probes/probe-spec.ts';
import { defaultBuckets } from './buckets.ts';

/** What a probe run concerned; the labels kubelet's prober puts on its series. */
export interface ProbedContainer {
  podUid: string;
  podName: string;
  namespace: string;
  containerName: string;
}

/** What the probe manager reports of every run (probe-manager.ts calls it). */
export interface ProbeObserver {
  ran(kind: ProbeKind, target: ProbedContainer, result: 'success' | 'failure' | 'unknown', seconds: number): void;
  /** The pod's probes stopped for good: its series go, as kubelet's worker deletes them when it stops. */
  forgetPod(podUid: string): void;
}

/** kubelet's probe_type values (probeType.String()). */
const probeTypes: Record<ProbeKind, string> = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' };
/** kubelet's probeResultSuccessful / Failed / Unknown. */
const results = { success: 'successful', failure: 'failed', unknown: 'unknown' } as const;

/**
 * prober_probe_total and prober_probe_duration_seconds with kubelet's names, help and labels
 * (pkg/kubelet/prober/prober_manager.go). As the kubelet does, the duration is observed for
 * successful and unknown runs only. Series are per container, so they are removed with their
 * pod: the label sets in use are kept per pod uid, and only for pods whose probes run.
 */
export class ProberMetrics implements ProbeObserver {
  private readonly total = new Counter({
    name: 'prober_probe_total',
    help: 'Cumulative number of a liveness, readiness or startup probe for a container by result.',
    labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'],
    registers: [],
  });
  private readonly duration = new Histogram({
    name: 'prober_probe_duration_seconds',
    help: 'Duration in seconds for a probe response.',
    labelNames: ['probe_type', 'container', 'pod', 'namespace'],
    buckets: defaultBuckets,
    registers: [],
  });
  /** pod uid → the label sets of its series, by their JSON (one entry per series). */
  private readonly series = new Map<string, Map<string, { kind: 'total' | 'duration'; labels: Record<string, string> }>>();

  ran(kind: ProbeKind, target: ProbedContainer, result: 'success' | 'failure' | 'unknown', seconds: number): void {
    const base = { probe_type: probeTypes[kind], container: target.containerName, pod: target.podName, namespace: target.namespace };
    const totalLabels = { ...base, result: results[result], pod_uid: target.podUid };
    this.total.inc(totalLabels);
    this.remember(target.podUid, 'total', totalLabels);
    if (result !== 'failure') {
      this.duration.observe(base, seconds);
      this.remember(target.podUid, 'duration', base);
    }
  }

  forgetPod(podUid: string): void {
    const kept = this.series.get(podUid);
    if (!kept) return;
    for (const s of kept.values()) (s.kind === 'total' ? this.total : this.duration).remove(s.labels);
    this.series.delete(podUid);
  }

  /** Pods with series kept (tests, and to see it stays bounded). */
  get pods(): number {
    return this.series.size;
  }

  metrics(): Metric[] {
    return [this.total, this.duration];
  }

  private remember(podUid: string, kind: 'total' | 'duration', labels: Record<string, string>): void {
    let kept = this.series.get(podUid);
    if (!kept) {
      kept = new Map<string, { kind: 'total' | 'duration'; labels: Record<string, string> }>();
      this.series.set(podUid, kept);
    }
    const key = `${kind}:${JSON.stringify(labels)}`;
    if (!kept.has(key)) kept.set(key, { kind, labels });
  }
}
