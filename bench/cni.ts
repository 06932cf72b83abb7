import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installCni } from '../src/net/cni-install.ts';
import { percentile } from './stats.ts';

/**
 * CNI ADD/DEL latency: our plugin next to the reference bridge + host-local plugins from Debian's
 * containernetworking-plugins, on the same machine in the same run, each wiring the same N pod
 * namespaces one after another inside a namespace standing for the node. Three ways of running
 * ours: exec'd as a runtime would (pays a Node start each call), and in-process with a warm
 * netlink socket, which is how the agent runs it for Docker sandboxes; and exec'd with the agent's
 * socket up, so the exec only forwards the call (what containerd's CRI pays with the agent
 * running); and exec'd with no agent, where the plugin loads everything and does the work itself.
 */

const here = dirname(fileURLToPath(import.meta.url));
const REFERENCE_DIR = '/usr/lib/cni';

interface Series {
  add: number[];
  del: number[];
}

async function timed(fn: () => Promise<{ exitCode?: number | undefined; stdout?: unknown }>): Promise<number> {
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  if (r.exitCode !== 0) throw new Error(`plugin failed: ${String(r.stdout)}`);
  return ms;
}

async function execSeries(nodeNs: string, plugin: string, cniPath: string, conf: object, pods: { id: string; netns: string }[]): Promise<Series> {
  const run = (command: string, p: { id: string; netns: string }) =>
    execa('nsenter', [`--net=/run/netns/${nodeNs}`, plugin], {
      input: JSON.stringify(conf),
      reject: false,
      extendEnv: false,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: p.id, CNI_NETNS: p.netns, CNI_IFNAME: 'eth0', CNI_PATH: cniPath },
    });
  const add: number[] = [];
  const del: number[] = [];
  for (const p of pods) add.push(await timed(() => run('ADD', p)));
  for (const p of pods) del.push(await timed(() => run('DEL', p)));
  return { add, del };
}

export async function cniBenchmark(options: { n: number }): Promise<void> {
  const id = randomBytes(3).toString('hex');
  const nodeNs = `bcni-${id}`;
  const podNs = Array.from({ length: options.n }, (_, i) => `bcni-${id}-${i}`);
  const tmp = await mkdtemp(join(tmpdir(), 'bench-cni-'));
  const created: string[] = [];
  try {
    for (const ns of [nodeNs, ...podNs]) {
      await execa('ip', ['netns', 'add', ns]);
      created.push(ns);
    }
    const agentSocket = join(tmp, 'agent', 'cni.sock');
    const { plugin } = await installCni({ cniBin: join(tmp, 'bin'), cniConf: join(tmp, 'conf') }, {
      cniVersion: '1.0.0', name: 'x', type: 'node-agent-bridge', bridge: 'x', subnet: '10.0.0.0/24', mtu: 1500, dataDir: tmp, agentSocket,
    });
    const pods = (tag: string) => podNs.map((ns, i) => ({ id: `${tag}${id}${i}`, netns: `/run/netns/${ns}` }));

    const reference = {
      cniVersion: '1.0.0', name: 'ref', type: 'bridge', bridge: 'brref', isGateway: true, mtu: 1500,
      ipam: { type: 'host-local', subnet: '10.251.0.0/16', dataDir: join(tmp, 'ref-ipam') },
    };
    const ours = (bridge: string, subnet: string, extra: Record<string, unknown> = {}) => ({
      cniVersion: '1.0.0', name: bridge, type: 'node-agent-bridge', bridge, subnet, mtu: 1500, dataDir: join(tmp, 'ours-ipam'), ...extra,
    });

    process.stdout.write(`CNI ADD/DEL, ${options.n} pods one after another, inside namespace ${nodeNs}\n`);
    // A warm-up round each, so the first exec's page-cache misses do not land in one series only.
    await execSeries(nodeNs, join(REFERENCE_DIR, 'bridge'), REFERENCE_DIR, reference, pods('w').slice(0, 3));
    await execSeries(nodeNs, plugin, '', ours('brw', '10.254.0.0/24'), pods('v').slice(0, 3));

    const results: [string, Series][] = [];
    results.push(['reference bridge + host-local (exec)', await execSeries(nodeNs, join(REFERENCE_DIR, 'bridge'), REFERENCE_DIR, reference, pods('r'))]);
    results.push(['node-agent-bridge (exec, no agent running)', await execSeries(nodeNs, plugin, '', ours('brexec', '10.252.0.0/16'), pods('e'))]);
    // The agent's socket, served from the node namespace as the agent would: each exec forwards.
    const agent = execa('nsenter', [`--net=/run/netns/${nodeNs}`, process.execPath, resolve(here, 'cni-agent.ts'), agentSocket], { stdin: 'pipe', reject: false });
    try {
      await new Promise<void>((ready, fail) => {
        agent.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && ready());
        void agent.then((r) => fail(new Error(`cni-agent exited: ${r.stderr}`)));
      });
      await execSeries(nodeNs, plugin, '', ours('brfww', '10.249.0.0/24', { agentSocket }), pods('y').slice(0, 3));
      results.push(['node-agent-bridge (exec, forwarded to the agent)', await execSeries(nodeNs, plugin, '', ours('brfwd', '10.250.0.0/16', { agentSocket }), pods('f'))]);
    } finally {
      agent.stdin?.end();
      const done = await agent;
      process.stdout.write(`agent socket counters: ${done.stdout.split('\n').filter(Boolean).at(-1) ?? '?'}\n`);
    }
    const inproc = await execa('nsenter', [
      `--net=/run/netns/${nodeNs}`, process.execPath, resolve(here, 'cni-inprocess.ts'),
      JSON.stringify(ours('brin', '10.253.0.0/16')), JSON.stringify(pods('i')),
    ]);
    results.push(['node-agent-bridge (in-process, as the agent runs it)', JSON.parse(inproc.stdout) as Series]);

    const row = (cols: string[]) => `${cols[0]?.padEnd(56)}${cols.slice(1).map((c) => c.padStart(10)).join('')}\n`;
    process.stdout.write(row(['', 'ADD p50', 'ADD p99', 'DEL p50', 'DEL p99']));
    for (const [name, s] of results) {
      const f = (v: number) => `${v.toFixed(1)} ms`;
      process.stdout.write(row([name, f(percentile(s.add, 50)), f(percentile(s.add, 99)), f(percentile(s.del, 50)), f(percentile(s.del, 99))]));
    }
    const ref = results[0]?.[1];
    if (ref) {
      for (const [name, s] of results.slice(1)) {
        process.stdout.write(`${name}: ADD p50 ${(percentile(s.add, 50) / percentile(ref.add, 50)).toFixed(2)}x the reference, DEL p50 ${(percentile(s.del, 50) / percentile(ref.del, 50)).toFixed(2)}x\n`);
      }
    }
  } finally {
    for (const ns of created) await execa('ip', ['netns', 'del', ns], { reject: false });
    await rm(tmp, { recursive: true, force: true });
  }
}
