import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { ContainerConfig, Mount, PodRef, Resources, SandboxConfig, SecurityConfig } from '../runtime/types.ts';
import { Annotations, Labels } from '../runtime/labels.ts';
import { expand } from './env.ts';
import { parseResource } from './qos.ts';
import { containerHash, gracePeriodSeconds } from './pod-util.ts';

export const cpuPeriodUs = 100_000;

/** cgroup settings from requests and limits, with kubelet's formulas. */
export function containerResources(container: V1Container): Resources {
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const cpuRequest = requests['cpu'] ?? limits['cpu'];
  const resources: Resources = {
    // milliCPU * 1024 / 1000, at least 2 (the kernel's minimum): a BestEffort container gets 2.
    cpuShares: cpuRequest === undefined ? 2 : Math.max(2, Math.floor(parseResource(cpuRequest) * 1024)),
  };
  if (limits['cpu'] !== undefined) {
    resources.cpuPeriod = cpuPeriodUs;
    resources.cpuQuota = Math.max(1000, Math.ceil(parseResource(limits['cpu']) * cpuPeriodUs));
  }
  if (limits['memory'] !== undefined) resources.memoryLimitBytes = Math.floor(parseResource(limits['memory']));
  return resources;
}

export function containerSecurity(pod: V1Pod, container: V1Container): SecurityConfig {
  const podSc = pod.spec?.securityContext ?? {};
  const sc = container.securityContext ?? {};
  const runAsUser = sc.runAsUser ?? podSc.runAsUser;
  const runAsGroup = sc.runAsGroup ?? podSc.runAsGroup;
  return {
    ...(runAsUser !== undefined ? { runAsUser } : {}),
    ...(runAsGroup !== undefined ? { runAsGroup } : {}),
    ...(podSc.supplementalGroups?.length ? { supplementalGroups: podSc.supplementalGroups } : {}),
    privileged: sc.privileged ?? false,
    capAdd: sc.capabilities?.add ?? [],
    capDrop: sc.capabilities?.drop ?? [],
    readOnlyRootFilesystem: sc.readOnlyRootFilesystem ?? false,
  };
}

export function podLabels(ref: PodRef): Record<string, string> {
  return { [Labels.podName]: ref.name, [Labels.podNamespace]: ref.namespace, [Labels.podUid]: ref.uid };
}

export type MountResult = { ok: true; mounts: Mount[] } | { ok: false; message: string };

/** The container's volumeMounts as host paths, given where each volume of the pod was set up. */
export function containerMounts(container: V1Container, volumes: ReadonlyMap<string, { hostPath: string; readOnly: boolean }>): MountResult {
  const mounts: Mount[] = [];
  for (const vm of container.volumeMounts ?? []) {
    const volume = volumes.get(vm.name);
    if (!volume) return { ok: false, message: `volume "${vm.name}" is mounted by container ${container.name} but not defined or not set up` };
    if (vm.subPath !== undefined && vm.subPath !== '' && (vm.subPath.startsWith('/') || vm.subPath.split('/').includes('..'))) {
      return { ok: false, message: `subPath "${vm.subPath}" of volume "${vm.name}" must be a relative path without ".."` };
    }
    const hostPath = vm.subPath ? `${volume.hostPath}/${vm.subPath}` : volume.hostPath;
    mounts.push({ hostPath, containerPath: vm.mountPath, readOnly: (vm.readOnly ?? false) || volume.readOnly });
  }
  return { ok: true, mounts };
}

/** The runtime's container configuration for one attempt of a container. Pure. */
export function buildContainerConfig(pod: V1Pod, container: V1Container, attempt: number, env: { name: string; value: string }[], mounts: Mount[], sandbox: SandboxConfig): ContainerConfig {
  const vars = new Map(env.map((e) => [e.name, e.value]));
  return {
    name: container.name,
    attempt,
    image: container.image ?? '',
    ...(container.command ? { command: container.command.map((c) => expand(c, vars)) } : {}),
    ...(container.args ? { args: container.args.map((a) => expand(a, vars)) } : {}),
    ...(container.workingDir ? { workingDir: container.workingDir } : {}),
    env,
    mounts,
    resources: containerResources(container),
    security: containerSecurity(pod, container),
    labels: { ...podLabels(sandbox.pod), [Labels.containerName]: container.name },
    annotations: {
      [Annotations.containerAttempt]: String(attempt),
      [Annotations.containerHash]: containerHash(container),
      [Annotations.terminationGracePeriod]: String(gracePeriodSeconds(pod)),
    },
    logPath: `${container.name}/${attempt}.log`,
    stdin: container.stdin ?? false,
    tty: container.tty ?? false,
  };
}
