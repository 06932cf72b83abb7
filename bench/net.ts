import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { Lab, controlPlaneBinDir } from '../src/lab/lab.ts';
import { defaultLabOptions, type LabMachine } from '../src/lab/topology.ts';
import { Labels } from '../src/runtime/labels.ts';
import { sleep } from '../src/util/sleep.ts';
import { percentile } from './stats.ts';

/**
 * TCP throughput of the pod network, pod to pod across two nodes, in host-gw and in vxlan mode,
 * next to node to node over the lab bridge (the underlay) in the same lab, runs interleaved.
 *
 * iperf3 is not in the pod image, so it runs from the host inside the pods' own network namespaces
 * (the pause container's, entered with nsenter): the traffic takes exactly the pod data path the
 * agent wires (pod eth0, veth, cni0, then a route via the peer node or the VXLAN device, eth1, the
 * lab bridge, and back up on the peer). Prints figures, asserts nothing.
 */

const PORT = '5201';
const RUNS = 3;
const TARGETS: Record<Mode, number> = { 'host-gw': 0.95, vxlan: 0.7 };

type Mode = 'host-gw' | 'vxlan';

interface Iperf {
  bitsPerSecond: number;
  retransmits: number;
}

interface ModeResult {
  mode: Mode;
  underlay: Iperf[];
  pod: Iperf[];
  podMtu: string;
  underlayMtu: string;
  route: string;
}

const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** Processes to kill and the lab to tear down if the run is interrupted. */
const servers = new Set<{ kill: (signal: 'SIGKILL') => boolean }>();
let current: Lab | undefined;

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  process.stderr.write(`\n${signal}: stopping iperf3 servers and tearing the lab down\n`);
  for (const s of servers) s.kill('SIGKILL');
  await current?.down().catch(() => undefined);
  process.exit(130);
}

/** A host-only subnet no interface on this machine uses, picked as the test labs pick theirs. */
async function freeSubnet(): Promise<string> {
  const used = (await execa('ip', ['-o', '-4', 'addr', 'show'])).stdout;
  for (let i = 0; i < 100; i++) {
    const candidate = `192.168.${150 + Math.floor(Math.random() * 100)}`;
    if (!used.includes(` ${candidate}.`)) return candidate;
  }
  throw new Error('no free 192.168.x.0/24 subnet for the lab');
}

/** A prefix no lab on this machine uses: `bn` and three hex digits. */
async function freePrefix(): Promise<string> {
  const namespaces = (await execa('ip', ['netns', 'list'])).stdout;
  for (let i = 0; i < 100; i++) {
    const prefix = `bn${randomBytes(2).toString('hex').slice(0, 3)}`;
    if (!namespaces.includes(`${prefix}-`)) return prefix;
  }
  throw new Error('no free lab prefix');
}

function kubectl(lab: Lab, args: string[], input?: string) {
  return execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, ...args], input === undefined ? { reject: false } : { reject: false, input });
}

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last error: ${last}` : ''}`);
}

interface NodeList {
  items: { metadata: { name: string }; spec?: { podCIDR?: string }; status?: { conditions?: { type: string; status: string }[] } }[];
}

interface Pod {
  metadata: { uid: string };
  status?: { phase?: string; podIP?: string };
}

/** The network namespace of a pod: its pause (sandbox) container's, as /proc/<pid>/ns/net. */
async function podNetns(uid: string): Promise<string> {
  const ids = (await execa('docker', ['ps', '-q', '--filter', `label=${Labels.podUid}=${uid}`, '--filter', `label=${Labels.type}=podsandbox`, '--filter', 'status=running'])).stdout.split('\n').filter(Boolean);
  if (ids.length !== 1) throw new Error(`expected one running sandbox for pod ${uid}, found ${ids.length}`);
  const pid = (await execa('docker', ['inspect', '-f', '{{.State.Pid}}', ids[0]!])).stdout.trim();
  if (!/^[1-9][0-9]*$/.test(pid)) throw new Error(`sandbox ${ids[0]} has no pid (${pid})`);
  return `/proc/${pid}/ns/net`;
}

function inNetns(netns: string, args: string[], options: { timeout?: number } = {}) {
  return execa('nsenter', [`--net=${netns}`, ...args], { reject: false, ...options });
}

async function mtuOf(netns: string, dev: string): Promise<string> {
  const out = (await inNetns(netns, ['ip', '-o', 'link', 'show', 'dev', dev])).stdout;
  return /\bmtu (\d+)/.exec(out)?.[1] ?? '?';
}

interface IperfJson {
  error?: string;
  end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } };
}

/** One iperf3 TCP test: a one-shot server in `serverNs` bound to `serverIP`, the client in `clientNs`. */
async function iperf(serverNs: string, serverIP: string, clientNs: string, seconds: number): Promise<Iperf> {
  const server = execa('nsenter', [`--net=${serverNs}`, 'iperf3', '-s', '-1', '-B', serverIP, '-p', PORT], { reject: false });
  servers.add(server);
  let exited = false;
  void server.then(() => {
    exited = true;
  });
  try {
    await waitFor(`iperf3 server on ${serverIP}:${PORT}`, 10_000, async () => {
      if (exited) throw new Error(`iperf3 server exited: ${(await server).stderr}`);
      const out = (await inNetns(serverNs, ['ss', '-Htln', `sport = :${PORT}`])).stdout;
      return out.trim() ? true : undefined;
    });
    const client = await inNetns(clientNs, ['iperf3', '-c', serverIP, '-p', PORT, '-t', String(seconds), '-J'], { timeout: (seconds + 30) * 1000 });
    let parsed: IperfJson;
    try {
      parsed = JSON.parse(client.stdout) as IperfJson;
    } catch {
      throw new Error(`iperf3 client to ${serverIP} failed (exit ${client.exitCode}): ${client.stderr || client.stdout}`);
    }
    const bps = parsed.end?.sum_received?.bits_per_second;
    if (parsed.error || bps === undefined) throw new Error(`iperf3 client to ${serverIP}: ${parsed.error ?? 'no end.sum_received in its output'}`);
    return { bitsPerSecond: bps, retransmits: parsed.end?.sum_sent?.retransmits ?? 0 };
  } finally {
    server.kill('SIGKILL');
    await server;
    servers.delete(server);
  }
}

async function measureMode(mode: Mode, binDir: string, seconds: number): Promise<ModeResult> {
  const prefix = await freePrefix();
  const lab = new Lab({ ...defaultLabOptions, prefix, subnet: await freeSubnet(), workers: 2, network: mode, stateDir: join(defaultLabOptions.stateDir, prefix) });
  current = lab;
  try {
    const [w1, w2] = lab.topology.workers as [LabMachine, LabMachine];
    log(`${mode}: lab ${prefix} on ${lab.topology.options.subnet}.0/24, bringing it up`);
    await lab.up(binDir);
    await waitFor('both nodes Ready with a pod CIDR', 120_000, async () => {
      const r = await kubectl(lab, ['get', 'nodes', '-o', 'json']);
      if (r.exitCode !== 0) return undefined;
      const nodes = (JSON.parse(r.stdout) as NodeList).items;
      const ready = nodes.filter((n) => n.spec?.podCIDR && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === 2 ? true : undefined;
    });
    await waitFor('the default service account', 60_000, async () => ((await kubectl(lab, ['get', 'serviceaccount', 'default'])).exitCode === 0 ? true : undefined));

    const pods = [
      { name: 'iperf-a', node: w1.name },
      { name: 'iperf-b', node: w2.name },
    ];
    const manifests = pods.map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name },
      spec: { nodeName: p.node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'localhost/busybox:1', imagePullPolicy: 'Never', command: ['sleep', '3600'] }] },
    }));
    const applied = await kubectl(lab, ['apply', '-f', '-'], manifests.map((m) => JSON.stringify(m)).join('\n'));
    if (applied.exitCode !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);
    const [a, b] = await waitFor('both pods Running with an IP', 120_000, async () => {
      const got = await Promise.all(pods.map(async (p) => {
        const r = await kubectl(lab, ['get', 'pod', p.name, '-o', 'json']);
        return r.exitCode === 0 ? (JSON.parse(r.stdout) as Pod) : undefined;
      }));
      return got.every((p) => p?.status?.phase === 'Running' && p.status.podIP) ? (got as [Pod, Pod]) : undefined;
    });
    const ipA = a.status!.podIP!;
    const ipB = b.status!.podIP!;
    const nsA = await podNetns(a.metadata.uid);
    const nsB = await podNetns(b.metadata.uid);
    const nodeNs = (m: LabMachine) => `/run/netns/${m.netns}`;
    const podMtu = await mtuOf(nsA, 'eth0');
    const underlayMtu = await mtuOf(nodeNs(w1), w1.vmLink);
    const route = ((await execa('ip', ['-n', w2.netns, 'route', 'get', ipA])).stdout.split('\n')[0] ?? '').replace(/\s+(uid \d+)?\s*$/, '');
    log(`${mode}: pod A ${ipA} on ${w1.name}, pod B ${ipB} on ${w2.name}; ${w2.name} routes A as: ${route}`);

    const underlay: Iperf[] = [];
    const pod: Iperf[] = [];
    for (let run = 1; run <= RUNS; run++) {
      underlay.push(await iperf(nodeNs(w1), w1.ip, nodeNs(w2), seconds));
      pod.push(await iperf(nsA, ipA, nsB, seconds));
      log(`${mode}: run ${run}/${RUNS}: underlay ${gbit(underlay.at(-1)!)} Gbit/s, pod-to-pod ${gbit(pod.at(-1)!)} Gbit/s`);
    }
    return { mode, underlay, pod, podMtu, underlayMtu, route };
  } finally {
    for (const s of servers) s.kill('SIGKILL');
    await lab.down();
    current = undefined;
  }
}

function gbit(r: Iperf): string {
  return (r.bitsPerSecond / 1e9).toFixed(2);
}

function median(values: number[]): number {
  return percentile(values, 50);
}

export async function netBenchmark(options: { seconds: number }): Promise<void> {
  const { seconds } = options;
  if (!Number.isFinite(seconds) || seconds < 1) throw new Error(`--seconds must be a number >= 1, got ${seconds}`);
  const handler = (signal: NodeJS.Signals): void => void onSignal(signal);
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  try {
    log(`bench net: iperf3 TCP, ${seconds} s per test, ${RUNS} runs per figure (median), underlay and pod-to-pod interleaved`);
    log('  pod-to-pod: iperf3 run from the host inside each pod\'s network namespace (its pause container\'s,');
    log('  via nsenter), pod A on worker-1 serving, pod B on worker-2 sending: pod eth0, veth, cni0, route via');
    log('  the peer node (host-gw) or the VXLAN device (vxlan), eth1, lab bridge, and up the same way on worker-1.');
    log('  underlay: iperf3 in the worker namespaces, worker-2 eth1 -> lab bridge -> worker-1 eth1.');
    const binDir = await controlPlaneBinDir();
    const results: ModeResult[] = [];
    for (const mode of ['host-gw', 'vxlan'] as const) results.push(await measureMode(mode, binDir, seconds));

    log('');
    log('mode     | underlay Gbit/s | pod-to-pod Gbit/s | ratio | target  | retransmits underlay / pod | MTU eth1 / pod eth0');
    log('---------|-----------------|-------------------|-------|---------|----------------------------|--------------------');
    for (const r of results) {
      const u = median(r.underlay.map((x) => x.bitsPerSecond));
      const p = median(r.pod.map((x) => x.bitsPerSecond));
      const ratio = p / u;
      const target = TARGETS[r.mode];
      const retr = `${median(r.underlay.map((x) => x.retransmits))} / ${median(r.pod.map((x) => x.retransmits))}`;
      log(
        `${r.mode.padEnd(8)} | ${(u / 1e9).toFixed(2).padStart(15)} | ${(p / 1e9).toFixed(2).padStart(17)} | ${ratio.toFixed(2).padStart(5)} | ${`>= ${target.toFixed(2)}`.padStart(7)} | ${retr.padStart(26)} | ${`${r.underlayMtu} / ${r.podMtu}`.padStart(19)}`,
      );
    }
    log('');
    log(`medians of ${RUNS} runs each; ratio = pod-to-pod / underlay of the same lab. Both "nodes" are namespaces on one`);
    log('kernel: the underlay is veth pairs over a Linux bridge, not a NIC, and iperf3\'s sender and receiver share the');
    log('same CPUs, so absolute figures are CPU-bound; compare the ratios.');
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}
