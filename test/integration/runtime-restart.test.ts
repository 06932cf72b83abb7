import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.ts';
import { apply, condition, createTestLab, eventually, getPod, kubectl, kubectlJson, podManifest } from '../helpers/test-lab.ts';
import { runtimeCli, testRuntimes } from '../helpers/node-runtime.ts';

// containerd restarted under running pods, as `systemctl restart containerd` does on a node: its
// shims and containers keep running while it is away. The agent must ride it out: report the
// runtime's trouble on the Node only while it lasts, reconnect by itself, and restart nothing
// that was healthy (exec probes that cannot run meanwhile are the agent's trouble, not the
// container's). Docker is left out: without live-restore a dockerd restart stops every
// container, which is a different event, and the machine's one dockerd serves every test.
const busybox = 'localhost/busybox:1';
const node = 'worker-1';

describe.runIf(testRuntimes.includes('containerd'))('containerd restarted under 10 running pods', () => {
  let lab: Lab;

  beforeAll(async () => {
    const created = await createTestLab({ workers: 1, runtime: 'containerd' });
    lab = created.lab;
    await lab.up(created.binDir);
    await eventually(`${node} Ready`, 90_000, async () => condition(await kubectlJson(lab, ['get', 'node', node]), 'Ready')?.status === 'True');
    await eventually('the default service account', 30_000, async () => (await kubectl(lab, ['get', 'serviceaccount', 'default'], { reject: false })).exitCode === 0);
  });

  afterAll(async () => {
    await lab?.down();
  });

  it('the agent reconnects, restarts nothing, and shows ContainerRuntimeUnhealthy only while containerd is down', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `steady-${i}`);
    // Half of them with exec probes every second, which fail to run while containerd is away.
    await apply(lab, ...names.map((name, i) => podManifest(name, node, {
      containers: [{
        name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['sh', '-c', 'touch /tmp/ok; exec sleep 3600'],
        ...(i % 2 === 0 ? { livenessProbe: { exec: { command: ['test', '-f', '/tmp/ok'] }, periodSeconds: 1, failureThreshold: 1 }, readinessProbe: { exec: { command: ['test', '-f', '/tmp/ok'] }, periodSeconds: 1 } } : {}),
      }],
    })));
    const before = await eventually('10 pods Running and Ready', 90_000, async () => {
      const items = (await kubectlJson(lab, ['get', 'pods'])).items.filter((p: any) => names.includes(p.metadata.name));
      return items.length === 10 && items.every((p: any) => condition(p, 'Ready')?.status === 'True') ? items : undefined;
    });
    const ids = new Map<string, string>(before.map((p: any) => [p.metadata.name, p.status.containerStatuses[0].containerID]));
    const healthy = condition(await kubectlJson(lab, ['get', 'node', node]), 'ContainerRuntimeUnhealthy');
    expect(healthy).toMatchObject({ status: 'False', reason: 'ContainerRuntimeIsHealthy' });
    const agentPid = await lab.agentPidOf(node);

    let downSeen: { ready: any; problem: any } | undefined;
    await lab.restartContainerd(node, 0, async () => {
      // While containerd is away: within a status tick (10 s) the Node says so.
      downSeen = await eventually('the Node to report containerd unhealthy', 40_000, async () => {
        const n = await kubectlJson(lab, ['get', 'node', node]);
        const problem = condition(n, 'ContainerRuntimeUnhealthy');
        return problem?.status === 'True' ? { ready: condition(n, 'Ready'), problem } : undefined;
      }, 1000);
      // A few more seconds down: exec probes keep failing to run.
      await new Promise((r) => setTimeout(r, 5000));
    });
    expect(downSeen?.problem).toMatchObject({ status: 'True', reason: 'ContainerdUnhealthy' });
    expect(downSeen?.problem.message).toMatch(/containerd is not healthy/);
    expect(downSeen?.ready).toMatchObject({ status: 'False', reason: 'KubeletNotReady' });
    expect(downSeen?.ready.message).toMatch(/container runtime not ready: RuntimeReady=false/);

    // containerd is back: the agent finds it again by itself.
    const back = await eventually('the Node healthy and Ready again', 60_000, async () => {
      const n = await kubectlJson(lab, ['get', 'node', node]);
      return condition(n, 'ContainerRuntimeUnhealthy')?.status === 'False' && condition(n, 'Ready')?.status === 'True' ? n : undefined;
    }, 1000);
    expect(condition(back, 'ContainerRuntimeUnhealthy')?.reason).toBe('ContainerRuntimeIsHealthy');
    const events = (await kubectlJson(lab, ['get', 'events', '--field-selector', `involvedObject.kind=Node,involvedObject.name=${node}`])).items.map((e: any) => `${e.type} ${e.reason}`);
    expect(events).toContain('Warning ContainerdUnhealthy');
    expect(events).toContain('Normal ContainerRuntimeIsHealthy');

    // Nothing was restarted: the same containers, no restarts, all Ready, the agent never died.
    await new Promise((r) => setTimeout(r, 5000));
    const after = (await kubectlJson(lab, ['get', 'pods'])).items.filter((p: any) => names.includes(p.metadata.name));
    for (const p of after) {
      expect(p.status.containerStatuses[0], p.metadata.name).toMatchObject({ containerID: ids.get(p.metadata.name), restartCount: 0, ready: true });
    }
    const running = await runtimeCli(lab, node).containers({});
    for (const id of ids.values()) expect(running).toContain(id.replace('containerd://', ''));
    expect(await lab.agentPidOf(node)).toBe(agentPid);
    expect(await lab.agentAlive(node)).toBe(true);

    // And the reconnected agent runs new pods.
    await apply(lab, podManifest('after-restart', node, { containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] }));
    await eventually('a new pod Running after the restart', 60_000, async () => (await getPod(lab, 'after-restart')).status?.phase === 'Running');
    await kubectl(lab, ['delete', 'pod', 'after-restart', ...names, '--wait=false']);
  }, 240_000);
});
