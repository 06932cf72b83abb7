import type { MemorySample } from './cgroup-parse.ts';
import type { InterfaceSample } from './net-dev.ts';
import type { ContainerStats, CPUStats, FsStats, MemoryStats, NetworkStats, NodeStats, PodStats, Summary } from './summary-types.ts';

/**
 * The Summary from samples already read (summary-reader.ts reads them). Pure: the same samples
 * give the same document, so every rule here is tested on plain objects.
 */

/** A cgroup's CPU: the running total, and the rate when a previous sample allows one (cpu-rate.ts). */
export interface CpuSample {
  usageNs: number;
  nanoCores: number | undefined;
}

export interface FsSample {
  availableBytes: number;
  capacityBytes: number;
  inodesFree: number;
  inodes: number;
}

export interface NodeSamples {
  nodeName: string;
  bootTimeMs: number;
  cpu: CpuSample | undefined;
  memory: MemorySample | undefined;
  /** MemTotal: the node's available memory is this less the working set (the kubelet's rule). */
  memoryCapacityBytes: number | undefined;
  interfaces: InterfaceSample[] | undefined;
  fs: FsSample | undefined;
  imageFs: FsSample | undefined;
  rlimit: { maxpid: number; curproc: number } | undefined;
}

export interface ContainerSamples {
  name: string;
  startTimeMs: number;
  cpu: CpuSample | undefined;
  memory: MemorySample | undefined;
}

export interface PodSamples {
  name: string;
  namespace: string;
  uid: string;
  startTimeMs: number;
  cpu: CpuSample | undefined;
  memory: MemorySample | undefined;
  interfaces: InterfaceSample[] | undefined;
  containers: ContainerSamples[];
}

/** The interface whose counters stand for the whole in the top-level fields (kubelet's "eth0"). */
export const DEFAULT_INTERFACE = 'eth0';

/** metav1.Time's JSON: RFC 3339 in whole seconds. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

export function cpuStats(time: string, s: CpuSample | undefined): CPUStats | undefined {
  if (!s) return undefined;
  return { time, ...(s.nanoCores !== undefined ? { usageNanoCores: s.nanoCores } : {}), usageCoreNanoSeconds: s.usageNs };
}

/** availableBytes only where there is a bound to be under: the node's memory, or a cgroup's limit. */
export function memoryStats(time: string, s: MemorySample | undefined, bound = s?.limitBytes): MemoryStats | undefined {
  if (!s) return undefined;
  return {
    time,
    ...(bound !== undefined ? { availableBytes: Math.max(0, bound - s.workingSetBytes) } : {}),
    usageBytes: s.usageBytes,
    workingSetBytes: s.workingSetBytes,
    rssBytes: s.rssBytes,
    pageFaults: s.pageFaults,
    majorPageFaults: s.majorPageFaults,
  };
}

/** Every interface, the default one's counters also at the top (cAdvisor's and kubelet's shape). */
export function networkStats(time: string, interfaces: readonly InterfaceSample[] | undefined): NetworkStats | undefined {
  if (!interfaces) return undefined;
  const all = interfaces.map((i) => ({ name: i.name, rxBytes: i.rxBytes, rxErrors: i.rxErrors, txBytes: i.txBytes, txErrors: i.txErrors }));
  const main = all.find((i) => i.name === DEFAULT_INTERFACE);
  return { time, ...(main ?? {}), interfaces: all };
}

export function fsStats(time: string, s: FsSample | undefined): FsStats | undefined {
  if (!s) return undefined;
  return {
    time,
    availableBytes: s.availableBytes,
    capacityBytes: s.capacityBytes,
    usedBytes: Math.max(0, s.capacityBytes - s.availableBytes),
    inodesFree: s.inodesFree,
    inodes: s.inodes,
    inodesUsed: Math.max(0, s.inodes - s.inodesFree),
  };
}

/** Drops the keys whose value is undefined (omitempty), so the JSON never says null. */
function defined<T extends object>(o: { [K in keyof T]-?: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function buildSummary(nowMs: number, node: NodeSamples, pods: readonly PodSamples[], options: { onlyCpuAndMemory?: boolean } = {}): Summary {
  const time = rfc3339(nowMs);
  const full = !options.onlyCpuAndMemory;
  const imageFs = full ? fsStats(time, node.imageFs) : undefined;
  return {
    node: defined<NodeStats>({
      nodeName: node.nodeName,
      startTime: rfc3339(node.bootTimeMs),
      cpu: cpuStats(time, node.cpu),
      memory: memoryStats(time, node.memory, node.memoryCapacityBytes),
      network: full ? networkStats(time, node.interfaces) : undefined,
      fs: full ? fsStats(time, node.fs) : undefined,
      runtime: imageFs ? { imageFs } : undefined,
      rlimit: full && node.rlimit ? { time, ...node.rlimit } : undefined,
    }),
    pods: pods.map(
      (p): PodStats =>
        defined<PodStats>({
          podRef: { name: p.name, namespace: p.namespace, uid: p.uid },
          startTime: rfc3339(p.startTimeMs),
          containers: p.containers.map((c) => defined<ContainerStats>({ name: c.name, startTime: rfc3339(c.startTimeMs), cpu: cpuStats(time, c.cpu), memory: memoryStats(time, c.memory) })),
          cpu: cpuStats(time, p.cpu),
          memory: memoryStats(time, p.memory),
          network: full ? networkStats(time, p.interfaces) : undefined,
        }),
    ),
  };
}
