import type { V1Pod } from '@kubernetes/client-node';
import type { PodStatusJson } from '../pods/pod-status.ts';

/** One pod's start, in seconds, as the three kubelet histograms measure it. */
export interface PodStartObservation {
  /** kubelet_pod_start_duration_seconds: from the agent first seeing the pod to all its containers running. */
  sinceFirstSeen: number;
  /** kubelet_pod_start_total_duration_seconds: from the pod's creationTimestamp, pulls included. */
  sinceCreation: number;
  /** kubelet_pod_start_sli_duration_seconds: sinceCreation less the time spent pulling images. */
  sli: number;
}

interface PodStart {
  firstSeenMs: number;
  createdMs: number | undefined;
  firstPullStartMs: number | undefined;
  lastPullEndMs: number | undefined;
  /** Observed already, or not to be (the pod had started before this agent saw it). */
  done: boolean;
}

/**
 * When each pod was first seen and whether its start has been observed, so each pod's start is
 * measured exactly once (kubelet's pod_startup_latency_tracker and the firstSeen time of
 * kubelet.go's SyncPod). A pod whose status already has a startTime when first seen started
 * under an earlier agent (a restart adopting its pods): it is not measured, or every restart
 * would report each pod as having started in no time. The measuring point is the first status
 * the agent generates that shows every container running (kubelet's SLI waits for that status to
 * come back through the watch; the difference is one round trip). Pure: times are given.
 * Entries go when the pod is forgotten; at most `maxPods` are kept whatever happens.
 */
export class PodStartTracker {
  private readonly pods = new Map<string, PodStart>();
  private readonly maxPods: number;
  private readonly onStart: (o: PodStartObservation) => void;

  constructor(options: { onStart: (o: PodStartObservation) => void; maxPods?: number }) {
    this.onStart = options.onStart;
    this.maxPods = options.maxPods ?? 10_000;
  }

  /** The pod reached the agent (its first sync); later calls for the same uid change nothing. */
  seen(pod: V1Pod, nowMs: number): void {
    const uid = pod.metadata?.uid ?? '';
    if (!uid || this.pods.has(uid)) return;
    if (this.pods.size >= this.maxPods) {
      // Oldest first (a Map iterates in insertion order): a leak elsewhere must not grow this.
      const oldest = this.pods.keys().next();
      if (!oldest.done) this.pods.delete(oldest.value);
    }
    const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : NaN;
    this.pods.set(uid, {
      firstSeenMs: nowMs,
      createdMs: Number.isFinite(created) ? created : undefined,
      firstPullStartMs: undefined,
      lastPullEndMs: undefined,
      done: Boolean(pod.status?.startTime),
    });
  }

  /** An image pull for the pod ran from startMs to endMs. */
  pulled(uid: string, startMs: number, endMs: number): void {
    const p = this.pods.get(uid);
    if (!p || p.done) return;
    p.firstPullStartMs = p.firstPullStartMs === undefined ? startMs : Math.min(p.firstPullStartMs, startMs);
    p.lastPullEndMs = p.lastPullEndMs === undefined ? endMs : Math.max(p.lastPullEndMs, endMs);
  }

  /** A status the agent generated for the pod; the first one with all containers running is measured. */
  status(pod: V1Pod, status: PodStatusJson, nowMs: number): void {
    const p = this.pods.get(pod.metadata?.uid ?? '');
    if (!p || p.done || !allRunning(pod, status)) return;
    p.done = true;
    const sinceCreation = p.createdMs === undefined ? (nowMs - p.firstSeenMs) / 1000 : (nowMs - p.createdMs) / 1000;
    const pulling = p.firstPullStartMs !== undefined && p.lastPullEndMs !== undefined ? (p.lastPullEndMs - p.firstPullStartMs) / 1000 : 0;
    this.onStart({
      sinceFirstSeen: Math.max(0, (nowMs - p.firstSeenMs) / 1000),
      sinceCreation: Math.max(0, sinceCreation),
      sli: Math.max(0, sinceCreation - pulling),
    });
  }

  forget(uid: string): void {
    this.pods.delete(uid);
  }

  get size(): number {
    return this.pods.size;
  }
}

/** Every app container of the spec has a running state (kubelet's hasPodStartedSLO, plus "all of them are there"). */
export function allRunning(pod: V1Pod, status: PodStatusJson): boolean {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  if (names.length === 0) return false;
  const running = new Set((status.containerStatuses ?? []).filter((c) => c.state.running?.startedAt).map((c) => c.name));
  return names.every((n) => running.has(n));
}
