import { describe, expect, it } from 'vitest';
import { buildSummary, memoryStats, networkStats, rfc3339, type NodeSamples } from '../../src/stats/build-summary.ts';
import { bootTimeMs, cpuUsageNsFromProcStat, cpuUsageNsV2, memoryFromMeminfo, memoryV1, memoryV2, parseFlatKeyed, parseLimit } from '../../src/stats/cgroup-parse.ts';
import { CpuRates } from '../../src/stats/cpu-rate.ts';
import { countedInterfaces, parseNetDev } from '../../src/stats/net-dev.ts';

describe('cgroup files', () => {
  it('cpu.stat (v2): usage_usec in nanoseconds', () => {
    expect(cpuUsageNsV2('usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n')).toBe(1_500_000);
    expect(cpuUsageNsV2('user_usec 1\n')).toBeUndefined();
  });

  it('memory (v2): working set is usage less inactive_file, rss is anon', () => {
    const stat = 'anon 4096\nfile 8192\ninactive_file 3000\nactive_file 5192\npgfault 77\npgmajfault 2\n';
    expect(memoryV2('10000\n', stat, 'max\n')).toEqual({ usageBytes: 10000, workingSetBytes: 7000, rssBytes: 4096, pageFaults: 77, majorPageFaults: 2, limitBytes: undefined });
    expect(memoryV2('10000', stat, '20000')?.limitBytes).toBe(20000);
    expect(memoryV2('', stat, 'max')).toBeUndefined();
  });

  it('memory (v1): the hierarchical total_ keys win, the huge "no limit" is no limit', () => {
    const stat = 'rss 1\ninactive_file 1\npgfault 1\ntotal_rss 4096\ntotal_inactive_file 3000\ntotal_pgfault 77\ntotal_pgmajfault 2\n';
    expect(memoryV1('10000', stat, '9223372036854771712')).toEqual({ usageBytes: 10000, workingSetBytes: 7000, rssBytes: 4096, pageFaults: 77, majorPageFaults: 2, limitBytes: undefined });
    // More inactive file pages than usage (they are counted at different moments): never negative.
    expect(memoryV1('100', 'total_inactive_file 300', '1000')?.workingSetBytes).toBe(0);
    expect(parseLimit('max')).toBeUndefined();
    expect(parseLimit('536870912\n')).toBe(536870912);
  });

  it('flat keyed files skip what is not "key number"', () => {
    expect([...parseFlatKeyed('a 1\nb x\nc 2 3\n\nd 4\n')]).toEqual([['a', 1], ['d', 4]]);
  });

  it('the node from /proc when the root cgroup cannot say', () => {
    const meminfo = 'MemTotal:       1000 kB\nMemFree:         200 kB\nMemAvailable:    600 kB\nInactive(file):  300 kB\nAnonPages:       100 kB\n';
    expect(memoryFromMeminfo(meminfo)).toEqual({ usageBytes: 800 * 1024, workingSetBytes: 500 * 1024, rssBytes: 100 * 1024, pageFaults: 0, majorPageFaults: 0, limitBytes: 1000 * 1024 });
    const procStat = 'cpu  100 5 50 9000 20 1 2 3 0 0\ncpu0 100 5 50 9000 20 1 2 3 0 0\nbtime 1700000000\n';
    // user+nice+system+irq+softirq+steal = 161 jiffies of 10 ms.
    expect(cpuUsageNsFromProcStat(procStat)).toBe(1_610_000_000);
    expect(bootTimeMs(procStat)).toBe(1_700_000_000_000);
  });
});

describe('/proc/net/dev', () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 380760863   12187    4    0    0     0          0         0  1031212    8012    7    0    0     0       0          0
vethab12: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0
`;
  it('parses bytes and errors of each interface, and leaves out loopback and veths', () => {
    const all = parseNetDev(text);
    expect(all.map((i) => i.name)).toEqual(['lo', 'eth0', 'vethab12']);
    expect(all[1]).toEqual({ name: 'eth0', rxBytes: 380760863, rxErrors: 4, txBytes: 1031212, txErrors: 7 });
    expect(countedInterfaces(all).map((i) => i.name)).toEqual(['eth0']);
  });

  it('eth0 stands for the whole at the top, every interface is listed', () => {
    const net = networkStats('t', countedInterfaces(parseNetDev(text)));
    expect(net).toEqual({ time: 't', name: 'eth0', rxBytes: 380760863, rxErrors: 4, txBytes: 1031212, txErrors: 7, interfaces: [{ name: 'eth0', rxBytes: 380760863, rxErrors: 4, txBytes: 1031212, txErrors: 7 }] });
    expect(networkStats('t', [{ name: 'ens3', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0 }])).toEqual({ time: 't', interfaces: [{ name: 'ens3', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0 }] });
  });
});

describe('CPU rate', () => {
  it('is the usage between two samples over the time between them, in nanocores', () => {
    const r = new CpuRates();
    expect(r.rate('pod', 1e9, 0)).toBeUndefined();
    // Half a core: 1 s of CPU over 2 s.
    expect(r.rate('pod', 2e9, 2000)).toBe(5e8);
    // Asked again 100 ms later: the same rate, and the baseline stays.
    expect(r.rate('pod', 2.1e9, 2100)).toBe(5e8);
    expect(r.rate('pod', 4e9, 4000)).toBe(1e9);
  });

  it('starts over when the total goes down (the cgroup was made anew)', () => {
    const r = new CpuRates();
    r.rate('c', 5e9, 0);
    expect(r.rate('c', 1e9, 2000)).toBeUndefined();
    expect(r.rate('c', 2e9, 4000)).toBe(5e8);
  });

  it('forgets cgroups not asked for, and keeps at most maxEntries', () => {
    const r = new CpuRates({ maxEntries: 2 });
    r.rate('a', 1, 0);
    r.rate('b', 1, 0);
    r.rate('c', 1, 0);
    expect(r.size).toBe(2);
    r.retain(new Set(['c']));
    expect(r.size).toBe(1);
  });
});

describe('Summary', () => {
  const mem = { usageBytes: 800, workingSetBytes: 500, rssBytes: 100, pageFaults: 3, majorPageFaults: 1, limitBytes: undefined };
  const node: NodeSamples = {
    nodeName: 'worker-1',
    bootTimeMs: 1_700_000_000_000,
    cpu: { usageNs: 123, nanoCores: 45 },
    memory: mem,
    memoryCapacityBytes: 1000,
    interfaces: [{ name: 'eth0', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0 }],
    fs: { availableBytes: 40, capacityBytes: 100, inodesFree: 7, inodes: 10 },
    imageFs: { availableBytes: 40, capacityBytes: 100, inodesFree: 7, inodes: 10 },
    rlimit: { maxpid: 4194304, curproc: 300 },
  };

  it('has stats/v1alpha1 field names, RFC 3339 times, and leaves out what is not known', () => {
    const now = 1_700_000_123_456;
    const s = buildSummary(now, node, [
      {
        name: 'web',
        namespace: 'default',
        uid: 'u1',
        startTimeMs: 1_700_000_100_000,
        cpu: { usageNs: 99, nanoCores: undefined },
        memory: { ...mem, limitBytes: 600 },
        interfaces: undefined,
        containers: [{ name: 'c', startTimeMs: 1_700_000_101_000, cpu: { usageNs: 98, nanoCores: 7 }, memory: undefined }],
      },
    ]);
    const t = '2023-11-14T22:15:23Z';
    expect(rfc3339(now)).toBe(t);
    expect(s.node).toEqual({
      nodeName: 'worker-1',
      startTime: '2023-11-14T22:13:20Z',
      cpu: { time: t, usageNanoCores: 45, usageCoreNanoSeconds: 123 },
      // The node's available memory: its capacity less the working set.
      memory: { time: t, availableBytes: 500, usageBytes: 800, workingSetBytes: 500, rssBytes: 100, pageFaults: 3, majorPageFaults: 1 },
      network: { time: t, name: 'eth0', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0, interfaces: [{ name: 'eth0', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0 }] },
      fs: { time: t, availableBytes: 40, capacityBytes: 100, usedBytes: 60, inodesFree: 7, inodes: 10, inodesUsed: 3 },
      runtime: { imageFs: { time: t, availableBytes: 40, capacityBytes: 100, usedBytes: 60, inodesFree: 7, inodes: 10, inodesUsed: 3 } },
      rlimit: { time: t, maxpid: 4194304, curproc: 300 },
    });
    expect(s.pods).toEqual([
      {
        podRef: { name: 'web', namespace: 'default', uid: 'u1' },
        startTime: '2023-11-14T22:15:00Z',
        // No rate yet: usageNanoCores is left out, not null.
        cpu: { time: t, usageCoreNanoSeconds: 99 },
        memory: { time: t, availableBytes: 100, usageBytes: 800, workingSetBytes: 500, rssBytes: 100, pageFaults: 3, majorPageFaults: 1 },
        containers: [{ name: 'c', startTime: '2023-11-14T22:15:01Z', cpu: { time: t, usageNanoCores: 7, usageCoreNanoSeconds: 98 } }],
      },
    ]);
    expect(JSON.stringify(s)).not.toContain('null');
  });

  it('only_cpu_and_memory leaves out network, filesystems and rlimit', () => {
    const s = buildSummary(0, node, [], { onlyCpuAndMemory: true });
    expect(Object.keys(s.node).sort()).toEqual(['cpu', 'memory', 'nodeName', 'startTime']);
  });

  it('memory without a limit has no availableBytes', () => {
    expect(memoryStats('t', mem)).not.toHaveProperty('availableBytes');
  });
});
