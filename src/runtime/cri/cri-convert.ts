import { posix } from 'node:path';
import { Annotations, Labels, containerLabels, sandboxLabels } from '../labels.ts';
import type {
  ContainerConfig,
  ContainerState,
  ContainerStatus,
  ImageInfo,
  RuntimeObjectSummary,
  SandboxConfig,
  SandboxStatus,
  SeccompProfile,
} from '../types.ts';
import type {
  CriContainer,
  CriContainerConfig,
  CriContainerState,
  CriContainerStatus,
  CriImage,
  Int64,
  NamespaceOption,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxStatus,
  SecurityProfile,
} from './cri-messages.ts';

/** kubelet's --root-dir counterpart when the owner names none. */
const defaultRootDir = '/var/lib/node-agent';

/**
 * Pure mappings between the agent's runtime types and CRI messages, the way kubelet's kuberuntime
 * builds PodSandboxConfig and ContainerConfig. No I/O, so each rule is tested with plain objects.
 */

/** Which installation an object belongs to: every object carries it, every list is filtered by it. */
export interface Owner {
  nodeName: string;
  /** The agent's root directory (agents sharing a node name in labs on one machine). */
  rootDir?: string;
}

export function ownerLabels(owner: Owner): Record<string, string> {
  return { [Labels.managedBy]: 'true', [Labels.node]: owner.nodeName, ...(owner.rootDir ? { [Labels.root]: owner.rootDir } : {}) };
}

/** Never hand out what another agent, or nobody of ours, made. */
export function isOwned(labels: Record<string, string>, owner: Owner): boolean {
  return labels[Labels.managedBy] === 'true' && labels[Labels.node] === owner.nodeName && (owner.rootDir === undefined || labels[Labels.root] === owner.rootDir);
}

/** kubelet's namespace choices: network the pod's or the node's (hostNetwork), PID per hostPID and shareProcessNamespace, IPC the pod's or the node's (hostIPC). */
export function namespaceOptions(sandbox: SandboxConfig): NamespaceOption {
  const { hostPID, hostIPC } = sandbox.security;
  return { network: sandbox.hostNetwork ? 'NODE' : 'POD', pid: hostPID ? 'NODE' : sandbox.shareProcessNamespace ? 'POD' : 'CONTAINER', ipc: hostIPC ? 'NODE' : 'POD' };
}

const int64 = (n: number): Int64 => String(Math.trunc(n));

export function podSandboxConfig(config: SandboxConfig, owner: Owner): PodSandboxConfig {
  const { pod, security } = config;
  return {
    metadata: { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: pod.attempt },
    // runc cannot set a hostname in the node's UTS namespace; the runtime uses the node's own.
    hostname: config.hostNetwork ? '' : config.hostname,
    logDirectory: config.logDirectory,
    ...(config.dnsConfig ? { dnsConfig: { servers: config.dnsConfig.servers, searches: config.dnsConfig.searches, options: config.dnsConfig.options } } : {}),
    portMappings: config.portMappings.map((p) => ({ protocol: p.protocol, containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIP })),
    labels: { ...sandboxLabels(pod, config.labels), ...ownerLabels(owner) },
    annotations: { ...config.annotations, [Annotations.sandboxAttempt]: String(pod.attempt) },
    linux: {
      cgroupParent: config.cgroupParent,
      securityContext: {
        namespaceOptions: namespaceOptions(config),
        ...(security.runAsUser !== undefined ? { runAsUser: { value: int64(security.runAsUser) } } : {}),
        ...(security.runAsGroup !== undefined ? { runAsGroup: { value: int64(security.runAsGroup) } } : {}),
        ...(security.supplementalGroups ? { supplementalGroups: security.supplementalGroups.map(int64) } : {}),
        privileged: security.privileged,
      },
      ...(Object.keys(security.sysctls).length > 0 ? { sysctls: security.sysctls } : {}),
    },
  };
}

/**
 * The container's seccomp profile both ways kubelet sends it: the `seccomp` message, and the
 * deprecated path string that runtimes older than the message still read. A Localhost profile
 * is a file below <root-dir>/seccomp, named by its absolute path as kubelet does.
 */
export function criSeccomp(profile: SeccompProfile, rootDir: string): { seccomp: SecurityProfile; seccompProfilePath: string } {
  switch (profile.type) {
    case 'RuntimeDefault':
      return { seccomp: { profileType: 'RuntimeDefault' }, seccompProfilePath: 'runtime/default' };
    case 'Localhost': {
      const path = posix.join(rootDir, 'seccomp', profile.localhostProfile);
      return { seccomp: { profileType: 'Localhost', localhostRef: path }, seccompProfilePath: `localhost/${path}` };
    }
    default:
      return { seccomp: { profileType: 'Unconfined' }, seccompProfilePath: 'unconfined' };
  }
}

export function criContainerConfig(sandboxId: string, config: ContainerConfig, sandbox: SandboxConfig, owner: Owner): CriContainerConfig {
  const { pod } = sandbox;
  const s = config.security;
  const r = config.resources;
  return {
    metadata: { name: config.name, attempt: config.attempt },
    image: { image: config.image },
    // CRI's command replaces the image's ENTRYPOINT and args its CMD: Kubernetes' own rule.
    command: config.command ?? [],
    args: config.args ?? [],
    workingDir: config.workingDir ?? '',
    envs: config.env.map((e) => ({ key: e.name, value: e.value })),
    mounts: config.mounts.map((m) => ({ containerPath: m.containerPath, hostPath: m.hostPath, readonly: m.readOnly })),
    labels: { ...containerLabels(sandboxId, config.name, pod, config.labels), ...ownerLabels(owner) },
    annotations: { ...config.annotations, [Annotations.containerAttempt]: String(config.attempt) },
    logPath: config.logPath,
    stdin: config.stdin,
    stdinOnce: false,
    tty: config.tty,
    linux: {
      resources: {
        ...(r.cpuShares !== undefined ? { cpuShares: int64(r.cpuShares) } : {}),
        ...(r.cpuQuota !== undefined ? { cpuQuota: int64(r.cpuQuota), cpuPeriod: int64(r.cpuPeriod ?? 100_000) } : {}),
        // Swap equal to the limit: no swap on top of it, as the Docker backend's MemorySwap.
        ...(r.memoryLimitBytes !== undefined ? { memoryLimitInBytes: int64(r.memoryLimitBytes), memorySwapLimitInBytes: int64(r.memoryLimitBytes) } : {}),
      },
      securityContext: {
        capabilities: { addCapabilities: s.capAdd, dropCapabilities: s.capDrop },
        privileged: s.privileged,
        namespaceOptions: namespaceOptions(sandbox),
        ...(s.runAsUser !== undefined ? { runAsUser: { value: int64(s.runAsUser) } } : {}),
        ...(s.runAsGroup !== undefined ? { runAsGroup: { value: int64(s.runAsGroup) } } : {}),
        readonlyRootfs: s.readOnlyRootFilesystem,
        ...(s.supplementalGroups ? { supplementalGroups: s.supplementalGroups.map(int64) } : {}),
        noNewPrivs: s.noNewPrivileges,
        ...criSeccomp(s.seccomp, owner.rootDir ?? defaultRootDir),
      },
    },
  };
}

/** CRI times are nanoseconds since the epoch as int64; 0 means "never". */
export function nanosToDate(nanos: Int64): Date | undefined {
  if (!nanos || nanos === '0') return undefined;
  return new Date(Number(BigInt(nanos) / 1_000_000n));
}

export function toSandboxStatus(s: PodSandboxStatus, netnsPath = ''): SandboxStatus {
  const ready = s.state === 'SANDBOX_READY';
  return {
    id: s.id,
    pod: {
      name: s.metadata?.name ?? s.labels[Labels.podName] ?? '',
      namespace: s.metadata?.namespace ?? s.labels[Labels.podNamespace] ?? '',
      uid: s.metadata?.uid ?? s.labels[Labels.podUid] ?? '',
      attempt: s.metadata?.attempt ?? 0,
    },
    state: ready ? 'ready' : 'notready',
    createdAt: nanosToDate(s.createdAt) ?? new Date(0),
    ip: s.network?.ip ?? '',
    netnsPath: ready ? netnsPath : '',
    labels: s.labels,
    annotations: s.annotations,
  };
}

const containerStates: Record<CriContainerState, ContainerState> = {
  CONTAINER_CREATED: 'created',
  CONTAINER_RUNNING: 'running',
  CONTAINER_EXITED: 'exited',
  CONTAINER_UNKNOWN: 'unknown',
};

export function toContainerStatus(s: CriContainerStatus): ContainerStatus {
  const state = containerStates[s.state];
  const exited = state === 'exited';
  const startedAt = nanosToDate(s.startedAt);
  const finishedAt = exited ? nanosToDate(s.finishedAt) : undefined;
  const reason = exited ? s.reason || (s.exitCode === 0 ? 'Completed' : 'Error') : undefined;
  return {
    id: s.id,
    sandboxId: s.labels[Labels.sandboxId] ?? '',
    name: s.metadata?.name ?? s.labels[Labels.containerName] ?? '',
    attempt: s.metadata?.attempt ?? Number(s.annotations[Annotations.containerAttempt] ?? 0),
    state,
    image: s.image?.image ?? '',
    imageRef: s.imageRef,
    createdAt: nanosToDate(s.createdAt) ?? new Date(0),
    ...(startedAt ? { startedAt } : {}),
    ...(finishedAt ? { finishedAt } : {}),
    ...(exited ? { exitCode: s.exitCode } : {}),
    ...(reason ? { reason } : {}),
    ...(exited && s.message ? { message: s.message } : {}),
    labels: s.labels,
    annotations: s.annotations,
    ...(s.logPath ? { logPath: s.logPath } : {}),
  };
}

export function sandboxSummary(s: PodSandbox): RuntimeObjectSummary {
  return { id: s.id, kind: 'sandbox', state: s.state, labels: s.labels, annotations: s.annotations };
}

export function containerSummary(c: CriContainer): RuntimeObjectSummary {
  return { id: c.id, kind: 'container', state: c.state, labels: c.labels, annotations: c.annotations };
}

export function toImageInfo(i: CriImage): ImageInfo {
  return {
    id: i.id,
    repoTags: i.repoTags,
    repoDigests: i.repoDigests,
    sizeBytes: Number(i.size),
    ...(i.uid ? { uid: Number(i.uid.value) } : i.username ? { username: i.username } : {}),
  };
}
