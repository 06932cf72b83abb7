/**
 * Parsers for the cgroup files the Summary API reads, v1 and v2 alike. Pure: each takes the
 * file's text. Working set is usage minus inactive file pages, cAdvisor's rule (the page cache the
 * kernel can drop at once is not memory the workload needs), which the kubelet's eviction reads too.
 */

/** A cgroup's memory as the Summary reports it (bytes, and fault counts). */
export interface MemorySample {
  usageBytes: number;
  workingSetBytes: number;
  rssBytes: number;
  pageFaults: number;
  majorPageFaults: number;
  /** The cgroup's limit; undefined when unlimited. */
  limitBytes: number | undefined;
}

/** "key value" lines (memory.stat, cpu.stat) as a map; lines that are not a key and a number are skipped. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value, extra] = line.trim().split(/\s+/);
    if (!key || value === undefined || extra !== undefined) continue;
    const n = Number(value);
    if (Number.isFinite(n)) out.set(key, n);
  }
  return out;
}

/** v1 reports "no limit" as the largest page-aligned int64, v2 as "max": anything this large is no limit. */
const UNLIMITED = 2 ** 60;

export function parseLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) && n < UNLIMITED ? n : undefined;
}

/** A single number file (memory.current, cpuacct.usage, memory.usage_in_bytes). */
export function parseNumber(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** v2 cpu.stat: usage_usec, in nanoseconds. */
export function cpuUsageNsV2(cpuStat: string): number | undefined {
  const usec = parseFlatKeyed(cpuStat).get('usage_usec');
  return usec === undefined ? undefined : usec * 1000;
}

function workingSet(usage: number, inactiveFile: number | undefined): number {
  return Math.max(0, usage - (inactiveFile ?? 0));
}

/** v1: memory.usage_in_bytes, memory.stat (the hierarchical total_* keys), memory.limit_in_bytes. */
export function memoryV1(usageText: string, statText: string, limitText: string): MemorySample | undefined {
  const usage = parseNumber(usageText);
  if (usage === undefined) return undefined;
  const stat = parseFlatKeyed(statText);
  // total_* counts the cgroup and its descendants; a pod's processes live in its children.
  const get = (key: string): number | undefined => stat.get(`total_${key}`) ?? stat.get(key);
  return {
    usageBytes: usage,
    workingSetBytes: workingSet(usage, get('inactive_file')),
    rssBytes: get('rss') ?? 0,
    pageFaults: get('pgfault') ?? 0,
    majorPageFaults: get('pgmajfault') ?? 0,
    limitBytes: parseLimit(limitText),
  };
}

/** v2: memory.current, memory.stat (already hierarchical; rss is anon), memory.max. */
export function memoryV2(currentText: string, statText: string, maxText: string): MemorySample | undefined {
  const usage = parseNumber(currentText);
  if (usage === undefined) return undefined;
  const stat = parseFlatKeyed(statText);
  return {
    usageBytes: usage,
    workingSetBytes: workingSet(usage, stat.get('inactive_file')),
    rssBytes: stat.get('anon') ?? 0,
    pageFaults: stat.get('pgfault') ?? 0,
    majorPageFaults: stat.get('pgmajfault') ?? 0,
    limitBytes: parseLimit(maxText),
  };
}

/**
 * The node's memory from /proc/meminfo, for a cgroup v2 root (which has no memory.current):
 * used is total less free, the working set less the inactive file pages, as cAdvisor does there.
 * `rootStat` (the root memory.stat, where present) gives the rss and fault counts.
 */
export function memoryFromMeminfo(meminfo: string, rootStat = ''): MemorySample | undefined {
  const kb = new Map<string, number>();
  for (const line of meminfo.split('\n')) {
    const m = /^([^:]+):\s+(\d+)/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]) * 1024);
  }
  const total = kb.get('MemTotal');
  const free = kb.get('MemFree');
  if (total === undefined || free === undefined) return undefined;
  const usage = total - free;
  const stat = parseFlatKeyed(rootStat);
  return {
    usageBytes: usage,
    workingSetBytes: workingSet(usage, kb.get('Inactive(file)')),
    rssBytes: stat.get('anon') ?? kb.get('AnonPages') ?? 0,
    pageFaults: stat.get('pgfault') ?? 0,
    majorPageFaults: stat.get('pgmajfault') ?? 0,
    limitBytes: total,
  };
}

/** MemTotal from /proc/meminfo, in bytes. */
export function memTotalBytes(meminfo: string): number | undefined {
  const m = /^MemTotal:\s+(\d+)/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * The node's CPU time from /proc/stat's first line, in nanoseconds, when no root cgroup gives it:
 * every state but idle and iowait (guest time is already in user), at USER_HZ = 100.
 */
export function cpuUsageNsFromProcStat(procStat: string, userHz = 100): number | undefined {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user + nice + system + irq + softirq + steal) * 1e9) / userHz;
}

/** Boot time (btime in /proc/stat), epoch ms: the node's startTime in the Summary. */
export function bootTimeMs(procStat: string): number | undefined {
  const m = /^btime\s+(\d+)/m.exec(procStat);
  return m ? Number(m[1]) * 1000 : undefined;
}
