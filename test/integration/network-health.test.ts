import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import type { Lab } from '../../src/lab/lab.ts';
import type { LabMachine } from '../../src/lab/topology.ts';
import { apply, condition, createTestLab, eventually, kubectl, kubectlJson, nodeReport, podManifest } from '../helpers/test-lab.ts';
import { testRuntimes } from '../helpers/node-runtime.ts';

// NetworkUnavailable from what the kernel has: a peer's route or the pod bridge deleted behind
// the agent's back shows on the Node, naming the missing piece, and clears once the agent has put
// it back; the pod on that bridge answers again.
const runtime = testRuntimes[0] ?? 'docker';

describe(`network health on ${runtime}`, () => {
  let lab: Lab;
  let w1: LabMachine;
  let w2: LabMachine;
  let podIP = '';

  const networkUnavailable = async () => condition(await kubectlJson(lab, ['get', 'node', w1.name]), 'NetworkUnavailable');
  const pingPod = async () => (await execa('ip', ['netns', 'exec', w1.netns, 'ping', '-c', '1', '-W', '1', podIP], { reject: false })).exitCode === 0;

  beforeAll(async () => {
    const created = await createTestLab({ workers: 2, runtime });
    lab = created.lab;
    [w1, w2] = [lab.topology.workers[0]!, lab.topology.workers[1]!];
    await lab.up(created.binDir);
    await apply(lab, podManifest('on-bridge', w1.name, { containers: [{ name: 'c', image: 'localhost/busybox:1', imagePullPolicy: 'Never', command: ['sleep', '3600'] }] }));
    podIP = await eventually('the pod Running with an IP', 60_000, async () => {
      const p = await kubectlJson(lab, ['get', 'pod', 'on-bridge']);
      return p.status?.phase === 'Running' ? (p.status.podIP as string) : undefined;
    });
  });

  afterAll(async () => {
    await kubectl(lab, ['delete', 'pod', 'on-bridge', '--wait=false'], { reject: false });
    await lab?.down();
  });

  it('a node with its network in place says so', async () => {
    const c = await eventually('NetworkUnavailable False', 30_000, async () => ((await networkUnavailable())?.status === 'False' ? await networkUnavailable() : undefined));
    expect(c).toMatchObject({ reason: 'NodeAgentIsUp' });
    expect(await pingPod()).toBe(true);
    const report = await nodeReport(lab, w1);
    expect(report.stdout).toMatch(/^Network \(host-gw, pod CIDR [\d./]+\): 1 peer, all reachable$/m);
    expect(report.stdout).toMatch(new RegExp(`^ {2}${w2.name} +${w2.ip.replaceAll('.', '\\.')} +10\\.[\\d.]+/24 +${w2.ip.replaceAll('.', '\\.')} +ok$`, 'm'));
    expect(report.stdout).toMatch(/^ {2}default +on-bridge +1\/1 +Running /m);
  });

  it('a deleted peer route: NetworkUnavailable True naming the peer, then the route back and False', async () => {
    const peerCIDR = (await kubectlJson(lab, ['get', 'node', w2.name])).spec.podCIDR as string;
    await execa('ip', ['-n', w1.netns, 'route', 'del', peerCIDR]);
    // The report reads the kernel when asked: the peer is cut off before the monitor notices
    // (and at least one round before it repairs).
    const report = await nodeReport(lab, w1, 'json');
    expect(report.exitCode).toBe(1);
    const peer = JSON.parse(report.stdout).network.peers.find((p: { name: string }) => p.name === w2.name);
    expect(peer).toMatchObject({ state: 'broken', podCIDR: peerCIDR, via: w2.ip });
    expect(peer.problems[0]).toContain(`missing route for peer ${w2.name}: ${peerCIDR}`);
    const broken = await eventually('NetworkUnavailable True', 30_000, async () => {
      const c = await networkUnavailable();
      return c?.status === 'True' ? c : undefined;
    });
    expect(broken).toMatchObject({ reason: 'PeerRouteMissing' });
    expect(broken?.message).toContain(`missing route for peer ${w2.name}`);
    expect(broken?.message).toContain(peerCIDR);
    await eventually('NetworkUnavailable False again', 40_000, async () => (await networkUnavailable())?.status === 'False');
    expect((await execa('ip', ['-n', w1.netns, 'route', 'show', peerCIDR])).stdout).toContain(`via ${w2.ip}`);
    const events = await kubectlJson(lab, ['get', 'events', '--field-selector', `involvedObject.kind=Node,involvedObject.name=${w1.name}`]);
    expect(events.items.filter((e: { source?: { component?: string } }) => e.source?.component === 'network-monitor').map((e: { type: string; reason: string }) => `${e.type} ${e.reason}`)).toEqual(expect.arrayContaining(['Warning PeerRouteMissing', 'Normal NodeAgentIsUp']));
  });

  it('a deleted bridge: BridgeMissing, then the bridge with its gateway back and the pod reachable again', async () => {
    await execa('ip', ['-n', w1.netns, 'link', 'del', 'cni0']);
    expect(await pingPod()).toBe(false);
    const broken = await eventually('NetworkUnavailable True', 30_000, async () => {
      const c = await networkUnavailable();
      return c?.status === 'True' ? c : undefined;
    });
    expect(broken).toMatchObject({ reason: 'BridgeMissing', message: expect.stringContaining('bridge cni0 does not exist') });
    await eventually('NetworkUnavailable False again', 40_000, async () => (await networkUnavailable())?.status === 'False');
    expect((await execa('ip', ['-n', w1.netns, '-4', 'addr', 'show', 'cni0'])).stdout).toContain('inet ');
    // The pod's host veth, let go when the bridge went, is on the new bridge.
    await eventually('the pod answers again', 20_000, pingPod);
  });
});
