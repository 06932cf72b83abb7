import { readFile, statfs } from 'node:fs/promises';
import type { V1Pod } from '@kubernetes/client-node';
import { podCgroupCandidates } from '../pods/pod-cgroups.ts';
import { Labels } from '../runtime/labels.ts';
import type { ContainerStatus, Runtime } from '../runtime/types.ts';
import { buildSummary, type CpuSample, type FsSample, type PodSamples } from './build-summary.ts';
import { bootTimeMs, cpuUsageNsFromProcStat, memoryFromMeminfo, memTotalBytes } from './cgroup-parse.ts';
import { CgroupReader } from './cgroup-reader.ts';
import { CpuRates } from './cpu-rate.ts';
import { countedInterfaces, parseNetDev, type InterfaceSample } from './net-dev.ts';
import type { Summary } from './summary-types.ts';

const read = (path: string): Promise<string | undefined> => readFile(path, 'utf8').catch(() => undefined);

async function fsSample(path: string | undefined): Promise<FsSample | undefined> {
  if (!path) return undefined;
  const s = await statfs(path).catch(() => undefined);
  return s ? { availableBytes: s.bavail * s.bsize, capacityBytes: s.blocks * s.bsize, inodesFree: s.ffree, inodes: s.files } : undefined;
}

/** The interfaces a process sees: /proc/<pid>/net/dev shows its network namespace's. */
async function interfacesOf(pid: number | 'self'): Promise<InterfaceSample[] | undefined> {
  const text = await read(`/proc/${pid}/net/dev`);
  return text === undefined ? undefined : countedInterfaces(parseNetDev(text));
}

export interface SummaryReaderDeps {
  nodeName: string;
  /** The agent's root directory: the node filesystem's figures are its filesystem's. */
  rootDir: string;
  runtime: Pick<Runtime, 'listContainers' | 'imageFilesystem'>;
  /** The pods the agent runs, and the status it last computed for each (its startTime). */
  pods: () => V1Pod[];
  podStatus: (uid: string) => { startTime?: string } | undefined;
  cgroups?: CgroupReader;
  now?: () => number;
}

/**
 * Reads what the Summary reports, from the kernel: the node from the root cgroup and /proc, each
 * pod from the cgroup the agent made for it (pod-cgroups.ts: kubepods/<qos>/pod<uid>, under which
 * Docker and containerd both put a container's cgroup as <pod cgroup>/<container id>, sandbox
 * included), and a pod's network from a process in its sandbox (/proc/<pid>/net/dev is read in
 * that process's network namespace, no setns needed; cAdvisor does the same). CPU rates come
 * from CpuRates (see there for the sampling rule), forgetting cgroups of pods that are gone.
 */
export class SummaryReader {
  private readonly deps: SummaryReaderDeps;
  private readonly cgroups: CgroupReader;
  private readonly rates = new CpuRates();
  private readonly now: () => number;

  constructor(deps: SummaryReaderDeps) {
    this.deps = deps;
    this.cgroups = deps.cgroups ?? new CgroupReader();
    this.now = deps.now ?? Date.now;
  }

  async summary(options: { onlyCpuAndMemory?: boolean } = {}): Promise<Summary> {
    const seen = new Set<string>();
    const cpu = async (key: string, read: () => Promise<number | undefined>): Promise<CpuSample | undefined> => {
      const usageNs = await read();
      if (usageNs === undefined) return undefined;
      seen.add(key);
      return { usageNs, nanoCores: this.rates.rate(key, usageNs, this.now()) };
    };
    const [procStat, meminfo, containers] = await Promise.all([read('/proc/stat'), read('/proc/meminfo'), this.deps.runtime.listContainers().catch(() => [] as ContainerStatus[])]);
    const layout = await this.cgroups.layout();
    const nodeCpu = await cpu('/', async () => (layout ? await this.cgroups.cpuUsageNs('') : undefined) ?? cpuUsageNsFromProcStat(procStat ?? ''));
    // v1's root memory cgroup counts the whole machine; v2's root has no memory.current.
    const nodeMemory = (layout?.version === 1 ? await this.cgroups.memory('') : undefined) ?? memoryFromMeminfo(meminfo ?? '', await this.cgroups.rootMemoryStat());
    const pods = await Promise.all(this.deps.pods().map((pod) => this.podSamples(pod, containers, cpu)));
    const full = !options.onlyCpuAndMemory;
    const [interfaces, fs, imageFs, rlimit] = full
      ? await Promise.all([interfacesOf('self'), fsSample(this.deps.rootDir), this.deps.runtime.imageFilesystem().then(fsSample, () => undefined), this.rlimit()])
      : [undefined, undefined, undefined, undefined];
    this.rates.retain(seen);
    const nowMs = this.now();
    return buildSummary(
      nowMs,
      {
        nodeName: this.deps.nodeName,
        bootTimeMs: bootTimeMs(procStat ?? '') ?? nowMs,
        cpu: nodeCpu,
        memory: nodeMemory,
        memoryCapacityBytes: memTotalBytes(meminfo ?? ''),
        interfaces,
        fs,
        imageFs,
        rlimit,
      },
      pods.filter((p): p is PodSamples => p !== undefined),
      options,
    );
  }

  /** A pod with a cgroup on this node; undefined for one that has none (not started, or gone). */
  private async podSamples(pod: V1Pod, all: ContainerStatus[], cpu: (key: string, read: () => Promise<number | undefined>) => Promise<CpuSample | undefined>): Promise<PodSamples | undefined> {
    const uid = pod.metadata?.uid ?? '';
    if (!uid || uid.includes('/')) return undefined;
    let rel: string | undefined;
    for (const candidate of podCgroupCandidates(uid)) {
      if (await this.cgroups.exists(candidate)) {
        rel = candidate;
        break;
      }
    }
    if (!rel) return undefined;
    const podRel = rel;
    const running = all.filter((c) => c.labels[Labels.podUid] === uid && c.state === 'running');
    const containers = await Promise.all(
      running.map(async (c) => ({
        name: c.name,
        startTimeMs: (c.startedAt ?? c.createdAt).getTime(),
        cpu: await cpu(`${podRel}/${c.id}`, () => this.cgroups.cpuUsageNs(`${podRel}/${c.id}`)),
        memory: await this.cgroups.memory(`${podRel}/${c.id}`),
      })),
    );
    const started = this.deps.podStatus(uid)?.startTime ?? pod.status?.startTime;
    const startTimeMs = started ? new Date(started).getTime() : Math.min(this.now(), ...containers.map((c) => c.startTimeMs));
    return {
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? 'default',
      uid,
      startTimeMs,
      cpu: await cpu(podRel, () => this.cgroups.cpuUsageNs(podRel)),
      memory: await this.cgroups.memory(podRel),
      interfaces: await this.podInterfaces(podRel, running),
      containers: containers.filter((c) => c.cpu !== undefined || c.memory !== undefined),
    };
  }

  /** The pod's network namespace, through its sandbox's process (else any of its containers'). */
  private async podInterfaces(podRel: string, running: ContainerStatus[]): Promise<InterfaceSample[] | undefined> {
    const sandboxIds = [...new Set(running.map((c) => c.sandboxId).filter(Boolean))];
    const order = [...sandboxIds, ...running.map((c) => c.id)];
    for (const id of order) {
      for (const pid of await this.cgroups.pids(`${podRel}/${id}`)) {
        const found = await interfacesOf(pid);
        if (found) return found;
      }
    }
    return undefined;
  }

  /** The kubelet's rlimit: pid_max, and the processes (threads) running now. */
  private async rlimit(): Promise<{ maxpid: number; curproc: number } | undefined> {
    const [pidMax, loadavg] = await Promise.all([read('/proc/sys/kernel/pid_max'), read('/proc/loadavg')]);
    const maxpid = Number(pidMax?.trim());
    // /proc/loadavg's fourth field is "running/total" scheduling entities, sysinfo's procs.
    const curproc = Number(loadavg?.split(/\s+/)[3]?.split('/')[1]);
    return Number.isFinite(maxpid) && Number.isFinite(curproc) ? { maxpid, curproc } : undefined;
  }
}
