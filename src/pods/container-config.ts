import type { V1Container, V1Pod, V1SeccompProfile } from '@kubernetes/client-node';
import type { ContainerConfig, Mount, PodRef, Resources, SandboxConfig, SeccompProfile, SecurityConfig } from '../runtime/types.ts';
import { Annotations, Labels } from '../runtime/labels.ts';
import { expand } from './env.ts';
import { subPathTextError } from '../volumes/subpath-rules.ts';
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
    // Kubelet: no_new_privs exactly when allowPrivilegeEscalation is false (unset leaves it off).
    noNewPrivileges: sc.allowPrivilegeEscalation === false,
    seccomp: seccompProfile(sc.seccompProfile ?? podSc.seccompProfile),
  };
}

/** The container's seccomp profile, the container's field over the pod's; unset is Unconfined, kubelet's default. */
function seccompProfile(profile: V1SeccompProfile | undefined): SeccompProfile {
  if (profile?.type === 'RuntimeDefault') return { type: 'RuntimeDefault' };
  if (profile?.type === 'Localhost') return { type: 'Localhost', localhostProfile: profile.localhostProfile ?? '' };
  return { type: 'Unconfined' };
}

export function podLabels(ref: PodRef): Record<string, string> {
  return { [Labels.podName]: ref.name, [Labels.podNamespace]: ref.namespace, [Labels.podUid]: ref.uid };
}

/**
 * A volumeMount as the runtime will get it. One with a subPath is not ready yet: its hostPath is
 * the whole volume, and the volume layer must first check the subPath and bind it somewhere the
 * container cannot redirect (PodVolumes.prepareSubPath) before it replaces hostPath.
 */
export interface PlannedMount extends Mount {
  subPath?: { volume: string; index: number; path: string };
}

export type MountResult = { ok: true; mounts: PlannedMount[] } | { ok: false; message: string };

/**
 * subPathExpr with the container's variables expanded as kubelet does: every $(NAME) must have a
 * non-empty value. Pure.
 */
export function expandSubPathExpr(expr: string, vars: ReadonlyMap<string, string>): { ok: true; path: string } | { ok: false; message: string } {
  const missing = new Set<string>();
  for (const m of expr.matchAll(/\$\$|\$\(([-._a-zA-Z0-9]+)\)/g)) {
    const name = m[1];
    if (name !== undefined && !vars.get(name)) missing.add(name);
  }
  if (missing.size > 0) return { ok: false, message: `missing value for ${[...missing].sort().join(', ')}` };
  return { ok: true, path: expand(expr, vars) };
}

/**
 * The container's volumeMounts as host paths, given where each volume of the pod was set up and
 * the container's environment (for subPathExpr). Pure: the subPath's text is checked here, where
 * it leads on disk by the volume layer.
 */
export function containerMounts(container: V1Container, volumes: ReadonlyMap<string, { hostPath: string; readOnly: boolean }>, env: ReadonlyMap<string, string> = new Map()): MountResult {
  const mounts: PlannedMount[] = [];
  for (const [index, vm] of (container.volumeMounts ?? []).entries()) {
    const volume = volumes.get(vm.name);
    if (!volume) return { ok: false, message: `volume "${vm.name}" is mounted by container ${container.name} but not defined or not set up` };
    const failed = (message: string): MountResult => ({ ok: false, message: `failed to prepare subPath for volumeMount "${vm.name}" of container "${container.name}": ${message}` });
    if (vm.subPath && vm.subPathExpr) return failed('subPath and subPathExpr are mutually exclusive');
    let subPath = vm.subPath ?? '';
    if (vm.subPathExpr) {
      const expanded = expandSubPathExpr(vm.subPathExpr, env);
      if (!expanded.ok) return failed(expanded.message);
      subPath = expanded.path;
    }
    const textError = subPath === '' ? undefined : subPathTextError(subPath);
    if (textError) return failed(textError);
    const readOnly = (vm.readOnly ?? false) || volume.readOnly;
    mounts.push({ hostPath: volume.hostPath, containerPath: vm.mountPath, readOnly, ...(subPath !== '' ? { subPath: { volume: vm.name, index, path: subPath } } : {}) });
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
