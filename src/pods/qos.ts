import { parseQuantity } from '../util/quantity.ts';
import type { V1Pod } from '@kubernetes/client-node';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/**
 * The pod's QoS class, by Kubernetes' rules: BestEffort when no container sets any cpu or memory
 * request or limit; Guaranteed when every container has cpu and memory limits, and requests equal
 * to them (a request left out defaults to the limit); Burstable otherwise.
 */
export function qosClass(pod: V1Pod): QosClass {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const requests = c.resources?.requests ?? {};
    const limits = c.resources?.limits ?? {};
    for (const resource of ['cpu', 'memory']) {
      const request = requests[resource];
      const limit = limits[resource];
      if (request !== undefined || limit !== undefined) any = true;
      if (limit === undefined) guaranteed = false;
      else if (request !== undefined && !sameQuantity(request, limit)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function sameQuantity(a: string, b: string): boolean {
  return parseResource(a) === parseResource(b);
}

/** Parses a cpu or memory quantity to a number (cores or bytes); NaN when malformed. */
export function parseResource(text: string): number {
  return parseQuantity(String(text)) ?? Number.NaN;
}
