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

/** Parses a cpu or memory quantity to a number (cores or bytes); good enough to compare and convert. */
export function parseResource(text: string): number {
  const match = /^([0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(String(text).trim());
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  const factor: Record<string, number> = {
    m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  };
  return value * (match[2] ? factor[match[2]] ?? Number.NaN : 1);
}
