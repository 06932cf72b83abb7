import { Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { RuntimeObjectSummary } from '../runtime/types.ts';
import { podStartupDurationBuckets } from './buckets.ts';
import { PodStartTracker } from './pod-start-tracker.ts';
import { ProberMetrics } from './prober-metrics.ts';
import { RuntimeMetrics } from './runtime-metrics.ts';

/** kubelet's container_state values (kubecontainer.State). */
const containerStates = ['created', 'running', 'exited', 'unknown'] as const;
type ContainerStateLabel = (typeof containerStates)[number];

/** A runtime's own word for a container's state (Docker "running", CRI "CONTAINER_RUNNING"), as kubelet's label. */
export function containerStateLabel(state: string): ContainerStateLabel {
  const s = state.toLowerCase().replace(/^container_/, '');
  if (s === 'dead') return 'exited';
  return (containerStates as readonly string[]).includes(s) ? (s as ContainerStateLabel) : 'unknown';
}

/** Containers (not sandboxes) by kubelet's state label; states with none are left out but 'running'. */
export function countContainers(summaries: readonly RuntimeObjectSummary[]): Map<ContainerStateLabel, number> {
  const counts = new Map<ContainerStateLabel, number>([['running', 0]]);
  for (const s of summaries) {
    if (s.kind !== 'container') continue;
    const label = containerStateLabel(s.state);
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return counts;
}

/**
 * The metrics the kubelet has and the agent measures as things happen (rather than reading a
 * total when scraped, as agent-metrics.ts does): runtime operations, pod starts, probe results,
 * and running containers. Made before the parts that report to them (the runtime is wrapped
 * first), registered into the agent's registry once it exists; the prober's series are also in
 * a registry of their own for /metrics/probes, as the kubelet serves them.
 */
export class KubeletMetrics {
  readonly runtime = new RuntimeMetrics();
  readonly prober = new ProberMetrics();
  readonly podStarts: PodStartTracker;
  private readonly podStartDuration = new Histogram({
    name: 'kubelet_pod_start_duration_seconds',
    help: 'Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run',
    buckets: podStartupDurationBuckets,
    registers: [],
  });
  private readonly podStartSli = new Histogram({
    name: 'kubelet_pod_start_sli_duration_seconds',
    help: 'Duration in seconds to start a pod, excluding time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch',
    buckets: podStartupDurationBuckets,
    registers: [],
  });
  private readonly podStartTotal = new Histogram({
    name: 'kubelet_pod_start_total_duration_seconds',
    help: 'Duration in seconds to start a pod since creation, including time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch',
    buckets: podStartupDurationBuckets,
    registers: [],
  });
  private readonly runningContainers: Gauge;
  private listSummaries: (() => Promise<RuntimeObjectSummary[]>) | undefined;

  constructor() {
    this.podStarts = new PodStartTracker({
      onStart: (o) => {
        this.podStartDuration.observe(o.sinceFirstSeen);
        this.podStartSli.observe(o.sli);
        this.podStartTotal.observe(o.sinceCreation);
      },
    });
    // collect() is called with the gauge as `this`; the source is reached through this arrow.
    const source = (): (() => Promise<RuntimeObjectSummary[]>) | undefined => this.listSummaries;
    this.runningContainers = new Gauge({
      name: 'kubelet_running_containers',
      help: 'Number of containers currently running',
      labelNames: ['container_state'],
      registers: [],
      // Read from the runtime when scraped (one list call, no inspection); a runtime that does
      // not answer leaves the gauge empty for this scrape rather than failing the whole page.
      async collect() {
        this.reset();
        const list = source();
        if (!list) return;
        const summaries = await list().catch(() => undefined);
        if (!summaries) return;
        for (const [state, n] of countContainers(summaries)) this.set({ container_state: state }, n);
      },
    });
  }

  /** Where kubelet_running_containers reads the containers from (the runtime, once it exists). */
  countContainersFrom(list: () => Promise<RuntimeObjectSummary[]>): void {
    this.listSummaries = list;
  }

  metrics(): Metric[] {
    return [this.podStartDuration, this.podStartSli, this.podStartTotal, this.runningContainers, ...this.runtime.metrics(), ...this.prober.metrics()];
  }

  /** /metrics/probes: the prober's series alone, with the same default labels as the main registry. */
  probesRegistry(defaultLabels: Record<string, string>): Registry {
    const registry = new Registry();
    registry.setDefaultLabels(defaultLabels);
    for (const m of this.prober.metrics()) registry.registerMetric(m);
    return registry;
  }
}
