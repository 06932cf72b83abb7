import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import type { Lab } from '../../src/lab/lab.ts';
import type { LabMachine } from '../../src/lab/topology.ts';
import { formatKmsgLine } from '../../src/problems/kmsg.ts';
import { apply, condition, createTestLab, eventually, kubectl, kubectlJson, nodeReport, podManifest } from '../helpers/test-lab.ts';
import { testRuntimes } from '../helpers/node-runtime.ts';

// Node problems, from the kernel's words to the Node in the apiserver: kernel-format lines fed to
// a worker's kernel monitor (its stand-in for /dev/kmsg, then the real device) become Node
// conditions and Events exactly as node-problem-detector reports them.
const runtime = testRuntimes[0] ?? 'docker';
const mark = randomBytes(3).toString('hex');

async function uptimeUsec(): Promise<number> {
  return Math.round(Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]) * 1e6);
}

interface NodeEvent {
  reason: string;
  message: string;
  type: string;
  count?: number;
  source?: { component?: string; host?: string };
}

async function nodeEvents(lab: Lab, node: string): Promise<NodeEvent[]> {
  const list = await kubectlJson(lab, ['get', 'events', '-n', 'default', '--field-selector', `involvedObject.kind=Node,involvedObject.name=${node}`]);
  return list.items as NodeEvent[];
}

describe(`node problems on ${runtime}`, () => {
  let lab: Lab;
  let worker: LabMachine;
  let seq = 0;
  const feed = async (...messages: string[]) => {
    const usec = await uptimeUsec();
    await appendFile(lab.kmsgPath(worker), messages.map((message) => formatKmsgLine({ seq: ++seq, usec, message })).join(''));
  };

  beforeAll(async () => {
    const created = await createTestLab({ workers: 1, runtime });
    lab = created.lab;
    worker = lab.topology.workers[0]!;
    await lab.up(created.binDir);
  });

  afterAll(async () => {
    await lab?.down();
  });

  it('a node starts with the kernel conditions healthy, first among its conditions', async () => {
    const node = await kubectlJson(lab, ['get', 'node', worker.name]);
    expect(condition(node, 'KernelDeadlock')).toMatchObject({ status: 'False', reason: 'KernelHasNoDeadlock', message: 'kernel has no deadlock' });
    expect(condition(node, 'ReadonlyFilesystem')).toMatchObject({ status: 'False', reason: 'FilesystemIsNotReadOnly' });
    expect(node.status.conditions.map((c: { type: string }) => c.type).slice(0, 2)).toEqual(['KernelDeadlock', 'ReadonlyFilesystem']);
  });

  it('a read-only remount turns ReadonlyFilesystem True with the kernel message, and a Warning from kernel-monitor', async () => {
    const message = `EXT4-fs (vd${mark}): Remounting filesystem read-only`;
    await feed('eth0: link becomes ready', message);
    const node = await eventually('ReadonlyFilesystem True', 30_000, async () => {
      const n = await kubectlJson(lab, ['get', 'node', worker.name]);
      return condition(n, 'ReadonlyFilesystem')?.status === 'True' ? n : undefined;
    });
    expect(condition(node, 'ReadonlyFilesystem')).toMatchObject({ reason: 'FilesystemIsReadOnly', message });
    expect(condition(node, 'Ready')?.status).toBe('True');
    const event = await eventually('the FilesystemIsReadOnly event', 30_000, async () => (await nodeEvents(lab, worker.name)).find((e) => e.reason === 'FilesystemIsReadOnly'));
    expect(event).toMatchObject({ type: 'Warning', message, source: { component: 'kernel-monitor', host: worker.name } });
  });

  it('a hung containerd task is KernelDeadlock (ContainerdHung) and a TaskHung event', async () => {
    await feed('INFO: task containerd:4242 blocked for more than 120 seconds.');
    const node = await eventually('KernelDeadlock True', 30_000, async () => {
      const n = await kubectlJson(lab, ['get', 'node', worker.name]);
      return condition(n, 'KernelDeadlock')?.status === 'True' ? n : undefined;
    });
    expect(condition(node, 'KernelDeadlock')).toMatchObject({ reason: 'ContainerdHung', message: 'INFO: task containerd:4242 blocked for more than 120 seconds.' });
    await eventually('the TaskHung event', 30_000, async () => (await nodeEvents(lab, worker.name)).some((e) => e.reason === 'TaskHung' && e.source?.component === 'kernel-monitor'));
  });

  it('a flood of OOM kills is a few Events, the rest counted on one combined Event', async () => {
    const kills = Array.from({ length: 40 }, (_, i) => `Killed process ${20_000 + i} (stress-${mark}) total-vm:1024kB, anon-rss:512kB, file-rss:4kB, shmem-rss:0kB`);
    await feed(...kills);
    const oom = await eventually('the OOM events, the last one combined', 30_000, async () => {
      const events = (await nodeEvents(lab, worker.name)).filter((e) => e.reason === 'OOMKilling');
      return events.some((e) => e.message.startsWith('(combined from similar events)')) ? events : undefined;
    });
    expect(oom.map((e) => `${e.count} ${e.message}`).sort(), JSON.stringify(oom.map((e) => e.message))).toHaveLength(10);
    const combined = oom.find((e) => e.message.startsWith('(combined from similar events)'));
    // 40 kills: 9 on their own, the 10th and later on the combined one, as far as the budget let them through.
    expect(combined?.count ?? 0).toBeGreaterThan(1);
    expect(oom.every((e) => e.type === 'Warning' && e.source?.component === 'kernel-monitor')).toBe(true);
  });

  it('filling the node filesystem past 90 % sets DiskPressure (and the controller\'s taint); freeing it clears both', async () => {
    // The node filesystem is the one holding the agent's root directory: a small tmpfs there.
    const root = lab.agentPaths(worker).root;
    await lab.stopAgent(worker.name, 'SIGTERM');
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64m', `na-${mark}-nodefs`, root]);
    const filler = join(root, 'filler');
    const diskPressure = async () => {
      const n = await kubectlJson(lab, ['get', 'node', worker.name]);
      return { status: condition(n, 'DiskPressure')?.status, reason: condition(n, 'DiskPressure')?.reason, tainted: (n.spec.taints ?? []).some((t: { key: string }) => t.key === 'node.kubernetes.io/disk-pressure') };
    };
    try {
      await lab.startAgent(worker.name);
      await eventually('the agent back on a roomy filesystem', 60_000, async () => (await diskPressure()).status === 'False');
      await execa('fallocate', ['-l', '60m', filler]);
      const under = await eventually('DiskPressure True and the taint', 60_000, async () => {
        const d = await diskPressure();
        return d.status === 'True' && d.tainted ? d : undefined;
      });
      expect(under.reason).toBe('KubeletHasDiskPressure');
      await eventually('the NodeHasDiskPressure event', 30_000, async () => (await nodeEvents(lab, worker.name)).some((e) => e.reason === 'NodeHasDiskPressure'));
      await rm(filler);
      await eventually('DiskPressure False and no taint', 60_000, async () => {
        const d = await diskPressure();
        return d.status === 'False' && !d.tainted;
      });
    } finally {
      await lab.stopAgent(worker.name, 'SIGTERM');
      await execa('umount', [root], { reject: false });
      await lab.startAgent(worker.name);
    }
  });

  it('reads the real /dev/kmsg, and runs custom plugins: a problem shows its message, a hung one is Unknown', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'na-monitors-'));
    try {
      const script = async (name: string, body: string): Promise<string> => {
        const path = join(dir, name);
        await writeFile(path, `#!/bin/sh\n${body}\n`);
        await chmod(path, 0o755);
        return path;
      };
      const monitorFile = join(dir, 'test-plugin-monitor.json');
      await writeFile(monitorFile, JSON.stringify({
        plugin: 'custom',
        pluginConfig: { invoke_interval: '2s', timeout: '5s', max_output_length: 80 },
        source: 'test-plugin-monitor',
        conditions: [
          { type: 'NTPProblem', reason: 'NTPIsUp', message: 'ntp service is up' },
          { type: 'SlowCheckProblem', reason: 'SlowCheckIsFine', message: 'the slow check passes' },
        ],
        rules: [
          { type: 'permanent', condition: 'NTPProblem', reason: 'NTPIsDown', path: await script('check_ntp.sh', `echo "ntp service is not running (${mark})"; exit 1`) },
          { type: 'permanent', condition: 'SlowCheckProblem', reason: 'SlowCheckHangs', path: await script('hang.sh', 'sleep 600'), timeout: '2s' },
        ],
      }));
      await lab.stopAgent(worker.name, 'SIGTERM');
      await lab.prepareWorker(worker, { problemDetector: { kernelMonitor: { logPath: '/dev/kmsg' }, customPluginMonitors: [monitorFile] } });
      await lab.startAgent(worker.name);
      await eventually('the restarted agent Ready', 60_000, async () => condition(await kubectlJson(lab, ['get', 'node', worker.name]), 'NTPProblem') !== undefined);

      // Root may write to the kernel log; the line gets the kernel's own sequence and timestamp.
      const message = `Buffer I/O error on dev na-${mark}, logical block 0, async page read`;
      await writeFile('/dev/kmsg', `<3>${message}\n`);
      const event = await eventually('the IOError event from the real kernel log', 60_000, async () => (await nodeEvents(lab, worker.name)).find((e) => e.reason === 'IOError' && e.message.includes(`na-${mark}`)));
      expect(event).toMatchObject({ type: 'Warning', source: { component: 'kernel-monitor' } });
      expect(event?.message.endsWith(message)).toBe(true);

      const node = await eventually('NTPProblem True and SlowCheckProblem Unknown', 60_000, async () => {
        const n = await kubectlJson(lab, ['get', 'node', worker.name]);
        return condition(n, 'NTPProblem')?.status === 'True' && condition(n, 'SlowCheckProblem')?.status === 'Unknown' ? n : undefined;
      });
      expect(condition(node, 'NTPProblem')).toMatchObject({ reason: 'NTPIsDown', message: `ntp service is not running (${mark})` });
      expect(condition(node, 'SlowCheckProblem')).toMatchObject({ reason: 'SlowCheckHangs' });
      expect(condition(node, 'SlowCheckProblem')?.message).toContain('Timeout when running plugin');
      // The hung plugin held back neither the node status nor the kernel monitor.
      expect(condition(node, 'Ready')?.status).toBe('True');
      const ntpEvent = (await nodeEvents(lab, worker.name)).find((e) => e.reason === 'NTPIsDown');
      expect(ntpEvent).toMatchObject({ type: 'Warning', source: { component: 'test-plugin-monitor' } });
    } finally {
      // The agent goes back to its stand-in kernel log and no plugins before the lab goes down.
      await lab.stopAgent(worker.name, 'SIGTERM');
      await lab.prepareWorker(worker);
      await lab.startAgent(worker.name);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('five agent starts within 20 minutes: FrequentNodeAgentRestart', async () => {
    // Four recent starts on record (a crash loop), and one more now.
    const starts = join(lab.agentPaths(worker).root, 'agent-starts');
    await lab.stopAgent(worker.name, 'SIGTERM');
    const now = Date.now();
    await writeFile(starts, [4, 3, 2, 1].map((m) => now - m * 60_000).join('\n') + '\n');
    await lab.startAgent(worker.name);
    let last: unknown;
    const c = await eventually('FrequentNodeAgentRestart True', 60_000, async () => {
      const found = condition(await kubectlJson(lab, ['get', 'node', worker.name]), 'FrequentNodeAgentRestart');
      last = { found, starts: await readFile(starts, 'utf8').catch((e: Error) => e.message) };
      return found?.status === 'True' ? found : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last)}`);
    });
    expect(c).toMatchObject({ reason: 'FrequentNodeAgentRestart', message: 'node-agent was started 5 times in the last 20 minutes' });
  }, 120_000);

  it('node-agent report and /metrics show the problems: conditions with their age, recent problems, pods, peers', async () => {
    await apply(lab, podManifest('reported', worker.name, { containers: [{ name: 'c', image: 'localhost/busybox:1', imagePullPolicy: 'Never', command: ['sleep', '3600'] }] }));
    try {
      await eventually('the pod Running', 60_000, async () => (await kubectlJson(lab, ['get', 'pod', 'reported'])).status?.phase === 'Running');
      // A reason no earlier test used. Its Event may well be held back: each restart re-read the
      // earlier tests' lines from the look-back window and spent kernel-monitor's event budget
      // on them. The agent's own record (the report's source, and the metrics) has every one.
      const device = `v${mark}`;
      await feed(`unregister_netdevice: waiting for ${device} to become free. Usage count = 1`);
      const scrape = async () => (await execa('ip', ['netns', 'exec', worker.netns, 'curl', '-sf', 'http://127.0.0.1:10248/metrics'])).stdout;
      await eventually('the UnregisterNetDevice problem counted', 30_000, async () => /^problem_counter\{reason="UnregisterNetDevice",node="[^"]+"\} 1$/m.test(await scrape()));

      const text = await nodeReport(lab, worker);
      // Something is wrong (FrequentNodeAgentRestart from the test before): exit 1.
      expect(text.exitCode, text.stderr).toBe(1);
      const out = text.stdout;
      expect(out.split('\n')[0]).toBe(`Node ${worker.name}: Ready`);
      expect(out).toMatch(/^ {2}! FrequentNodeAgentRestart True \(FrequentNodeAgentRestart\): node-agent was started \d+ times/m);
      expect(out).toMatch(/^ {2}! FrequentNodeAgentRestart +True +FrequentNodeAgentRestart +\d+[sm]/m);
      expect(out).toMatch(/^ {4}MemoryPressure +False +KubeletHasSufficientMemory +\d+[sm] +kubelet has sufficient memory available$/m);
      // The earlier tests' kernel lines, read again from the look-back window at each restart:
      // forty OOM kills are one line with their count and the latest message.
      expect(out).toMatch(new RegExp(`^ {2}\\d+s +40 +kernel-monitor +OOMKilling +Killed process 20039 \\(stress-${mark}\\)`, 'm'));
      expect(out).toMatch(new RegExp(`^ {2}\\d+s +1 +kernel-monitor +UnregisterNetDevice +unregister_netdevice: waiting for ${device} `, 'm'));
      expect(out).toMatch(/^ {2}default +reported +1\/1 +Running +0 +10\.\d+\.\d+\.\d+ /m);
      expect(out).toMatch(/^Network \(host-gw, pod CIDR 10\.\d+\.\d+\.0\/24\): no peers$/m);

      const json = await nodeReport(lab, worker, 'json');
      const report = JSON.parse(json.stdout);
      expect(report.problems.some((p: string) => p.startsWith('FrequentNodeAgentRestart True'))).toBe(true);
      expect(report.conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'True', problem: false, ageSeconds: expect.any(Number) });
      expect(report.recentProblems[0]).toMatchObject({ source: 'kernel-monitor', reason: 'UnregisterNetDevice', kind: 'temporary', count: 1 });
      expect(report.pods.map((p: { name: string }) => p.name)).toEqual(['reported']);

      const metrics = await scrape();
      expect(metrics).toMatch(/^problem_counter\{reason="UnregisterNetDevice",node="[^"]+"\} 1$/m);
      // Every rule's reason is there from the start.
      expect(metrics).toMatch(/^problem_counter\{reason="MemoryReadError",node="[^"]+"\} 0$/m);
      expect(metrics).toMatch(/^problem_gauge\{type="FrequentNodeAgentRestart",reason="FrequentNodeAgentRestart",node="[^"]+"\} 1$/m);
      expect(metrics).toMatch(/^problem_gauge\{type="KernelDeadlock",reason="KernelHasNoDeadlock",node="[^"]+"\} 0$/m);
      expect(metrics).toMatch(/^kubelet_running_pods\{node="[^"]+"\} 1$/m);
    } finally {
      await kubectl(lab, ['delete', 'pod', 'reported', '--wait=false'], { reject: false });
    }
  }, 150_000);
});
