import type { V1Pod } from '@kubernetes/client-node';
import type { PortMapping, SandboxSecurity } from '../runtime/types.ts';
import { qosClass } from './qos.ts';

/**
 * The pod-level parts of a sandbox's configuration, decided from the spec alone as kubelet's
 * kuberuntime_sandbox.go does. Pure.
 */

/** kubelet's cgroupfs names: Guaranteed pods sit directly under kubepods, the others under their QoS class. */
export function podCgroupParent(pod: V1Pod): string {
  const uid = pod.metadata?.uid ?? '';
  switch (qosClass(pod)) {
    case 'Guaranteed':
      return `/kubepods/pod${uid}`;
    case 'Burstable':
      return `/kubepods/burstable/pod${uid}`;
    case 'BestEffort':
      return `/kubepods/besteffort/pod${uid}`;
  }
}

/** Every port every container declares (kubelet hands all of them to the runtime, hostPort 0 included). */
export function podPortMappings(pod: V1Pod): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      const protocol = p.protocol === 'UDP' || p.protocol === 'SCTP' ? p.protocol : 'TCP';
      out.push({ protocol, containerPort: p.containerPort, hostPort: p.hostPort ?? 0, hostIP: p.hostIP ?? '' });
    }
  }
  return out;
}

/** The pod security context as the sandbox takes it; privileged if any container is. */
export function sandboxSecurity(pod: V1Pod): SandboxSecurity {
  const sc = pod.spec?.securityContext ?? {};
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return {
    ...(sc.runAsUser !== undefined ? { runAsUser: sc.runAsUser } : {}),
    ...(sc.runAsGroup !== undefined ? { runAsGroup: sc.runAsGroup } : {}),
    ...(sc.supplementalGroups?.length ? { supplementalGroups: sc.supplementalGroups } : {}),
    privileged: containers.some((c) => c.securityContext?.privileged === true),
  };
}
