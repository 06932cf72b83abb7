import type { V1Pod } from '@kubernetes/client-node';
import type { PortMapping, SandboxSecurity } from '../runtime/types.ts';
import { podCgroupPath } from './pod-cgroups.ts';
import { qosClass } from './qos.ts';

/**
 * The pod-level parts of a sandbox's configuration, decided from the spec alone as kubelet's
 * kuberuntime_sandbox.go does. Pure.
 */

/** The pod's cgroup, by its QoS class (pod-cgroups.ts names them, and removes them). */
export function podCgroupParent(pod: V1Pod): string {
  return podCgroupPath(qosClass(pod), pod.metadata?.uid ?? '');
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
    hostPID: pod.spec?.hostPID ?? false,
    hostIPC: pod.spec?.hostIPC ?? false,
    sysctls: Object.fromEntries((sc.sysctls ?? []).map((s) => [s.name, s.value])),
  };
}
