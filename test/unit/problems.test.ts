import { describe, expect, it } from 'vitest';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecorder, EventType, ObjectRef } from '../../src/kube/event-recorder.ts';
import { setProblemConditions } from '../../src/node/status-setters.ts';
import type { NodeStatus } from '../../src/node/node-types.ts';
import { defaultKernelRules, matchKernelMessage, parseKernelRules } from '../../src/problems/kernel-rules.ts';
import { KernelMonitor } from '../../src/problems/kernel-monitor.ts';
import { followKmsg } from '../../src/problems/kmsg-follow.ts';
import { formatKmsgLine, parseKmsgLine } from '../../src/problems/kmsg.ts';
import { ProblemReporter } from '../../src/problems/problem-reporter.ts';
import { NetworkMonitor } from '../../src/problems/network-monitor.ts';
import { DOCKER_RESTARTS, readStarts, recordStart, restartCondition } from '../../src/problems/restart-monitor.ts';
import { RuntimeRestartMonitor } from '../../src/problems/runtime-restart-monitor.ts';
import { findDaemonStart, parseBootTime, parseStartTicks, parseUnixSockets, type DaemonStart } from '../../src/runtime/daemon-start.ts';
import { networkUnavailableCondition, peerProblem } from '../../src/net/network-health.ts';
import type { ProblemCondition, ProblemSink, TemporaryProblem } from '../../src/problems/problem-types.ts';
import { createLogger } from '../../src/log/logger.ts';

const log = createLogger({ format: 'json', level: 'silent' as never });

class Recorded implements EventRecorder {
  readonly events: { source: string; type: EventType; reason: string; message: string; ref: ObjectRef }[] = [];
  private readonly source: string;
  constructor(source = '') {
    this.source = source;
  }
  record(ref: ObjectRef, type: EventType, reason: string, message: string): void {
    this.events.push({ source: this.source, ref, type, reason, message });
  }
}

describe('kmsg records', () => {
  it('parses level, sequence, timestamp and message; continuation lines are not records', () => {
    expect(parseKmsgLine('6,1234,5678901,-;EXT4-fs error (device sda1): oops')).toEqual({ level: 6, seq: 1234, usec: 5678901, message: 'EXT4-fs error (device sda1): oops' });
    // Facility bits above the level (kernel facility 0, user 1 << 3): the level is the low three.
    expect(parseKmsgLine('12,5,10,-,caller=T1;hello')?.level).toBe(4);
    expect(parseKmsgLine(' SUBSYSTEM=block')).toBeUndefined();
    expect(parseKmsgLine('no prefix at all')).toBeUndefined();
    expect(parseKmsgLine('x,1,2,-;bad priority')).toBeUndefined();
    expect(parseKmsgLine(formatKmsgLine({ seq: 1, usec: 2, message: 'a;b' }).trimEnd())?.message).toBe('a;b');
  });
});

describe('kernel rules', () => {
  const samples: [string, string][] = [
    ['Killed process 4211 (stress) total-vm:123456kB, anon-rss:100000kB, file-rss:12kB, shmem-rss:0kB', 'OOMKilling'],
    ['INFO: task jbd2/sda1-8:312 blocked for more than 120 seconds.', 'TaskHung'],
    ['unregister_netdevice: waiting for eth0 to become free. Usage count = 2', 'UnregisterNetDevice'],
    ['BUG: unable to handle kernel NULL pointer dereference at 0000000000000008', 'KernelOops'],
    ['divide error: 0000 [#1] SMP', 'KernelOops'],
    ['EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0', 'Ext4Error'],
    ['Buffer I/O error on dev sdb1, logical block 0, async page read', 'IOError'],
    ['INFO: task dockerd:1234 blocked for more than 120 seconds.', 'DockerHung'],
    ['INFO: task containerd:99 blocked for more than 120 seconds.', 'ContainerdHung'],
    ['EXT4-fs (sda1): Remounting filesystem read-only', 'FilesystemIsReadOnly'],
  ];
  it.each(samples)('%s -> %s', (message, reason) => {
    expect(matchKernelMessage(defaultKernelRules, message).map((r) => r.reason)).toContain(reason);
  });

  it('a hung runtime task is the permanent KernelDeadlock, other hung tasks only an event', () => {
    const brief = (m: string) => matchKernelMessage(defaultKernelRules, m).map((r) => `${r.type}:${r.condition ?? ''}:${r.reason}`);
    expect(brief('INFO: task containerd:99 blocked for more than 120 seconds.')).toEqual(['temporary::TaskHung', 'permanent:KernelDeadlock:ContainerdHung']);
    expect(brief('INFO: task kworker/0:1:12 blocked for more than 120 seconds.')).toEqual(['temporary::TaskHung']);
    expect(brief('eth0: link up')).toEqual([]);
  });

  it('reads kernel-monitor.json, and lists every problem of a bad one', () => {
    const good = parseKernelRules({
      source: 'my-kernel', lookback: '1m',
      conditions: [{ type: 'KernelDeadlock', reason: 'KernelHasNoDeadlock', message: 'kernel has no deadlock' }],
      rules: [{ type: 'permanent', condition: 'KernelDeadlock', reason: 'MyHung', pattern: 'task my:\\w+ blocked' }, { type: 'temporary', reason: 'Mine', pattern: 'mine' }],
    });
    expect(good.ok && good.rules).toMatchObject({ source: 'my-kernel', lookbackMs: 60_000, conditions: [{ type: 'KernelDeadlock', status: 'False' }] });
    const bad = parseKernelRules({
      lookbak: '1m',
      conditions: [{ type: 'lower', reason: 'R' }, { type: 'Ready', reason: 'R' }],
      rules: [{ type: 'permanent', condition: 'Nope', reason: 'X', pattern: 'x' }, { type: 'temporary', reason: 'Y', pattern: '(' }, { type: 'sometimes', reason: 'Z', pattern: 'z' }],
    });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems).toEqual([
      '"lookbak" is not a known key',
      'conditions[0] needs a CamelCase type and reason',
      "conditions[1]: Ready is the agent's own condition; name the monitor's condition otherwise (e.g. KernelReady)",
      'rules[0] is permanent, so its condition must be one of the listed conditions (none listed)',
      expect.stringContaining('rules[1].pattern does not compile'),
      'rules[2].type must be temporary or permanent',
    ]);
  });
});

describe('problem reporter', () => {
  const harness = () => {
    const recorders = new Map<string, Recorded>();
    let changes = 0;
    const reporter = new ProblemReporter({
      nodeName: 'n1',
      eventsFor: (source) => recorders.get(source) ?? recorders.set(source, new Recorded(source)).get(source)!,
      onChange: () => changes++,
    });
    reporter.register(defaultKernelRules.conditions);
    const events = () => [...recorders.values()].flatMap((r) => r.events);
    return { reporter, events, changes: () => changes };
  };

  it('starts healthy and silent; a problem is a Warning with the kernel message, its end a Normal', () => {
    const h = harness();
    expect(h.reporter.current().map((c) => `${c.type}=${c.status}`)).toEqual(['KernelDeadlock=False', 'ReadonlyFilesystem=False']);
    h.reporter.condition('kernel-monitor', { type: 'ReadonlyFilesystem', status: 'True', reason: 'FilesystemIsReadOnly', message: 'EXT4-fs (sda1): Remounting filesystem read-only' });
    // The same problem again is no new event.
    h.reporter.condition('kernel-monitor', { type: 'ReadonlyFilesystem', status: 'True', reason: 'FilesystemIsReadOnly', message: 'EXT4-fs (sda2): Remounting filesystem read-only' });
    h.reporter.condition('kernel-monitor', { type: 'ReadonlyFilesystem', status: 'False', reason: 'FilesystemIsNotReadOnly', message: 'Filesystem is not read-only' });
    expect(h.events().map((e) => [e.source, e.type, e.reason])).toEqual([
      ['kernel-monitor', 'Warning', 'FilesystemIsReadOnly'],
      ['kernel-monitor', 'Normal', 'FilesystemIsNotReadOnly'],
    ]);
    expect(h.events()[0]?.ref).toEqual({ kind: 'Node', name: 'n1', uid: 'n1' });
    expect(h.changes()).toBe(2);
    expect(h.reporter.counts.get('FilesystemIsReadOnly')).toBe(1);
  });

  it('a temporary problem is an event from its monitor and is counted, with no condition', () => {
    const h = harness();
    h.reporter.temporary('kernel-monitor', { reason: 'OOMKilling', message: 'Killed process 1 (a)' });
    h.reporter.temporary('kernel-monitor', { reason: 'OOMKilling', message: 'Killed process 2 (b)' });
    expect(h.events().map((e) => e.reason)).toEqual(['OOMKilling', 'OOMKilling']);
    expect(h.reporter.counts.get('OOMKilling')).toBe(2);
    expect(h.changes()).toBe(0);
  });

  it('recent problems: one entry per source and reason with its count and latest message, newest first, bounded', () => {
    let t = Date.parse('2026-12-07T10:00:00Z');
    const reporter = new ProblemReporter({ nodeName: 'n1', eventsFor: () => new Recorded(), now: () => (t += 1000) });
    for (let i = 0; i < 40; i++) reporter.temporary('kernel-monitor', { reason: 'OOMKilling', message: `Killed process ${i} (a)` });
    reporter.condition('kernel-monitor', { type: 'KernelDeadlock', status: 'True', reason: 'DockerHung', message: 'hung' });
    reporter.temporary('kernel-monitor', { reason: 'TaskHung', message: 'task x:1 blocked for more than 120 seconds.' });
    expect(reporter.recent().map((p) => `${p.reason} ${p.kind} ${p.count} ${p.message}`)).toEqual([
      'TaskHung temporary 1 task x:1 blocked for more than 120 seconds.',
      'DockerHung condition 1 hung',
      'OOMKilling temporary 40 Killed process 39 (a)',
    ]);
    expect(reporter.recent()[2]).toMatchObject({ firstSeen: '2026-12-07T10:00:01.000Z', lastSeen: '2026-12-07T10:00:40.000Z' });
    for (let i = 0; i < 60; i++) reporter.temporary('plugin', { reason: `Reason${i}`, message: 'x'.repeat(5000) });
    expect(reporter.recent()).toHaveLength(50);
    expect(reporter.recent()[0]?.message).toHaveLength(1024);
  });

  it('problem_gauge: 1 for the True reason, 0 for the healthy one and for a problem that cleared', () => {
    const h = harness();
    h.reporter.declareReasons(['OOMKilling', 'TaskHung']);
    expect(Object.fromEntries(h.reporter.counts)).toEqual({ OOMKilling: 0, TaskHung: 0 });
    const gauge = () => h.reporter.gauges().filter((g) => g.type === 'KernelDeadlock').map((g) => `${g.reason}=${g.value}`);
    expect(gauge()).toEqual(['KernelHasNoDeadlock=0']);
    h.reporter.condition('kernel-monitor', { type: 'KernelDeadlock', status: 'True', reason: 'DockerHung', message: 'task dockerd:1 blocked for more than 120 seconds.' });
    expect(gauge()).toEqual(['KernelHasNoDeadlock=0', 'DockerHung=1']);
    h.reporter.condition('kernel-monitor', { type: 'KernelDeadlock', status: 'False', reason: 'KernelHasNoDeadlock', message: 'kernel has no deadlock' });
    expect(gauge()).toEqual(['KernelHasNoDeadlock=0', 'DockerHung=0']);
    // declareReasons does not reset a count already made.
    h.reporter.declareReasons(['DockerHung']);
    expect(h.reporter.counts.get('DockerHung')).toBe(1);
  });
});

describe('problem conditions on the Node', () => {
  const inputs = (problemConditions: ProblemCondition[], now: Date) => ({ problemConditions, now }) as never;
  const at = (s: number) => new Date(Date.UTC(2026, 11, 7, 12, 0, s));

  it('keep their transition time while status and reason hold, and move it when either changes', () => {
    const deadlock = (reason: string, status: 'True' | 'False'): ProblemCondition => ({ type: 'KernelDeadlock', status, reason, message: 'm' });
    const run = (c: ProblemCondition, now: Date, previous?: NodeStatus): NodeStatus => {
      const status = { conditions: [] } as unknown as NodeStatus;
      setProblemConditions(status, inputs([c], now), previous);
      return status;
    };
    const first = run(deadlock('DockerHung', 'True'), at(0));
    const same = run(deadlock('DockerHung', 'True'), at(10), first);
    expect(same.conditions[0]).toMatchObject({ lastTransitionTime: first.conditions[0]?.lastTransitionTime, lastHeartbeatTime: '2026-12-07T12:00:10Z' });
    const otherReason = run(deadlock('ContainerdHung', 'True'), at(20), same);
    expect(otherReason.conditions[0]?.lastTransitionTime).toBe('2026-12-07T12:00:20Z');
  });

});

describe('kernel monitor', () => {
  it('reads kmsg lines from a stand-in file as they are appended, skipping those before the look-back window', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'na-kmsg-'));
    const path = join(dir, 'kmsg');
    const nowUsec = 10_000_000_000;
    await writeFile(path, [
      formatKmsgLine({ seq: 1, usec: nowUsec - 6 * 60_000_000, message: 'EXT4-fs (sda1): Remounting filesystem read-only' }),
      formatKmsgLine({ seq: 2, usec: nowUsec - 60_000_000, message: 'Killed process 7 (x) total-vm:1kB, anon-rss:1kB, file-rss:1kB' }),
    ].join(''));
    const seen: { conditions: ProblemCondition[]; temporary: TemporaryProblem[] } = { conditions: [], temporary: [] };
    const sink: ProblemSink = { condition: (_s, c) => seen.conditions.push(c), temporary: (_s, p) => seen.temporary.push(p) };
    const monitor = new KernelMonitor({ rules: defaultKernelRules, path, pollMs: 20, log, uptime: async () => nowUsec });
    const stop = new AbortController();
    const running = monitor.run(sink, stop.signal);
    try {
      await expect.poll(() => seen.temporary.length).toBe(1);
      // Older than five minutes: not reported, though it matches.
      expect(seen.conditions).toEqual([]);
      await appendFile(path, formatKmsgLine({ seq: 3, usec: nowUsec + 1, message: 'INFO: task containerd:42 blocked for more than 120 seconds.' }));
      await expect.poll(() => seen.conditions.length).toBe(1);
      expect(seen.conditions[0]).toMatchObject({ type: 'KernelDeadlock', status: 'True', reason: 'ContainerdHung' });
      expect(seen.temporary.map((t) => t.reason)).toEqual(['OOMKilling', 'TaskHung']);
      expect(monitor.stats).toMatchObject({ records: 2, matched: 2 });
    } finally {
      stop.abort();
      await running;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('drops a line longer than the bound instead of buffering it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'na-kmsg-'));
    const path = join(dir, 'kmsg');
    await writeFile(path, `6,1,1,-;${'x'.repeat(200_000)}\n6,2,2,-;short\n`);
    const lines: string[] = [];
    const stop = new AbortController();
    const running = followKmsg({ path, pollMs: 20, signal: stop.signal, onLine: (l) => lines.push(l), maxLineBytes: 1024 });
    try {
      await expect.poll(() => lines).toEqual(['6,2,2,-;short']);
    } finally {
      stop.abort();
      await running;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('network monitor', () => {
  it('NetworkUnavailable names the first missing piece and lists them all, bounded', () => {
    expect(networkUnavailableCondition([])).toMatchObject({ type: 'NetworkUnavailable', status: 'False', reason: 'NodeAgentIsUp' });
    const many = Array.from({ length: 8 }, (_, i) => ({ reason: 'PeerRouteMissing', message: `missing route for peer w${i}` }));
    const c = networkUnavailableCondition([{ reason: 'BridgeMissing', message: 'bridge cni0 does not exist' }, ...many]);
    expect(c).toMatchObject({ status: 'True', reason: 'BridgeMissing' });
    expect(c.message).toBe('bridge cni0 does not exist; missing route for peer w0; missing route for peer w1; missing route for peer w2; missing route for peer w3; and 4 more');
    expect(peerProblem({ op: 'add', kind: 'route', peer: 'w2', dst: '10.244.2.0', dstLen: 24, gateway: '192.168.56.12', oif: 2, onlink: false })).toMatchObject({ reason: 'PeerRouteMissing', message: expect.stringMatching(/^missing route for peer w2: /) });
  });

  it('reports a problem at once, repairs it at the next round, then reports it cleared', async () => {
    const order: string[] = [];
    let broken = true;
    const seen: ProblemCondition[] = [];
    const monitor = new NetworkMonitor({
      check: async () => {
        order.push('check');
        return networkUnavailableCondition(broken ? [{ reason: 'BridgeMissing', message: 'bridge cni0 does not exist' }] : []);
      },
      repair: async () => {
        order.push('repair');
        broken = false;
      },
      refresh: () => order.push('refresh'),
      intervalMs: 30,
    });
    const stop = new AbortController();
    const running = monitor.run({ condition: (_s, c) => seen.push(c), temporary: () => {} }, stop.signal);
    await expect.poll(() => seen.length).toBeGreaterThanOrEqual(2);
    stop.abort();
    await running;
    expect(order.slice(0, 4)).toEqual(['check', 'repair', 'check', 'refresh']);
    expect(seen.slice(0, 2).map((c) => `${c.status} ${c.reason}`)).toEqual(['True BridgeMissing', 'False NodeAgentIsUp']);
  });
});

describe('restart monitor', () => {
  it('True with five starts within 20 minutes, clearing as they age out', () => {
    const min = 60_000;
    const starts = [0, 2, 4, 6, 8].map((m) => m * min);
    expect(restartCondition(starts.slice(0, 4), 8 * min)).toMatchObject({ status: 'False', reason: 'NoFrequentNodeAgentRestart' });
    expect(restartCondition(starts, 8 * min)).toMatchObject({ status: 'True', reason: 'FrequentNodeAgentRestart', message: 'node-agent was started 5 times in the last 20 minutes' });
    expect(restartCondition(starts, 21 * min).status).toBe('False');
  });

  it('writes each start down, keeping the newest, readable by root only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'na-starts-'));
    try {
      const path = join(dir, 'agent-starts');
      await writeFile(path, 'garbage\n12\n');
      for (let i = 0; i < 5; i++) await recordStart(path, 100 + i, 3);
      expect(await readFile(path, 'utf8')).toBe('102\n103\n104\n');
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the runtime: each daemon process is one start, however often it is seen; five in 20 minutes is FrequentDockerRestart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'na-starts-'));
    try {
      const min = 60_000;
      let t = 30 * min;
      const daemons: (DaemonStart | undefined)[] = [
        { pid: 10, startedAt: 2 * min, key: '10:1' }, // long before: outside the window
        { pid: 20, startedAt: 26 * min, key: '20:2' },
        { pid: 20, startedAt: 26 * min + 1000, key: '20:2' }, // the boot time moved a second: same process
        undefined, // down
        { pid: 30, startedAt: 27 * min, key: '30:3' },
        { pid: 40, startedAt: 28 * min, key: '40:4' },
        { pid: 50, startedAt: 29 * min, key: '50:5' },
        { pid: 60, startedAt: 30 * min, key: '60:6' },
      ];
      let round = 0;
      const seen: ProblemCondition[] = [];
      const stop = new AbortController();
      const monitor = new RuntimeRestartMonitor({
        subject: DOCKER_RESTARTS,
        find: async () => daemons[Math.min(round++, daemons.length - 1)],
        path: join(dir, 'docker-starts'),
        intervalMs: 1,
        now: () => t,
      });
      expect(monitor.defaults).toEqual([{ type: 'FrequentDockerRestart', status: 'False', reason: 'NoFrequentDockerRestart', message: 'docker is functioning properly' }]);
      const running = monitor.run({ condition: (_s, c) => { seen.push(c); if (seen.length === daemons.length) stop.abort(); }, temporary: () => {} }, stop.signal);
      await running;
      expect(seen.map((c) => c.status)).toEqual(['False', 'False', 'False', 'False', 'False', 'False', 'False', 'True']);
      expect(seen.at(-1)).toMatchObject({ reason: 'FrequentDockerRestart', message: 'docker was started 5 times in the last 20 minutes' });
      expect((await readFile(join(dir, 'docker-starts'), 'utf8')).trim().split('\n')).toHaveLength(6);
      t = 50 * min;
      expect(restartCondition(await readStarts(join(dir, 'docker-starts')), t, undefined, DOCKER_RESTARTS).status).toBe('False');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the runtime daemon from /proc', () => {
  it('parses socket tables, start ticks and boot time', () => {
    const unix = [
      'Num       RefCount Protocol Flags    Type St Inode Path',
      '0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/containerd/containerd.sock',
      '0000000000000000: 00000003 00000000 00000000 0001 03 4243 /run/containerd/containerd.sock',
      '0000000000000000: 00000002 00000000 00010000 0001 01 4244 @/containerd-shim/abc.sock',
      '0000000000000000: 00000002 00000000 00010000 0001 01 4245 /tmp/with space.sock',
    ].join('\n');
    expect(parseUnixSockets(unix)).toEqual([
      { inode: 4242, listening: true, path: '/run/containerd/containerd.sock' },
      { inode: 4243, listening: false, path: '/run/containerd/containerd.sock' },
      { inode: 4245, listening: true, path: '/tmp/with space.sock' },
    ]);
    const stat = '1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 12 0 987654 123456 789';
    expect(parseStartTicks(stat)).toBe(987654);
    expect(parseBootTime('cpu 1 2 3\nbtime 1796000000\nprocesses 5\n')).toBe(1796000000);
  });

  it('finds the process named so that holds the listening socket, not one that only has the name', async () => {
    const proc = await mkdtemp(join(tmpdir(), 'na-proc-'));
    try {
      await writeFile(join(proc, 'stat'), 'btime 1796000000\n');
      const fake = async (pid: number, comm: string, sockets: string, fds: string[]) => {
        await mkdir(join(proc, String(pid), 'net'), { recursive: true });
        await mkdir(join(proc, String(pid), 'fd'));
        await writeFile(join(proc, String(pid), 'comm'), `${comm}\n`);
        await writeFile(join(proc, String(pid), 'net', 'unix'), `Num RefCount Protocol Flags Type St Inode Path\n${sockets}\n`);
        await writeFile(join(proc, String(pid), 'stat'), `${pid} (${comm}) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 500 0 0`);
        for (const [i, target] of fds.entries()) await symlink(target, join(proc, String(pid), 'fd', String(i)));
      };
      const listening = (inode: number, path: string) => `0: 00000002 00000000 00010000 0001 01 ${inode} ${path}`;
      // Another containerd (the host's own), listening elsewhere; and ours.
      await fake(100, 'containerd', listening(7, '/run/containerd/containerd.sock'), ['socket:[7]']);
      await fake(200, 'containerd', listening(8, '/run/lab/containerd.sock'), ['/dev/null', 'socket:[8]']);
      // A process with another name holding nothing.
      await fake(300, 'sleep', '', []);
      expect(await findDaemonStart('/run/lab/containerd.sock', 'containerd', proc)).toEqual({ pid: 200, startedAt: 1796000000 * 1000 + 5000, key: '200:500' });
      expect(await findDaemonStart('/run/lab/containerd.sock', 'dockerd', proc)).toBeUndefined();
      expect(await findDaemonStart('/run/none.sock', 'containerd', proc)).toBeUndefined();
    } finally {
      await rm(proc, { recursive: true, force: true });
    }
  });
});
