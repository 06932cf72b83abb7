import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { Lab, controlPlaneBinDir } from '../src/lab/lab.ts';
import { defaultLabOptions } from '../src/lab/topology.ts';
import type { ProbeStats } from '../src/probes/probe-manager.ts';
import { sleep } from '../src/util/sleep.ts';
import { percentile, processUsage } from './stats.ts';

/**
 * What probing costs the agent, and how exactly it acts. One node, N busybox httpd pods; in one
 * run, side by side:
 *   - the same N pods with no probes (the agent's idle cost: relist, resync, status),
 *   - each with an HTTP readiness probe every 10 s, then every 1 s:
 *     the agent's CPU share of one core and its RSS over a measuring window, and the probe
 *     latency p50/p99 and scheduling lateness from the agent's own counters (/statusz);
 *   - liveness restarts: a few pods whose liveness endpoint is made to fail (period 1 s,
 *     failureThreshold 3), and the time from the failure to the new container's start, read
 *     from Docker's StartedAt, next to the bound period x failureThreshold + 1 s.
 * Prints figures, asserts nothing.
 */

const busybox = 'localhost/busybox:1';
const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** What the benchmark reads of a Pod. */
interface BenchPod {
  status?: { conditions?: { type: string; status: string }[]; containerStatuses?: { state?: { running?: unknown } }[] };
}

interface Statusz {
  pods?: { probes?: ProbeStats };
}

interface Phase {
  name: string;
  periodSeconds: number | undefined;
  windowSeconds: number;
}

interface PhaseResult {
  phase: Phase;
  cpuShare: number;
  rssMiB: number;
  probes: ProbeStats | undefined;
  podsReadyS: number;
}

function podJson(name: string, periodSeconds: number | undefined, liveness?: { periodSeconds: number; failureThreshold: number }): object {
  const probe = periodSeconds === undefined ? {} : { readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds } };
  const live = liveness ? { livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, ...liveness } } : {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { bench: 'probes' } },
    spec: {
      nodeName: 'worker-1',
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'c', image: busybox, imagePullPolicy: 'Never',
        // httpd under sh, which exits on SIGTERM: a kill costs no grace period.
        command: ['sh', '-c', "mkdir -p /www && echo ok > /www/ready && echo ok > /www/healthz && httpd -f -p 0.0.0.0:8080 -h /www & trap 'kill $!; exit 143' TERM; wait"],
        ...probe,
        ...live,
      }],
    },
  };
}

export async function probesBenchmark(options: { pods: number; window?: number }): Promise<void> {
  const n = options.pods;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--pods must be a whole number >= 1, got ${n}`);
  const prefix = `bp${randomBytes(2).toString('hex').slice(0, 3)}`;
  const lab = new Lab({ ...defaultLabOptions, prefix, subnet: `192.168.${150 + Math.floor(Math.random() * 100)}`, workers: 1, network: 'host-gw', stateDir: join(defaultLabOptions.stateDir, prefix) });
  const kubectl = (args: string[], input?: string) => execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, ...args], input === undefined ? { reject: false } : { input, reject: false });
  const worker = lab.topology.workers[0]!;
  const statusz = async (): Promise<Statusz> => JSON.parse((await execa('ip', ['netns', 'exec', worker.netns, 'curl', '-s', 'http://127.0.0.1:10248/statusz'])).stdout) as Statusz;
  const waitFor = async <T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const v = await check().catch(() => undefined);
      if (v !== undefined) return v;
      await sleep(500);
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const podList = async (): Promise<BenchPod[]> => (JSON.parse((await kubectl(['get', 'pods', '-l', 'bench=probes', '-o', 'json'])).stdout || '{"items":[]}') as { items: BenchPod[] }).items;
  const window = options.window ?? 60;
  const phases: Phase[] = [
    { name: 'no probes (idle)', periodSeconds: undefined, windowSeconds: window },
    { name: 'readiness every 10 s', periodSeconds: 10, windowSeconds: window },
    { name: 'readiness every 1 s', periodSeconds: 1, windowSeconds: window },
  ];
  const results: PhaseResult[] = [];
  try {
    log(`bench probes: ${n} httpd pods on one node, a ${window} s window per phase`);
    await lab.up(await controlPlaneBinDir());
    await waitFor('worker-1 Ready', 120_000, async () => ((await kubectl(['get', 'node', 'worker-1', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).stdout === 'True' ? true : undefined));
    await waitFor('the default service account', 60_000, async () => ((await kubectl(['get', 'sa', 'default'])).exitCode === 0 ? true : undefined));
    const pid = await lab.agentPidOf('worker-1');

    for (const phase of phases) {
      const t0 = Date.now();
      const manifests = Array.from({ length: n }, (_, i) => JSON.stringify(podJson(`p${i}`, phase.periodSeconds))).join('\n');
      const applied = await kubectl(['apply', '-f', '-'], manifests);
      if (applied.exitCode !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
      await waitFor(`${n} pods Ready`, 600_000, async () => {
        const items = await podList();
        return items.length === n && items.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
      });
      const podsReadyS = (Date.now() - t0) / 1000;
      // Let the start-up settle, then measure.
      await sleep(Math.min(20, window / 2) * 1000);
      const before = await processUsage(pid);
      const beforeStats = (await statusz()).pods?.probes;
      const w0 = Date.now();
      await sleep(phase.windowSeconds * 1000);
      const after = await processUsage(pid);
      const probes = (await statusz()).pods?.probes;
      const cpuShare = (after.cpuSeconds - before.cpuSeconds) / ((Date.now() - w0) / 1000);
      results.push({ phase, cpuShare, rssMiB: after.rssMiB, probes, podsReadyS });
      const runs = probes && beforeStats ? probes.runs - beforeStats.runs : 0;
      log(`${phase.name}: all Ready after ${podsReadyS.toFixed(1)} s; CPU ${(cpuShare * 100).toFixed(2)} % of a core, RSS ${after.rssMiB.toFixed(0)} MiB, ${runs} probe runs in the window`);
      await kubectl(['delete', 'pods', '-l', 'bench=probes', '--wait=true', '--timeout=300s']);
    }

    // Liveness restarts, timed from the failure to Docker's StartedAt of the new container.
    const live = { periodSeconds: 1, failureThreshold: 3 };
    const livePods = 5;
    await kubectl(['apply', '-f', '-'], Array.from({ length: livePods }, (_, i) => JSON.stringify(podJson(`live${i}`, undefined, live))).join('\n'));
    await waitFor('liveness pods Running', 120_000, async () => {
      const items = await podList();
      return items.length === livePods && items.every((p) => p.status?.containerStatuses?.[0]?.state?.running) ? true : undefined;
    });
    await sleep(3000);
    const delays: number[] = [];
    for (let i = 0; i < livePods; i++) {
      const name = `live${i}`;
      const id = (await execa('docker', ['ps', '-q', '--no-trunc', '--filter', `label=io.kubernetes.pod.name=${name}`, '--filter', 'label=io.kubernetes.container.name=c'])).stdout.trim();
      await execa('docker', ['exec', id, 'rm', '/www/healthz']);
      const failedAt = Date.now();
      const startedAt = await waitFor(`${name} restarted`, 60_000, async () => {
        const ids = (await execa('docker', ['ps', '-q', '--no-trunc', '--filter', `label=io.kubernetes.pod.name=${name}`, '--filter', 'label=io.kubernetes.container.name=c'])).stdout.split('\n').filter((x) => x && x !== id);
        if (ids.length === 0) return undefined;
        return Date.parse((await execa('docker', ['inspect', '-f', '{{.State.StartedAt}}', ids[0]!])).stdout.trim());
      });
      delays.push(startedAt - failedAt);
    }
    const bound = (live.periodSeconds * live.failureThreshold + 1) * 1000;

    log('');
    log(`phase                  | CPU % of a core | RSS MiB | probe latency p50 / p99 ms | start lateness p50 / p99 ms | target`);
    log(`-----------------------|-----------------|---------|----------------------------|-----------------------------|-------`);
    for (const r of results) {
      const p = r.probes;
      const lat = p && r.phase.periodSeconds !== undefined ? `${p.latencyMs.p50} / ${p.latencyMs.p99}` : '-';
      const late = p && r.phase.periodSeconds !== undefined ? `${p.lateMs.p50} / ${p.lateMs.p99}` : '-';
      const target = r.phase.periodSeconds === 10 ? '< 5 %' : '';
      log(`${r.phase.name.padEnd(22)} | ${(r.cpuShare * 100).toFixed(2).padStart(15)} | ${r.rssMiB.toFixed(0).padStart(7)} | ${lat.padStart(26)} | ${late.padStart(27)} | ${target}`);
    }
    log('');
    log(`liveness (period ${live.periodSeconds} s, failureThreshold ${live.failureThreshold}): failure -> new container started, ${livePods} pods:`);
    log(`  ${delays.map((d) => `${d} ms`).join(', ')}; p50 ${percentile(delays, 50)} ms, max ${Math.max(...delays)} ms; bound period x failureThreshold + 1 s = ${bound} ms`);
    log('latency and lateness are the agent\'s own figures over its most recent 4096 runs (GET to the pod IP through');
    log('cni0; lateness = start minus due time). CPU is utime+stime of the agent process over the window.');
  } finally {
    await lab.down();
  }
}
