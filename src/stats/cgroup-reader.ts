import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cpuUsageNsV2, memoryV1, memoryV2, parseNumber, type MemorySample } from './cgroup-parse.ts';

/** Where the CPU and memory controllers are: one unified tree (v2), or one tree each (v1). */
export type CgroupLayout = { version: 2; cpu: string; memory: string } | { version: 1; cpu: string; memory: string };

const read = (path: string): Promise<string | undefined> => readFile(path, 'utf8').catch(() => undefined);

/**
 * Reads a cgroup's CPU time and memory, by its path relative to the hierarchy root
 * ("kubepods/besteffort/pod<uid>/<container id>", "" for the root), on cgroup v1 or v2. A cgroup
 * that is gone (the container just exited) reads as undefined, never as an error.
 */
export class CgroupReader {
  private readonly root: string;
  private layoutFound: Promise<CgroupLayout | undefined> | undefined;

  constructor(root = '/sys/fs/cgroup') {
    this.root = root;
  }

  layout(): Promise<CgroupLayout | undefined> {
    this.layoutFound ??= this.findLayout();
    return this.layoutFound;
  }

  private async findLayout(): Promise<CgroupLayout | undefined> {
    const entries = await readdir(this.root).catch(() => [] as string[]);
    if (entries.includes('cgroup.controllers')) return { version: 2, cpu: this.root, memory: this.root };
    // v1 mounts cpuacct alone or co-mounted with cpu, under either spelling.
    const cpu = ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu', 'cpu'].find((d) => entries.includes(d));
    if (!cpu || !entries.includes('memory')) return undefined;
    return { version: 1, cpu: join(this.root, cpu), memory: join(this.root, 'memory') };
  }

  /** CPU time used by the cgroup and its descendants, in nanoseconds. */
  async cpuUsageNs(rel: string): Promise<number | undefined> {
    const l = await this.layout();
    if (!l) return undefined;
    if (l.version === 2) {
      const text = await read(join(l.cpu, rel, 'cpu.stat'));
      return text === undefined ? undefined : cpuUsageNsV2(text);
    }
    const text = await read(join(l.cpu, rel, 'cpuacct.usage'));
    return text === undefined ? undefined : parseNumber(text);
  }

  /** Memory of the cgroup and its descendants; undefined where the files are not (a v2 root). */
  async memory(rel: string): Promise<MemorySample | undefined> {
    const l = await this.layout();
    if (!l) return undefined;
    const dir = join(l.memory, rel);
    if (l.version === 2) {
      const [current, stat, max] = await Promise.all([read(join(dir, 'memory.current')), read(join(dir, 'memory.stat')), read(join(dir, 'memory.max'))]);
      return current === undefined ? undefined : memoryV2(current, stat ?? '', max ?? '');
    }
    const [usage, stat, limit] = await Promise.all([read(join(dir, 'memory.usage_in_bytes')), read(join(dir, 'memory.stat')), read(join(dir, 'memory.limit_in_bytes'))]);
    return usage === undefined ? undefined : memoryV1(usage, stat ?? '', limit ?? '');
  }

  /** The root's memory.stat (v2 has one at the root; its rss and fault counts). */
  async rootMemoryStat(): Promise<string> {
    const l = await this.layout();
    return l ? ((await read(join(l.memory, 'memory.stat'))) ?? '') : '';
  }

  /** Whether the cgroup exists (in the memory tree, which every pod cgroup has). */
  async exists(rel: string): Promise<boolean> {
    const l = await this.layout();
    return l !== undefined && (await read(join(l.memory, rel, 'cgroup.procs'))) !== undefined;
  }

  /** The processes directly in the cgroup. */
  async pids(rel: string): Promise<number[]> {
    const l = await this.layout();
    const text = l ? await read(join(l.memory, rel, 'cgroup.procs')) : undefined;
    return (text ?? '').split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  }

  /** The names of the cgroup's child cgroups. */
  async children(rel: string): Promise<string[]> {
    const l = await this.layout();
    if (!l) return [];
    const entries = await readdir(join(l.memory, rel), { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }
}
