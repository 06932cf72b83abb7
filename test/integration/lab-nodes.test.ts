import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { Lab } from '../../src/lab/lab.ts';
import { parseCidr, cidrsOverlap } from '../../src/util/cidr.ts';
import { createTestLab, eventsOf, eventually, getPod, kubectl, kubectlJson, condition, labLeftovers, podManifest } from '../helpers/test-lab.ts';
import { testRuntimes } from '../helpers/node-runtime.ts';

// The acceptance of the foundation issue, against the real control plane with real kubectl:
// two workers register, turn Ready with their own IPs and pod CIDRs, keep their leases fresh,
// and the node lifecycle controller reacts when an agent dies and when it comes back.
for (const runtime of testRuntimes) describe(`lab with two workers on ${runtime}`, () => {
  let lab: Lab;
  let binDir: string;
  let appliedAtOnce: { exitCode?: number | undefined; stderr: string };

  beforeAll(async () => {
    const created = await createTestLab({ workers: 2, runtime });
    lab = created.lab;
    binDir = created.binDir;
    await lab.up(created.binDir);
    // What a script does: apply a pod the moment `lab up` returns, no retry, no wait.
    appliedAtOnce = await kubectl(lab, ['apply', '-f', '-'], { reject: false, input: JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'right-after-up', namespace: 'default' },
      spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'localhost/busybox:1', imagePullPolicy: 'Never', command: ['sleep', '3600'] }] },
    }) });
  });

  it('is usable when `lab up` returns: a pod applied at once is admitted, scheduled and runs', async () => {
    expect(appliedAtOnce.stderr).toBe('');
    expect(appliedAtOnce.exitCode).toBe(0);
    const pod = await eventually('the pod Running', 60_000, async () => {
      const p = await kubectlJson(lab, ['get', 'pod', 'right-after-up']);
      return p.status?.phase === 'Running' && p.status.podIP ? p : undefined;
    });
    expect(lab.topology.workers.map((w) => w.name)).toContain(pod.spec.nodeName);
    await kubectl(lab, ['delete', 'pod', 'right-after-up', '--wait=false']);
  });

  afterAll(async () => {
    await lab?.down();
  });

  it('shows both workers Ready with their InternalIP and a pod CIDR each', async () => {
    // The node lifecycle controller lifts the not-ready taint a moment after Ready turns True.
    const nodes = await eventually('both nodes Ready with a podCIDR and no taint', 60_000, async () => {
      const list = await kubectlJson(lab, ['get', 'nodes']);
      const ready = list.items.filter((n: any) => condition(n, 'Ready')?.status === 'True' && n.spec.podCIDR && (n.spec.taints ?? []).length === 0);
      return ready.length === 2 ? list.items : undefined;
    });
    const byName = Object.fromEntries(nodes.map((n: any) => [n.metadata.name, n]));
    for (const worker of lab.topology.workers) {
      const node = byName[worker.name];
      expect(node.status.addresses).toEqual([{ type: 'InternalIP', address: worker.ip }, { type: 'Hostname', address: worker.name }]);
      expect(node.status.nodeInfo.kubeletVersion).toMatch(/^v\d+\.\d+\.\d+/);
      expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(new RegExp(`^${runtime}://\\d+`));
      expect(node.status.capacity.pods).toBe('110');
      expect(node.status.daemonEndpoints.kubeletEndpoint.Port).toBe(10250);
      expect(node.metadata.labels['kubernetes.io/hostname']).toBe(worker.name);
      expect(condition(node, 'Ready')).toMatchObject({ reason: 'KubeletReady' });
      expect(condition(node, 'MemoryPressure')).toMatchObject({ status: 'False', reason: 'KubeletHasSufficientMemory' });
      expect(condition(node, 'ContainerRuntimeUnhealthy')).toMatchObject({ status: 'False', reason: 'ContainerRuntimeIsHealthy' });
      expect(node.spec.taints ?? []).toEqual([]);
    }
    // node IPAM hands each node its own /24 of the cluster CIDR.
    const cluster = parseCidr(lab.topology.options.clusterCIDR);
    const cidrs = nodes.map((n: any) => parseCidr(n.spec.podCIDR));
    for (const c of cidrs) expect(c.ok && cluster.ok && c.cidr.prefix === 24 && cidrsOverlap(c.cidr, cluster.cidr)).toBe(true);
    const [a, b] = cidrs;
    expect(a?.ok && b?.ok && cidrsOverlap(a.cidr, b.cidr)).toBe(false);

    // The agent's Events, as kubectl describe shows them.
    const events = await eventually('NodeReady events', 20_000, async () => {
      const list = await kubectlJson(lab, ['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.kind=Node']);
      const reasons = list.items.map((e: any) => `${e.involvedObject.name}/${e.reason}`);
      return lab.topology.workers.every((w) => reasons.includes(`${w.name}/NodeReady`)) ? reasons : undefined;
    });
    for (const w of lab.topology.workers) expect(events).toContain(`${w.name}/Starting`);

    // kubectl -o wide reads the same thing a user would.
    const { stdout } = await execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, 'get', 'nodes', '-o', 'wide']);
    for (const worker of lab.topology.workers) expect(stdout).toMatch(new RegExp(`${worker.name}\\s+Ready\\s+.*${worker.ip.replaceAll('.', '\\.')}`));
  }, 90_000);

  it('renews each Lease every 10 s, owned by its Node', async () => {
    const first = await kubectlJson(lab, ['get', 'lease', '-n', 'kube-node-lease']);
    const nodes = await kubectlJson(lab, ['get', 'nodes']);
    const uids = Object.fromEntries(nodes.items.map((n: any) => [n.metadata.name, n.metadata.uid]));
    expect(first.items.map((l: any) => l.metadata.name).sort()).toEqual(['worker-1', 'worker-2']);
    for (const lease of first.items) {
      expect(lease.spec).toMatchObject({ holderIdentity: lease.metadata.name, leaseDurationSeconds: 40 });
      expect(lease.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: lease.metadata.name, uid: uids[lease.metadata.name] }]);
    }
    const before = Object.fromEntries(first.items.map((l: any) => [l.metadata.name, Date.parse(l.spec.renewTime)]));
    await new Promise((r) => setTimeout(r, 11_000));
    const second = await kubectlJson(lab, ['get', 'lease', '-n', 'kube-node-lease']);
    for (const lease of second.items) {
      const advanced = Date.parse(lease.spec.renewTime) - before[lease.metadata.name];
      expect(advanced).toBeGreaterThanOrEqual(5_000);
      expect(advanced).toBeLessThanOrEqual(16_000);
    }
  }, 30_000);

  it('puts Ready back within a status tick when someone else marks it Unknown while the agent runs', async () => {
    // What the node lifecycle controller does when it heard nothing for its grace period (an
    // apiserver restart): Ready=Unknown on the server, while the agent has nothing new to say.
    await eventually('worker-2 Ready', 60_000, async () => condition(await kubectlJson(lab, ['get', 'node', 'worker-2']), 'Ready')?.status === 'True');
    const patch = { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }] } };
    await execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, 'patch', 'node', 'worker-2', '--subresource=status', '--type=strategic', '-p', JSON.stringify(patch)]);
    expect(condition(await kubectlJson(lab, ['get', 'node', 'worker-2']), 'Ready')?.status).toBe('Unknown');
    const at = Date.now();
    await eventually('worker-2 Ready again', 20_000, async () => condition(await kubectlJson(lab, ['get', 'node', 'worker-2']), 'Ready')?.status === 'True', 250);
    // nodeStatusUpdateFrequency is 10 s: the next tick corrects it, not the 5-minute report.
    expect(Date.now() - at).toBeLessThan(12_000);
  }, 60_000);

  it('goes Unknown and tainted when an agent dies, and Ready again when it returns', async () => {
    await lab.stopAgent('worker-2', 'SIGKILL');
    const unknown = await eventually('worker-2 Ready=Unknown and tainted unreachable', 60_000, async () => {
      const node = await kubectlJson(lab, ['get', 'node', 'worker-2']);
      const keys = (node.spec.taints ?? []).map((t: any) => `${t.key}:${t.effect}`);
      return condition(node, 'Ready')?.status === 'Unknown' && keys.includes('node.kubernetes.io/unreachable:NoSchedule') ? node : undefined;
    });
    expect(condition(unknown, 'Ready')?.reason).toBe('NodeStatusUnknown');
    // The other worker is untouched.
    expect(condition(await kubectlJson(lab, ['get', 'node', 'worker-1']), 'Ready')?.status).toBe('True');

    await lab.startAgent('worker-2');
    await eventually('worker-2 Ready again without the unreachable taint', 60_000, async () => {
      const node = await kubectlJson(lab, ['get', 'node', 'worker-2']);
      const tainted = (node.spec.taints ?? []).some((t: any) => t.key.startsWith('node.kubernetes.io/'));
      return condition(node, 'Ready')?.status === 'True' && !tainted;
    });
  }, 150_000);

  it('routes to a Node\'s podCIDR only inside the clusterCIDR: a Node claiming the service range gets no route', async () => {
    const netns = lab.worker('worker-1').netns;
    const gateway = `${lab.topology.options.subnet}.99`;
    const fake = (name: string, podCIDR: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: { podCIDR, podCIDRs: [podCIDR] }, status: { addresses: [{ type: 'InternalIP', address: gateway }] } });
    await kubectl(lab, ['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [fake('rogue', '10.96.0.0/24'), fake('honest', '10.244.200.0/24')] }) });
    try {
      const routes = async (dst: string) => (await execa('ip', ['netns', 'exec', netns, 'ip', '-4', 'route', 'show', dst])).stdout.trim();
      // The honest one is programmed (so the agent did see both Nodes), the rogue one never.
      await eventually('a route to the honest Node', 30_000, async () => (await routes('10.244.200.0/24')).includes(`via ${gateway}`));
      expect(await routes('10.96.0.0/24')).toBe('');
      const log = await readFile(lab.agentPaths(lab.worker('worker-1')).log, 'utf8');
      expect(log).toContain('podCIDR 10.96.0.0/24 is outside the clusterCIDR 10.244.0.0/16');
    } finally {
      await kubectl(lab, ['delete', 'node', 'rogue', 'honest', '--wait=false'], { reject: false });
    }
  });

  it('is not Ready until it has a podCIDR, and a pod bound to it before then starts once it has one', async () => {
    const node = 'worker-2';
    const nodeOf = async () => (await kubectlJson(lab, ['get', 'nodes'])).items.find((n: any) => n.metadata.name === node);
    await lab.stopAgent(node, 'SIGTERM');
    // Without kube-controller-manager nobody hands out pod CIDRs: the Node registered anew has none.
    await lab.restartComponent('kube-controller-manager', binDir, 0, async () => {
      await kubectl(lab, ['delete', 'node', node]);
      await lab.startAgent(node);
      const seen = await eventually(`${node} registered again with its Ready condition`, 30_000, async () => {
        const n = await nodeOf();
        const ready = n && condition(n, 'Ready');
        return ready ? { n, ready } : undefined;
      });
      expect(seen.n.spec.podCIDR).toBeUndefined();
      expect(seen.ready).toMatchObject({ status: 'False', reason: 'KubeletNotReady' });
      expect(seen.ready.message).toContain('container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:network plugin not ready: cni config uninitialized');
      await kubectl(lab, ['apply', '-f', '-'], { input: JSON.stringify(podManifest('early-bird', node, { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'localhost/busybox:1', imagePullPolicy: 'Never', command: ['sleep', '3600'] }] })) });
      const waitedFor = await eventually('the NetworkNotReady event', 30_000, async () => (await eventsOf(lab, 'early-bird')).find((e) => e.startsWith('NetworkNotReady: ')));
      expect(waitedFor).toContain('network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady');
      const pending = await getPod(lab, 'early-bird');
      expect(pending.status.phase).toBe('Pending');
      expect(pending.status.podIP).toBeUndefined();
      expect(condition(await nodeOf(), 'Ready')?.status).toBe('False');
    });
    // kube-controller-manager is back and assigns a CIDR: the node turns Ready, the pod starts in it.
    const ready = await eventually(`${node} Ready with a podCIDR`, 60_000, async () => {
      const n = await nodeOf();
      return n?.spec.podCIDR && condition(n, 'Ready')?.status === 'True' ? n : undefined;
    });
    const pod = await eventually('early-bird Running with an IP', 60_000, async () => {
      const p = await getPod(lab, 'early-bird');
      return p.status?.phase === 'Running' && p.status.podIP ? p : undefined;
    });
    const cidr = parseCidr(ready.spec.podCIDR);
    const ip = parseCidr(`${pod.status.podIP}/32`);
    expect(cidr.ok && ip.ok && cidrsOverlap(cidr.cidr, ip.cidr)).toBe(true);
    await kubectl(lab, ['delete', 'pod', 'early-bird', '--wait=false']);
  });

  it('is taken down completely, and down is safe to repeat', async () => {
    const { prefix } = lab.topology.options;
    await lab.down();
    await lab.down();
    const netns = (await execa('ip', ['netns', 'list'])).stdout;
    const links = (await execa('ip', ['-o', 'link', 'show'])).stdout;
    expect(netns).not.toContain(`${prefix}-`);
    expect(links).not.toContain(`${prefix}-`);
    const processes = (await execa('ps', ['-eo', 'args'])).stdout;
    expect(processes).not.toContain(lab.topology.options.stateDir);
    expect(await labLeftovers(lab)).toEqual([]);
  }, 60_000);
});
