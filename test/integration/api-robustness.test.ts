import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import type { Lab } from '../../src/lab/lab.ts';
import { loadKubeconfig } from '../../src/kube/kubeconfig.ts';
import { ClientNodeApi } from '../../src/kube/node-api.ts';
import { classifyApiError } from '../../src/kube/api-error.ts';
import { explainApiError } from '../../src/kube/explain.ts';
import { Reflector } from '../../src/kube/reflector.ts';
import { NodeStatusManager } from '../../src/node/status-manager.ts';
import { readMachineInfo, readMachineUsage } from '../../src/node/machine-info.ts';
import { validateConfig } from '../../src/config/validate.ts';
import { createRuntime } from '../../src/runtime/create-runtime.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { processAlive } from '../../src/lab/netns.ts';
import { createTestLab, eventually, kubectl, kubectlJson, condition } from '../helpers/test-lab.ts';
import { testRuntimes } from '../helpers/node-runtime.ts';

// How the agent's API use holds up against the real apiserver: the Node authorizer's refusals,
// optimistic concurrency on status writes, and a watch whose resourceVersion has expired.
for (const runtime of testRuntimes) describe(`agent API use against the real apiserver, on ${runtime}`, () => {
  let lab: Lab;
  let binDir: string;

  beforeAll(async () => {
    ({ lab, binDir } = await createTestLab({ workers: 2, runtime }));
    await lab.up(binDir);
    await eventually('both nodes registered', 60_000, async () => (await kubectlJson(lab, ['get', 'nodes'])).items.length === 2);
    // worker-2's credentials are used from this process below; its own agent must not interfere.
    await lab.stopAgent('worker-2', 'SIGTERM');
  });

  afterAll(async () => {
    await lab?.down();
  });

  async function nodeApi(worker: string) {
    const kc = await loadKubeconfig(lab.agentPaths(lab.worker(worker)).kubeconfig);
    return { kc, api: new ClientNodeApi(kc) };
  }

  it('is refused by the Node authorizer outside its own objects, with a message naming the fix', async () => {
    const { api } = await nodeApi('worker-1');
    const attempts = [
      () => api.patchNodeStatus('worker-2', { status: { conditions: [] } }),
      () => api.createNode({ metadata: { name: 'worker-9' } }),
      () => api.getLease('kube-node-lease', 'worker-2'),
      () => api.replaceLease('kube-node-lease', { metadata: { name: 'worker-2', namespace: 'kube-node-lease' }, spec: { holderIdentity: 'worker-1' } }),
    ];
    for (const attempt of attempts) {
      const err = await attempt().then(() => undefined, (e: unknown) => e);
      expect(classifyApiError(err).kind).toBe('forbidden');
    }
    const err = await attempts[0]!().catch((e: unknown) => e);
    const message = explainApiError(err, 'update node status', { server: lab.topology.apiserverURL, nodeName: 'worker-2' });
    expect(message).toContain('403');
    expect(message).toContain('system:node:worker-2');
    // Its own objects are fine.
    await expect(api.getNode('worker-1')).resolves.toMatchObject({ metadata: { name: 'worker-1' } });
  });

  it('keeps running and says why when its credentials are for another node', async () => {
    const worker = lab.worker('worker-2');
    await lab.prepareWorker(worker, { nodeName: 'worker-7', kubeconfig: lab.agentPaths(lab.worker('worker-1')).kubeconfig });
    const pid = await lab.startAgent('worker-2');
    try {
      const log = await eventually('the refusal in the agent log', 20_000, async () => {
        const text = await readFile(lab.agentPaths(worker).log, 'utf8');
        return text.includes('refused (403') ? text : undefined;
      });
      expect(log).toContain('system:node:worker-7');
      await new Promise((r) => setTimeout(r, 3000));
      expect(await processAlive(pid)).toBe(true);
      // Said once per distinct problem, not once per retry.
      const text = await readFile(lab.agentPaths(worker).log, 'utf8');
      expect(text.split('\n').filter((l) => l.includes('refused (403')).length).toBeLessThanOrEqual(2);
    } finally {
      await lab.stopAgent('worker-2', 'SIGTERM');
      await lab.prepareWorker(worker);
    }
  }, 40_000);

  it('never overwrites a newer Node: a 409 on the status patch is answered by re-reading', async () => {
    const { api } = await nodeApi('worker-2');
    // The runtime worker-2 runs on (its containerd keeps running while its agent is stopped).
    const runtimeConfig = runtime === 'containerd' ? { type: 'containerd', endpoint: `unix://${lab.containerdSocket('worker-2')}` } : { type: 'docker' };
    const result = validateConfig({ nodeName: 'worker-2', nodeIP: lab.worker('worker-2').ip, hostname: 'worker-2', kubeconfig: '/unused', nodeStatusReportFrequency: '1s', nodeStatusUpdateFrequency: '1s', runtime: runtimeConfig });
    if (!result.ok) throw new Error('config');
    const nodeRuntime = createRuntime(result.config.runtime, { nodeName: 'worker-2' });
    const manager = new NodeStatusManager({
      api, config: result.config, agentVersion: 'v0.0.0-test', machine: await readMachineInfo(),
      readUsage: () => readMachineUsage('/tmp'), runtime: nodeRuntime, server: lab.topology.apiserverURL, log: silentLogger(),
    });
    expect(await manager.syncOnce()).toBe(true);
    const sent = manager.node?.metadata?.resourceVersion;
    // Someone else writes the Node: the manager's copy is now stale.
    await kubectl(lab, ['label', 'node', 'worker-2', 'team=storage']);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await manager.syncOnce()).toBe(true);
    expect(manager.stats.conflicts).toBe(1);
    expect(manager.stats.patches).toBe(2);
    expect(Number(manager.node?.metadata?.resourceVersion)).toBeGreaterThan(Number(sent));
    const node = await kubectlJson(lab, ['get', 'node', 'worker-2']);
    expect(node.metadata.labels.team).toBe('storage');
    expect(node.status.nodeInfo.kubeletVersion).toBe('v0.0.0-test');
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(new RegExp(`^${runtime}://`));
    await nodeRuntime.close();
  });

  it('relists after 410 Gone when its resourceVersion was compacted away, and agents ride out the apiserver restart', async () => {
    const kc = await loadKubeconfig(lab.adminKubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const seen = new Map<string, V1Node>();
    const reflector = new Reflector<V1Node>({
      kc,
      path: '/api/v1/nodes',
      fieldSelector: 'metadata.name=worker-1',
      list: async () => {
        const list = await core.listNode({ fieldSelector: 'metadata.name=worker-1' });
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      handlers: {
        onSync: (items) => { seen.clear(); for (const n of items) seen.set(n.metadata!.name!, n); },
        onEvent: (type, n) => { if (type === 'DELETED') seen.delete(n.metadata!.name!); else seen.set(n.metadata!.name!, n); },
      },
      log: silentLogger(),
    });
    let stop = new AbortController();
    let running = reflector.run(stop.signal);
    await eventually('first list', 10_000, async () => reflector.stats.lists === 1);
    await kubectl(lab, ['label', 'node', 'worker-1', 'step=one']);
    await eventually('the watch to deliver the label', 10_000, async () => seen.get('worker-1')?.metadata?.labels?.['step'] === 'one');
    stop.abort();
    await running;
    const staleVersion = reflector.lastResourceVersion;

    // While the reflector is away: more writes, etcd compacted past them, the apiserver restarted
    // (its watch cache then starts after the reflector's version).
    await kubectl(lab, ['label', 'node', 'worker-1', 'step=two', '--overwrite']);
    await lab.restartComponent('kube-apiserver', binDir, 0, async () => {
      const ns = lab.topology.controlPlane.netns;
      const range = await execa('ip', ['netns', 'exec', ns, 'curl', '-sf', '-X', 'POST', 'http://127.0.0.1:2379/v3/kv/range', '-d', '{"key":"AA==","limit":1}']);
      const revision = JSON.parse(range.stdout).header.revision as string;
      await execa('ip', ['netns', 'exec', ns, 'curl', '-sf', '-X', 'POST', 'http://127.0.0.1:2379/v3/kv/compaction', '-d', JSON.stringify({ revision, physical: true })]);
      expect(Number(revision)).toBeGreaterThan(Number(staleVersion));
    });

    stop = new AbortController();
    running = reflector.run(stop.signal);
    try {
      await eventually('a relist after 410 with the newest state', 30_000, async () =>
        reflector.stats.gone >= 1 && reflector.stats.lists === 2 && seen.get('worker-1')?.metadata?.labels?.['step'] === 'two');
    } finally {
      stop.abort();
      await running;
    }

    // The running agent of worker-1 came through the restart: still alive, lease renewing, Ready.
    const before = await kubectlJson(lab, ['get', 'lease', '-n', 'kube-node-lease', 'worker-1']);
    await eventually('worker-1 lease renewed after the restart', 20_000, async () => {
      const lease = await kubectlJson(lab, ['get', 'lease', '-n', 'kube-node-lease', 'worker-1']);
      return Date.parse(lease.spec.renewTime) > Date.parse(before.spec.renewTime);
    });
    // If the node lifecycle controller marked it Unknown meanwhile, the next status tick (10 s)
    // puts it right: the agent compares with the Node the apiserver holds.
    await eventually('worker-1 Ready after the restart', 15_000, async () => condition(await kubectlJson(lab, ['get', 'node', 'worker-1']), 'Ready')?.status === 'True');
  }, 120_000);
});
