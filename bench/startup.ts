import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { Lab, controlPlaneBinDir } from '../src/lab/lab.ts';
import { defaultLabOptions } from '../src/lab/topology.ts';
import { DockerRuntime } from '../src/runtime/docker/docker-runtime.ts';
import type { SandboxConfig } from '../src/runtime/types.ts';
import { buildContainerConfig, podLabels } from '../src/pods/container-config.ts';
import { fmtMs, percentile, processUsage } from './stats.ts';

/**
 * Pod startup through the whole system (kubectl create → apiserver → agent → Docker → status →
 * watch) next to its floor: the same sandbox + container pairs made straight through the runtime,
 * all at once, in the same run on the same machine.
 */
export async function startupBenchmark(options: { pods: number }): Promise<void> {
  const n = options.pods;
  const prefix = `b${randomBytes(2).toString('hex')}`;
  const lab = new Lab({ ...defaultLabOptions, prefix, subnet: `192.168.${200 + Math.floor(Math.random() * 50)}`, workers: 1, stateDir: join(defaultLabOptions.stateDir, prefix) });
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    log(`bench startup: ${n} pods at once on one node`);
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
      spec: { nodeName: 'worker-1', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'localhost/busybox:1', command: ['sleep', '3600'] }] },
    }));
    const t0 = Date.now();
    await kubectl(['create', '-f', '-'], pods.map((p) => JSON.stringify(p)).join('\n'));
    while (runningAt.size < n && Date.now() - t0 < 300_000) await new Promise((res) => setTimeout(res, 50));
    watch.abort();
    const agentLatencies = [...runningAt.values()].map((t) => t - t0);
    const after = await processUsage(agentPid);
    await kubectl(['delete', 'pods', '--all', '--wait=true', '--timeout=120s']);

    // The floor: the same pairs straight through the runtime, same parallelism.
    const runtime = new DockerRuntime({ endpoint: 'unix:///var/run/docker.sock', timeoutMs: 120_000, nodeName: `${prefix}-floor` });
    const f0 = Date.now();
    const floor = await Promise.all(Array.from({ length: n }, async (_, i) => {
      const ref = { name: `floor-${i}`, namespace: 'default', uid: `${prefix}-floor-${i}`, attempt: 0 };
      const sandbox: SandboxConfig = { pod: ref, hostname: ref.name, hostNetwork: false, shareProcessNamespace: false, labels: podLabels(ref), annotations: {}, logDirectory: `/tmp/${prefix}-floor/${ref.uid}`, portMappings: [], cgroupParent: '', security: { privileged: false } };
      const id = await runtime.runSandbox(sandbox);
      const spec = { name: 'c', image: 'localhost/busybox:1', command: ['sleep', '3600'] };
      const cid = await runtime.createContainer(id, buildContainerConfig({ metadata: { name: ref.name, uid: ref.uid }, spec: { containers: [spec] } }, spec, 0, [], [], sandbox), sandbox);
      await runtime.startContainer(cid);
      return Date.now() - f0;
    }));
    for (const s of await runtime.listSandboxes()) await runtime.removeSandbox(s.id);
    await execa('rm', ['-rf', `/tmp/${prefix}-floor`]);

    const p50 = percentile(agentLatencies, 50);
    const p99 = percentile(agentLatencies, 99);
    const f50 = percentile(floor, 50);
    const f99 = percentile(floor, 99);
    log('');
    log(`                         p50        p99      (n=${n})`);
    log(`through node-agent   ${fmtMs(p50).padStart(9)}  ${fmtMs(p99).padStart(9)}   create -> Running observed by a watch`);
    log(`runtime floor        ${fmtMs(f50).padStart(9)}  ${fmtMs(f99).padStart(9)}   sandbox + container straight through Docker`);
    log(`ratio                ${(p50 / f50).toFixed(2).padStart(8)}x  ${(p99 / f99).toFixed(2).padStart(8)}x   (target: p99 within 1.5x)`);
    log(`agent: RSS ${after.rssMiB.toFixed(1)} MiB, CPU ${(after.cpuSeconds - before.cpuSeconds).toFixed(2)} s during the run (${runningAt.size}/${n} pods Running)`);
  } finally {
    await lab.down();
  }
}
