import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { KubeletMetrics } from './kubelet-metrics.ts';

/**
 * The agent's Prometheus metrics, served at /metrics beside /healthz. Each is read from the part
 * that already keeps the number (the problem reporter, the status and lease loops, the pod
 * manager) when scraped, so no loop pays for metrics it does not serve. Names follow the projects
 * they stand in for: node-problem-detector's problem_counter and problem_gauge as NPD spells them,
 * kubelet's names where the kubelet has the metric (kubelet_running_pods), node_agent_ for the
 * rest, and prom-client's process and Node.js defaults.
 */

/** What the metrics read; a part that does not run (standalone mode has no lease) is left out. */
export interface MetricSources {
  nodeName: string;
  problems?: {
    counts: ReadonlyMap<string, number>;
    gauges(): { type: string; reason: string; value: 0 | 1 }[];
  };
  runningPods?: () => number;
  nodeStatus?: { patches: number; failures: number };
  lease?: { renewals: number; failures: number };
  events?: () => { posted: number; failed: number; dropped: number };
  probeRuns?: () => number;
  peerSyncs?: () => number;
  /** The kubelet's own metrics, measured as things happen (kubelet-metrics.ts): one registry serves both. */
  kubelet?: KubeletMetrics;
}

export function agentMetrics(sources: MetricSources): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ node: sources.nodeName });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const { problems } = sources;
  if (problems) {
    new Counter({
      name: 'problem_counter',
      help: 'Number of times a specific type of problem has occurred (node-problem-detector).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of problems.counts) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'problem_gauge',
      help: 'Whether a specific type of problem is affecting the node: 1 while its condition is True with that reason (node-problem-detector).',
      labelNames: ['type', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const g of problems.gauges()) this.set({ type: g.type, reason: g.reason }, g.value);
      },
    });
  }
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  };
  // Totals kept by the loops themselves; exposed as counters (reset and set to the total when scraped).
  const total = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  const { runningPods, nodeStatus, lease, events, probeRuns, peerSyncs } = sources;
  // kubelet's own name, as every metric with a kubelet counterpart keeps.
  if (runningPods) gauge('kubelet_running_pods', 'Number of pods that have a running pod sandbox (the agent: admitted and not terminating).', runningPods);
  if (nodeStatus) {
    total('node_agent_node_status_patches_total', 'Node status patches the apiserver accepted.', () => nodeStatus.patches);
    total('node_agent_node_status_failures_total', 'Node status updates that failed.', () => nodeStatus.failures);
  }
  if (lease) {
    total('node_agent_lease_renewals_total', 'Node Lease renewals.', () => lease.renewals);
    total('node_agent_lease_failures_total', 'Node Lease renewals that failed.', () => lease.failures);
  }
  if (events) {
    total('node_agent_events_posted_total', 'Events written to the apiserver.', () => events().posted);
    total('node_agent_events_failed_total', 'Events the apiserver refused or that could not be sent.', () => events().failed);
    total('node_agent_events_dropped_total', 'Events dropped because too many waited to be sent.', () => events().dropped);
  }
  if (probeRuns) total('node_agent_probe_runs_total', 'Liveness, readiness and startup probe runs finished.', probeRuns);
  if (peerSyncs) total('node_agent_network_peer_syncs_total', 'Times the routes or tunnels to the other nodes were brought in line.', peerSyncs);
  for (const m of sources.kubelet?.metrics() ?? []) registry.registerMetric(m);
  return registry;
}
