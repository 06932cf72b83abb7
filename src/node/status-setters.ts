import type { AgentConfig } from '../config/types.ts';
import { parseQuantity, parseThreshold, thresholdBytes, formatKi } from '../util/quantity.ts';
import type { MachineInfo, MachineUsage } from './machine-info.ts';
import type { ProblemCondition } from '../problems/problem-types.ts';
import { kubeTime, type NodeCondition, type NodeStatus } from './node-types.ts';

/**
 * Node status as a list of small pure setters, the way kubelet's nodestatus package builds it:
 * each takes what it needs from `StatusInputs` and fills its part of the status. The caller does
 * the I/O (reading /proc, asking the runtime) and hands the results in.
 */
export interface StatusInputs {
  config: AgentConfig;
  agentVersion: string;
  machine: MachineInfo;
  usage: MachineUsage;
  /** "docker://20.10.24", or undefined while the runtime has not answered yet. */
  runtimeVersion: string | undefined;
  /** Why the node cannot run pods right now; empty means ready. */
  notReadyReasons: string[];
  /** The container runtime's own health (its Status call, within a timeout). */
  runtimeHealth: RuntimeHealth;
  /** The problem monitors' conditions (kernel deadlock, read-only filesystem, ...). */
  problemConditions?: ProblemCondition[];
  now: Date;
}

/** What the runtime said about itself: healthy, or unhealthy with the reason of the condition below. */
export interface RuntimeHealth {
  healthy: boolean;
  /** containerd, docker: names the unhealthy reason as node-problem-detector does (ContainerdUnhealthy). */
  runtimeName: string;
  message: string;
}

export type StatusSetter = (status: NodeStatus, inputs: StatusInputs, previous: NodeStatus | undefined) => void;

export const setAddresses: StatusSetter = (status, { config }) => {
  status.addresses = [
    { type: 'InternalIP', address: config.nodeIP },
    { type: 'Hostname', address: config.hostname },
  ];
};

export const setCapacity: StatusSetter = (status, { config, machine, usage }) => {
  const memory = machine.memoryBytes;
  const storage = usage.nodefsCapacityBytes;
  status.capacity = {
    cpu: String(machine.cpuCores),
    memory: formatKi(memory),
    'ephemeral-storage': formatKi(storage),
    pods: String(config.maxPods),
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
  };
  // Allocatable = capacity - reserved - hard eviction threshold (kubelet's node allocatable rule).
  const reservedCpuMilli = cpuMillis(config.systemReserved.cpu);
  const reservedMemory = parseQuantity(config.systemReserved.memory ?? '0') ?? 0;
  const reservedStorage = parseQuantity(config.systemReserved['ephemeral-storage'] ?? '0') ?? 0;
  const memoryEviction = evictionBytes(config.evictionHard['memory.available'], memory);
  const storageEviction = evictionBytes(config.evictionHard['nodefs.available'], storage);
  const allocatableCpuMilli = Math.max(0, machine.cpuCores * 1000 - reservedCpuMilli);
  status.allocatable = {
    cpu: allocatableCpuMilli % 1000 === 0 ? String(allocatableCpuMilli / 1000) : `${allocatableCpuMilli}m`,
    memory: formatKi(memory - reservedMemory - memoryEviction),
    'ephemeral-storage': String(Math.max(0, Math.floor(storage - reservedStorage - storageEviction))),
    pods: String(config.maxPods),
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
  };
};

export const setDaemonEndpoints: StatusSetter = (status, { config }) => {
  status.daemonEndpoints = { kubeletEndpoint: { Port: config.port } };
};

export const setNodeInfo: StatusSetter = (status, { machine, runtimeVersion, agentVersion }, previous) => {
  status.nodeInfo = {
    machineID: machine.machineID,
    systemUUID: machine.systemUUID,
    bootID: machine.bootID,
    kernelVersion: machine.kernelVersion,
    osImage: machine.osImage,
    // Keep the last known runtime version while the runtime is briefly away.
    containerRuntimeVersion: runtimeVersion ?? previous?.nodeInfo?.containerRuntimeVersion ?? '',
    kubeletVersion: agentVersion,
    kubeProxyVersion: '',
    operatingSystem: 'linux',
    architecture: machine.architecture,
  };
};

/** Builds a condition, keeping the previous transition time when the status did not change. */
export function condition(
  previous: NodeStatus | undefined,
  type: string,
  isTrue: boolean,
  reason: string,
  message: string,
  now: Date,
): NodeCondition {
  const status = isTrue ? 'True' : 'False';
  const before = previous?.conditions?.find((c) => c.type === type);
  return {
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: kubeTime(now),
    lastTransitionTime: before && before.status === status ? before.lastTransitionTime : kubeTime(now),
  };
}

export const setMemoryPressure: StatusSetter = (status, { config, usage, now }, previous) => {
  const threshold = evictionBytes(config.evictionHard['memory.available'], usage.memoryTotalBytes);
  const pressure = usage.memoryAvailableBytes < threshold;
  status.conditions.push(
    pressure
      ? condition(previous, 'MemoryPressure', true, 'KubeletHasInsufficientMemory', 'kubelet has insufficient memory available', now)
      : condition(previous, 'MemoryPressure', false, 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available', now),
  );
};

export const setDiskPressure: StatusSetter = (status, { config, usage, now }, previous) => {
  // kubelet's signals nodefs.available, nodefs.inodesFree and imagefs.available: any one under its
  // threshold is pressure. The image filesystem counts only when the runtime named it.
  const threshold = evictionBytes(config.evictionHard['nodefs.available'], usage.nodefsCapacityBytes);
  const inodeThreshold = evictionBytes(config.evictionHard['nodefs.inodesFree'], usage.nodefsInodes);
  const imageThreshold = usage.imagefsCapacityBytes === undefined ? 0 : evictionBytes(config.evictionHard['imagefs.available'], usage.imagefsCapacityBytes);
  const pressure =
    usage.nodefsAvailableBytes < threshold ||
    (usage.nodefsInodes > 0 && usage.nodefsInodesFree < inodeThreshold) ||
    (usage.imagefsAvailableBytes !== undefined && usage.imagefsAvailableBytes < imageThreshold);
  status.conditions.push(
    pressure
      ? condition(previous, 'DiskPressure', true, 'KubeletHasDiskPressure', 'kubelet has disk pressure', now)
      : condition(previous, 'DiskPressure', false, 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure', now),
  );
};

export const setPIDPressure: StatusSetter = (status, { config, usage, now }, previous) => {
  const threshold = evictionBytes(config.evictionHard['pid.available'], usage.pidMax);
  const pressure = usage.pidMax - usage.pidsInUse < threshold;
  status.conditions.push(
    pressure
      ? condition(previous, 'PIDPressure', true, 'KubeletHasInsufficientPID', 'kubelet has insufficient PID available', now)
      : condition(previous, 'PIDPressure', false, 'KubeletHasSufficientPID', 'kubelet has sufficient PID available', now),
  );
};

export const setReady: StatusSetter = (status, { notReadyReasons, now }, previous) => {
  status.conditions.push(
    notReadyReasons.length === 0
      ? condition(previous, 'Ready', true, 'KubeletReady', 'kubelet is posting ready status', now)
      : condition(previous, 'Ready', false, 'KubeletNotReady', notReadyReasons.join('; '), now),
  );
};

/**
 * The problem monitors' conditions, first on the Node as node-problem-detector's are. Their
 * transition time moves when the status or the reason changes (NPD's rule: a deadlock that turns
 * from DockerHung into ContainerdHung is a new problem), and survives an agent restart through
 * the Node's own copy.
 */
export const setProblemConditions: StatusSetter = (status, { problemConditions = [], now }, previous) => {
  for (const c of problemConditions) {
    const before = previous?.conditions?.find((p) => p.type === c.type);
    const same = before !== undefined && before.status === c.status && before.reason === c.reason;
    status.conditions.push({
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      lastHeartbeatTime: kubeTime(now),
      lastTransitionTime: same ? before.lastTransitionTime : kubeTime(now),
    });
  }
};

/**
 * node-problem-detector's runtime health condition (its health-checker's ContainerRuntimeUnhealthy):
 * True while the runtime does not answer or says it cannot run containers, False otherwise. It
 * says what is wrong with the runtime itself, where Ready only says the node cannot take pods.
 */
export const setContainerRuntimeUnhealthy: StatusSetter = (status, { runtimeHealth, now }, previous) => {
  const name = runtimeHealth.runtimeName === 'docker' ? 'Docker' : runtimeHealth.runtimeName === 'containerd' ? 'Containerd' : 'ContainerRuntime';
  status.conditions.push(
    runtimeHealth.healthy
      ? condition(previous, 'ContainerRuntimeUnhealthy', false, 'ContainerRuntimeIsHealthy', 'Container runtime on the node is functioning properly', now)
      : condition(previous, 'ContainerRuntimeUnhealthy', true, `${name}Unhealthy`, runtimeHealth.message, now),
  );
};

/**
 * The runtime's conditions with the agent's own view of the pod network: the agent sets the
 * network up (podCIDR, bridge, CNI config), so until it has, NetworkReady is false with
 * kubelet's NetworkPluginNotReady whatever the runtime says (the Docker backend says nothing of
 * the network; containerd only knows whether a CNI config file exists).
 */
export function withPodNetwork<C extends { type: string; status: boolean; reason: string; message: string }>(conditions: C[], notReadyMessage: string | undefined): (C | { type: 'NetworkReady'; status: false; reason: string; message: string })[] {
  if (notReadyMessage === undefined) return conditions;
  return [...conditions.filter((c) => c.type !== 'NetworkReady'), { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: notReadyMessage }];
}

/**
 * Why the runtime's conditions keep the node from being Ready, in kubelet's words, and its health
 * for ContainerRuntimeUnhealthy. A runtime that says nothing of RuntimeReady is not ready.
 */
export function runtimeReadiness(conditions: { type: string; status: boolean; reason: string; message: string }[], runtimeName: string): { notReadyReasons: string[]; health: RuntimeHealth } {
  const notReadyReasons: string[] = [];
  const runtimeReady = conditions.find((c) => c.type === 'RuntimeReady');
  const networkReady = conditions.find((c) => c.type === 'NetworkReady');
  if (!runtimeReady?.status) {
    notReadyReasons.push(`container runtime not ready: RuntimeReady=false reason:${runtimeReady?.reason ?? 'RuntimeReadyMissing'} message:${runtimeReady?.message ?? ''}`);
  }
  if (networkReady && !networkReady.status) {
    notReadyReasons.push(`container runtime network not ready: NetworkReady=false reason:${networkReady.reason} message:${networkReady.message}`);
  }
  const health = runtimeReady?.status
    ? { healthy: true, runtimeName, message: '' }
    : { healthy: false, runtimeName, message: `${runtimeName} is not healthy: ${runtimeReady?.reason ?? 'no RuntimeReady condition'}${runtimeReady?.message ? `: ${runtimeReady.message}` : ''}` };
  return { notReadyReasons, health };
}

/**
 * The order a node with node-problem-detector shows: problem conditions first, then kubelet's
 * pressure conditions, Ready last.
 */
export const defaultSetters: StatusSetter[] = [
  setAddresses,
  setCapacity,
  setDaemonEndpoints,
  setNodeInfo,
  setProblemConditions,
  setContainerRuntimeUnhealthy,
  setMemoryPressure,
  setDiskPressure,
  setPIDPressure,
  setReady,
];

export function computeNodeStatus(inputs: StatusInputs, previous: NodeStatus | undefined, setters = defaultSetters): NodeStatus {
  const status: NodeStatus = {
    capacity: {},
    allocatable: {},
    conditions: [],
    addresses: [],
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      machineID: '', systemUUID: '', bootID: '', kernelVersion: '', osImage: '', containerRuntimeVersion: '',
      kubeletVersion: '', kubeProxyVersion: '', operatingSystem: '', architecture: '',
    },
  };
  for (const setter of setters) setter(status, inputs, previous);
  return status;
}

/**
 * Whether `next` says something `previous` did not, ignoring heartbeat times: an unchanged
 * status is re-sent only every nodeStatusReportFrequency (the Lease carries liveness).
 */
export function statusChanged(previous: NodeStatus | undefined, next: NodeStatus): boolean {
  if (!previous) return true;
  const strip = (s: NodeStatus): unknown => ({
    ...s,
    conditions: [...(s.conditions ?? [])]
      .map(({ lastHeartbeatTime: _h, ...rest }) => rest)
      .sort((a, b) => a.type.localeCompare(b.type)),
  });
  return JSON.stringify(canonical(strip(previous))) !== JSON.stringify(canonical(strip(next)));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, canonical(v)]));
  }
  return value;
}

function evictionBytes(text: string, total: number): number {
  const threshold = parseThreshold(text);
  return threshold ? thresholdBytes(threshold, total) : 0;
}

function cpuMillis(text: string | undefined): number {
  if (!text) return 0;
  return text.endsWith('m') ? Number(text.slice(0, -1)) : Math.round(Number(text) * 1000);
}
