import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../src/lab/lab.ts';
import { NETWORK_NAME } from '../../src/net/pod-network.ts';
import { apply, condition, createTestLab, eventsOf, eventually, getPod, kubectl, kubectlJson, podManifest } from '../helpers/test-lab.ts';
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

// The runtime killed outright under 30 pods (a crash, or `systemctl kill` of its cgroup): every
// container and sandbox dies. The agent must make new sandboxes with new IPs, report those IPs
// (the current sandbox's only: two podIPs of one family are refused by the apiserver, and then no
// status of the pod is ever written again), count the restarts, and leak no address.
for (const runtime of testRuntimes) {
  describe(`${runtime} killed under 30 pods`, () => {
    let lab: Lab;

    beforeAll(async () => {
      const created = await createTestLab({ workers: 1, runtime });
      lab = created.lab;
      await lab.up(created.binDir);
    });

    afterAll(async () => {
      await lab?.down();
    });

    const ipamDir = () => join(lab.agentPaths(lab.worker(node)).root, 'cni', 'networks', NETWORK_NAME);
    const allocated = async () => (await readdir(ipamDir()).catch(() => [] as string[])).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort();

    it('within 60 s every pod is Running again with its new IP in the apiserver, its restart counted, and no IP leaked', async () => {
      const names = Array.from({ length: 30 }, (_, i) => `killed-${i}`);
      await apply(lab, ...names.map((name) => podManifest(name, node, {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
      })));
      const listed = async () => (await kubectlJson(lab, ['get', 'pods'])).items.filter((p: any) => names.includes(p.metadata.name));
      const before = await eventually('30 pods Running with an IP', 150_000, async () => {
        const items = await listed();
        return items.length === 30 && items.every((p: any) => p.status.phase === 'Running' && p.status.podIP) ? items : undefined;
      }, 1000);
      const oldIPs = new Map<string, string>(before.map((p: any) => [p.metadata.name, p.status.podIP]));
      expect(await allocated()).toEqual([...oldIPs.values()].sort());
      const agentPid = await lab.agentPidOf(node);
      // Four earlier starts of the runtime on record (a crash loop); the restart below is the fifth.
      const subject = runtime === 'docker' ? 'Docker' : 'Containerd';
      const startsFile = join(lab.agentPaths(lab.worker(node)).root, `${runtime}-starts`);
      const recorded = await eventually('the running daemon written down', 30_000, async () => (await readFile(startsFile, 'utf8').catch(() => '')).trim() || undefined);
      const planted = [9, 8, 7, 6].map((m) => Date.now() - m * 60_000);
      // The running daemon's own line is kept (it is the same process at the next look) but moved
      // out of the window, so that only a new process can make the fifth start.
      const aged = recorded.split('\n').map((line) => `${Date.now() - 2 * 3600_000} ${line.split(' ')[1] ?? ''}`);
      await writeFile(startsFile, `${[...aged, ...planted].join('\n')}\n`);

      const killed = await lab.killRuntime(node);
      if (runtime === 'containerd') expect(killed).toBeGreaterThanOrEqual(60); // a pause and a sleep per pod
      const back = Date.now();
      const after = await eventually('every pod Running again with one new IP and a restart counted', 60_000, async () => {
        const items = await listed();
        const done = items.length === 30 && items.every((p: any) => {
          const s = p.status;
          const c = s.containerStatuses?.[0];
          return s.phase === 'Running' && s.podIP && s.podIP !== oldIPs.get(p.metadata.name) && s.podIPs?.length === 1 && s.podIPs[0].ip === s.podIP
            && c?.ready === true && c.state?.running && c.restartCount >= 1;
        });
        return done ? items : undefined;
      }, 1000);
      console.log(`${runtime} killed under 30 pods: all Running with new IPs ${((Date.now() - back) / 1000).toFixed(1)} s after the runtime was back`);

      const newIPs = after.map((p: any) => p.status.podIP as string);
      expect(new Set(newIPs).size).toBe(30);
      // The reported IPs are the live ones: IPAM holds exactly these (the old ones were released)
      // and each answers from the node.
      expect(await allocated()).toEqual([...newIPs].sort());
      const netns = lab.worker(node).netns;
      const unreachable = (await Promise.all(newIPs.map(async (ip: string) => ((await execa('ip', ['netns', 'exec', netns, 'ping', '-c', '1', '-W', '2', ip], { reject: false })).exitCode === 0 ? undefined : ip)))).filter(Boolean);
      expect(unreachable).toEqual([]);
      // The kubelet's events for a pod whose sandbox died.
      expect(await eventsOf(lab, names[0] ?? '')).toContain('SandboxChanged: Pod sandbox changed, it will be killed and re-created.');
      expect(await lab.agentPidOf(node)).toBe(agentPid);
      expect(await lab.agentAlive(node)).toBe(true);
      // The new daemon process is one more start: five (or more) within 20 minutes.
      const frequent = await eventually(`Frequent${subject}Restart True`, 30_000, async () => {
        const c = condition(await kubectlJson(lab, ['get', 'node', node]), `Frequent${subject}Restart`);
        return c?.status === 'True' ? c : undefined;
      });
      expect(frequent.reason).toBe(`Frequent${subject}Restart`);
      expect(frequent.message).toBe(`${runtime} was started 5 times in the last 20 minutes`);

      await kubectl(lab, ['delete', 'pod', ...names, '--wait=false']);
      await eventually('the pods gone and every address released', 90_000, async () => (await listed()).length === 0 && (await allocated()).length === 0, 1000);
    }, 420_000);
  });
}
