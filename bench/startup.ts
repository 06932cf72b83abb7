import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { Lab, controlPlaneBinDir } from '../src/lab/lab.ts';
import { defaultLabOptions } from '../src/lab/topology.ts';
import { DockerRuntime } from '../src/runtime/docker/docker-runtime.ts';
import { CriClient } from '../src/runtime/cri/cri-client.ts';
import { criContainerConfig, podSandboxConfig } from '../src/runtime/cri/cri-convert.ts';
import type { SandboxConfig } from '../src/runtime/types.ts';
import { buildContainerConfig, podLabels } from '../src/pods/container-config.ts';
import { fmtMs, percentile, processUsage } from './stats.ts';

/**
 * Pod startup through the whole system (kubectl create → apiserver → agent → runtime → status →
 * watch) next to its floor, per runtime, in one run: the same sandbox + container pairs made
 * straight through the runtime, all at once, on the same machine. For Docker the floor is
 * dockerode's calls (no pod network: the agent's in-process CNI is not part of it); for
 * containerd it is the CRI calls themselves (RunPodSandbox, CreateContainer, StartContainer) on
 * the worker's containerd, whose RunPodSandbox includes the CNI ADD it makes.
 */

type RuntimeName = 'docker' | 'containerd';

interface StartupFigures {
  runtime: RuntimeName;
  agent: number[];
  floor: number[];
  running: number;
  rssMiB: number;
  cpuSeconds: number;
}

const busybox = 'localhost/busybox:1';

export async function startupBenchmark(options: { pods: number; runtimes: RuntimeName[] }): Promise<void> {
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`bench startup: ${options.pods} pods at once on one node, on ${options.runtimes.join(' and ')}`);
  const results: StartupFigures[] = [];
  for (const runtime of options.runtimes) results.push(await measure(runtime, options.pods, log));

  const cell = (values: number[]): string => `${fmtMs(percentile(values, 50)).padStart(8)} ${fmtMs(percentile(values, 99)).padStart(8)}`;
  const ratio = (r: StartupFigures): string => `${(percentile(r.agent, 50) / percentile(r.floor, 50)).toFixed(2).padStart(7)}x ${(percentile(r.agent, 99) / percentile(r.floor, 99)).toFixed(2).padStart(7)}x`;
  log('');
  log(`${' '.repeat(22)}${results.map((r) => r.runtime.padStart(21)).join('   ')}`);
  log(`${' '.repeat(22)}${results.map(() => `${'p50'.padStart(8)} ${'p99'.padStart(8)}`.padStart(21)).join('   ')}`);
  log(`${'through node-agent'.padEnd(22)}${results.map((r) => cell(r.agent).padStart(21)).join('   ')}   create -> Running seen by a watch`);
  log(`${'runtime floor'.padEnd(22)}${results.map((r) => cell(r.floor).padStart(21)).join('   ')}   sandbox + container straight through the runtime`);
  log(`${'ratio'.padEnd(22)}${results.map((r) => ratio(r).padStart(21)).join('   ')}   (targets: issue 18, p99 within 1.2x at 30 pods)`);
  log(`${'agent RSS after'.padEnd(22)}${results.map((r) => `${r.rssMiB.toFixed(1)} MiB`.padStart(21)).join('   ')}`);
  log(`${'agent CPU during'.padEnd(22)}${results.map((r) => `${r.cpuSeconds.toFixed(2)} s`.padStart(21)).join('   ')}`);
  log(`${'pods Running'.padEnd(22)}${results.map((r) => `${r.running}/${options.pods}`.padStart(21)).join('   ')}`);
}

async function measure(runtime: RuntimeName, n: number, log: (line: string) => void): Promise<StartupFigures> {
  const prefix = `b${randomBytes(2).toString('hex')}`;
  const lab = new Lab({ ...defaultLabOptions, prefix, subnet: `192.168.${200 + Math.floor(Math.random() * 50)}`, workers: 1, runtime, stateDir: join(defaultLabOptions.stateDir, prefix) });
  try {
    log(`${runtime}: lab up`);
    await lab.up(await controlPlaneBinDir());
    const kc = new KubeConfig();
    kc.loadFromFile(lab.adminKubeconfig);
    const kubectl = (args: string[], input?: string) => execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, ...args], input === undefined ? {} : { input });
    for (let i = 0; i < 120; i++) {
      const r = await kubectl(['get', 'node', 'worker-1', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).catch(() => undefined);
      const sa = await kubectl(['get', 'sa', 'default']).catch(() => undefined);
      if (r?.stdout === 'True' && sa) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const agentPid = await lab.agentPidOf('worker-1');
    const before = await processUsage(agentPid);

    // Through the agent: one kubectl create of N pods, Running seen through a watch.
    const runningAt = new Map<string, number>();
    const watch = await new Watch(kc).watch('/api/v1/namespaces/default/pods', {}, (_type, pod: V1Pod) => {
      const name = pod.metadata?.name ?? '';
      if (pod.status?.phase === 'Running' && !runningAt.has(name)) runningAt.set(name, Date.now());
    }, () => undefined);
    const pods = Array.from({ length: n }, (_, i) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `bench-${i}` },
      spec: { nodeName: 'worker-1', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'] }] },
    }));
    log(`${runtime}: ${n} pods through the agent`);
    const t0 = Date.now();
    await kubectl(['create', '-f', '-'], pods.map((p) => JSON.stringify(p)).join('\n'));
    while (runningAt.size < n && Date.now() - t0 < 300_000) await new Promise((res) => setTimeout(res, 50));
    watch.abort();
    const agent = [...runningAt.values()].map((t) => t - t0);
    const after = await processUsage(agentPid);
    await kubectl(['delete', 'pods', '--all', '--wait=true', '--timeout=120s']);

    log(`${runtime}: ${n} pods straight through the runtime`);
    const floor = runtime === 'docker' ? await dockerFloor(prefix, n) : await criFloor(lab, prefix, n);
    return { runtime, agent, floor, running: runningAt.size, rssMiB: after.rssMiB, cpuSeconds: after.cpuSeconds - before.cpuSeconds };
  } finally {
    await lab.down();
  }
}

function floorSandbox(prefix: string, i: number, logRoot: string): SandboxConfig {
  const ref = { name: `floor-${i}`, namespace: 'default', uid: `${prefix}-floor-${i}`, attempt: 0 };
  return { pod: ref, hostname: ref.name, hostNetwork: false, shareProcessNamespace: false, labels: podLabels(ref), annotations: {}, logDirectory: join(logRoot, ref.uid), portMappings: [], cgroupParent: '', security: { privileged: false, hostPID: false, hostIPC: false, sysctls: {} } };
}

function floorContainer(sandbox: SandboxConfig) {
  const spec = { name: 'c', image: busybox, command: ['sleep', '3600'] };
  return buildContainerConfig({ metadata: { name: sandbox.pod.name, uid: sandbox.pod.uid }, spec: { containers: [spec] } }, spec, 0, [], [], sandbox);
}

/** The pairs through dockerode, the same parallelism. */
async function dockerFloor(prefix: string, n: number): Promise<number[]> {
  const runtime = new DockerRuntime({ endpoint: 'unix:///var/run/docker.sock', timeoutMs: 120_000, nodeName: `${prefix}-floor` });
  const logRoot = `/tmp/${prefix}-floor`;
  const f0 = Date.now();
  try {
    return await Promise.all(Array.from({ length: n }, async (_, i) => {
      const sandbox = floorSandbox(prefix, i, logRoot);
      const id = await runtime.runSandbox(sandbox);
      const cid = await runtime.createContainer(id, floorContainer(sandbox), sandbox);
      await runtime.startContainer(cid);
      return Date.now() - f0;
    }));
  } finally {
    for (const s of await runtime.listSandboxes()) await runtime.removeSandbox(s.id);
    await execa('rm', ['-rf', logRoot]);
  }
}

/** The three CRI calls per pod on the worker's containerd, the same messages the agent sends. */
async function criFloor(lab: Lab, prefix: string, n: number): Promise<number[]> {
  const client = new CriClient({ endpoint: `unix://${lab.containerdSocket('worker-1')}`, timeoutMs: 120_000 });
  const owner = { nodeName: `${prefix}-floor` };
  const logRoot = join(lab.topology.options.stateDir, 'floor-logs');
  const made: string[] = [];
  // The log directories exist before the clock starts: kubelet makes them before it calls CRI.
  for (let i = 0; i < n; i++) await mkdir(join(floorSandbox(prefix, i, logRoot).logDirectory, 'c'), { recursive: true });
  const f0 = Date.now();
  try {
    return await Promise.all(Array.from({ length: n }, async (_, i) => {
      const sandbox = floorSandbox(prefix, i, logRoot);
      const sandboxConfig = podSandboxConfig(sandbox, owner);
      const { podSandboxId } = await client.runtime('RunPodSandbox', { config: sandboxConfig });
      made.push(podSandboxId);
      const { containerId } = await client.runtime('CreateContainer', { podSandboxId, config: criContainerConfig(podSandboxId, floorContainer(sandbox), sandbox, owner), sandboxConfig });
      await client.runtime('StartContainer', { containerId });
      return Date.now() - f0;
    }));
  } finally {
    for (const id of made) {
      await client.runtime('StopPodSandbox', { podSandboxId: id }).catch(() => undefined);
      await client.runtime('RemovePodSandbox', { podSandboxId: id }).catch(() => undefined);
    }
    client.close();
  }
}
