import type { ProbeEvent } from './probe-manager.ts';
import type { ProbeKind } from './probe-spec.ts';

/**
 * The Kubernetes events kubelet records for probe results, from a ProbeEvent: pure, so the pod
 * worker only forwards them to its event recorder.
 */
export interface ProbeEventRecord {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

const titles: Record<ProbeKind, string> = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' };

/**
 * "Unhealthy" for a failed run ("Liveness probe failed: <output>"), and for one that errored;
 * undefined for a success. Kubelet records one per failed run, not only when a threshold is hit.
 */
export function unhealthyEvent(event: ProbeEvent): ProbeEventRecord | undefined {
  if (event.result === 'failure') return { type: 'Warning', reason: 'Unhealthy', message: `${titles[event.kind]} probe failed: ${event.output}` };
  if (event.result === 'unknown') return { type: 'Warning', reason: 'Unhealthy', message: `${titles[event.kind]} probe errored: ${event.output}` };
  return undefined;
}
