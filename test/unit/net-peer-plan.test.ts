import { describe, expect, it } from 'vitest';
import type { Ipv4Route } from '../../src/net/netlink/rtnl.ts';
import { describeAction, diffPeers, planPeers, type KernelState, type NodeNet, type PeerAction } from '../../src/net/peer-plan.ts';
import { peerHealth } from '../../src/net/network-health.ts';

// The pure half of peer networking: who gets programmed, with what, and in which order the kernel
// is changed. The kernel half is in test/integration/net-peers.test.ts.

const local: NodeNet = { name: 'a', nodeIP: '192.168.1.11', podCIDR: '10.244.1.0/24', vtepMac: '02:00:00:00:00:01' };
const b: NodeNet = { name: 'b', nodeIP: '192.168.1.12', podCIDR: '10.244.2.0/24', vtepMac: '02:00:00:00:00:02' };
const c: NodeNet = { name: 'c', nodeIP: '192.168.1.13', podCIDR: '10.244.3.0/24', vtepMac: '02:00:00:00:00:03' };
const devices = { underlay: 2, vxlan: 9 };
const empty: KernelState = { routes: [], neighbours: [], fdb: [] };

function route(dst: string, dstLen: number, gateway: string, extra: Partial<Ipv4Route> = {}): Ipv4Route {
  return { dst, dstLen, gateway, oif: devices.vxlan, protocol: 72, onlink: true, ...extra };
}

/** "op kind" of each action: the order is what these tests are mostly about. */
const shape = (actions: PeerAction[]): string[] => actions.map((a) => `${a.op} ${a.kind}`);

describe('planPeers', () => {
  it('host-gw: one route per peer via its node IP on the underlay; itself skipped silently', () => {
    const plan = planPeers('host-gw', local, [c, local, b]);
    expect(plan.routes).toEqual([
      { peer: 'b', dst: '10.244.2.0', dstLen: 24, gateway: '192.168.1.12', device: 'underlay', onlink: false },
      { peer: 'c', dst: '10.244.3.0', dstLen: 24, gateway: '192.168.1.13', device: 'underlay', onlink: false },
    ]);
    expect(plan.neighbours).toEqual([]);
    expect(plan.fdb).toEqual([]);
    expect(plan.skipped).toEqual([]);
    expect(plan.vxlanAddress).toBeUndefined();
  });

  it('host-gw does not need VTEP MACs', () => {
    const { vtepMac: _unused, ...bare } = b;
    expect(planPeers('host-gw', local, [bare]).routes).toHaveLength(1);
  });

  it('vxlan: /32 device address, and per peer FDB, permanent neighbour and onlink route via its network address', () => {
    const plan = planPeers('vxlan', local, [b]);
    expect(plan.vxlanAddress).toEqual({ ip: '10.244.1.0', prefix: 32 });
    expect(plan.fdb).toEqual([{ peer: 'b', mac: '02:00:00:00:00:02', dst: '192.168.1.12' }]);
    expect(plan.neighbours).toEqual([{ peer: 'b', ip: '10.244.2.0', mac: '02:00:00:00:00:02' }]);
    expect(plan.routes).toEqual([{ peer: 'b', dst: '10.244.2.0', dstLen: 24, gateway: '10.244.2.0', device: 'vxlan', onlink: true }]);
  });

  it('reports every peer it cannot program, with a reason', () => {
    const plan = planPeers('vxlan', local, [
      { name: 'no-cidr', nodeIP: '192.168.1.20', podCIDR: '' },
      { name: 'no-ip', nodeIP: '', podCIDR: '10.244.20.0/24' },
      { name: 'no-mac', nodeIP: '192.168.1.21', podCIDR: '10.244.21.0/24' },
      { name: 'bad-mac', nodeIP: '192.168.1.22', podCIDR: '10.244.22.0/24', vtepMac: '01:00:5e:00:00:01' },
      { name: 'bad-cidr', nodeIP: '192.168.1.23', podCIDR: '10.244.23.1/24', vtepMac: '02:00:00:00:00:23' },
      { name: 'overlaps-local', nodeIP: '192.168.1.24', podCIDR: '10.244.0.0/16', vtepMac: '02:00:00:00:00:24' },
      { name: 'same-ip', nodeIP: local.nodeIP, podCIDR: '10.244.25.0/24', vtepMac: '02:00:00:00:00:25' },
      b,
      { name: 'same-mac-as-b', nodeIP: '192.168.1.26', podCIDR: '10.244.26.0/24', vtepMac: '02:00:00:00:00:02' },
      { name: 'same-cidr-as-b', nodeIP: '192.168.1.27', podCIDR: '10.244.2.0/24', vtepMac: '02:00:00:00:00:27' },
    ]);
    const reasons = Object.fromEntries(plan.skipped.map((s) => [s.name, s.reason]));
    expect(reasons).toEqual({
      'no-cidr': expect.stringMatching(/no podCIDR/),
      'no-ip': expect.stringMatching(/no node IP/),
      'no-mac': expect.stringMatching(/no VTEP MAC/),
      'bad-mac': expect.stringMatching(/not a unicast MAC/),
      'bad-cidr': expect.stringMatching(/not a valid IPv4 CIDR/),
      'overlaps-local': expect.stringMatching(/overlaps the local podCIDR 10\.244\.1\.0\/24/),
      'same-ip': expect.stringMatching(/local node's own/),
      'same-mac-as-b': expect.stringMatching(/already b's/),
      'same-cidr-as-b': expect.stringMatching(/overlaps b's 10\.244\.2\.0\/24/),
    });
    // Only b made it, and none of the skipped peers left a partial entry behind.
    expect(plan.routes.map((r) => r.peer)).toEqual(['b']);
    expect(plan.neighbours.map((r) => r.peer)).toEqual(['b']);
    expect(plan.fdb.map((r) => r.peer)).toEqual(['b']);
  });

  it('refuses peer podCIDRs outside the clusterCIDR (a Node claiming 0.0.0.0/1 or the service range), as flannel refuses such leases', () => {
    const inCluster = { ...local, clusterCIDR: '10.244.0.0/16' };
    const grabber: NodeNet = { name: 'd', nodeIP: '192.168.1.14', podCIDR: '0.0.0.0/1' };
    const services: NodeNet = { name: 'e', nodeIP: '192.168.1.15', podCIDR: '10.96.0.0/24' };
    const straddling: NodeNet = { name: 'f', nodeIP: '192.168.1.16', podCIDR: '10.244.0.0/15' };
    const plan = planPeers('host-gw', inCluster, [b, grabber, services, straddling]);
    expect(plan.routes.map((r) => r.peer)).toEqual(['b']);
    expect(plan.skipped).toEqual([
      { name: 'd', reason: 'podCIDR 0.0.0.0/1 is outside the clusterCIDR 10.244.0.0/16' },
      { name: 'e', reason: 'podCIDR 10.96.0.0/24 is outside the clusterCIDR 10.244.0.0/16' },
      { name: 'f', reason: 'podCIDR 10.244.0.0/15 is outside the clusterCIDR 10.244.0.0/16' },
    ]);
    // Without a clusterCIDR configured, nothing to check against (as before).
    expect(planPeers('host-gw', local, [services]).routes.map((r) => r.peer)).toEqual(['e']);
  });

  it('picks the same winner of a conflict whatever the order of the list', () => {
    const rival: NodeNet = { ...c, name: 'aa-rival', podCIDR: b.podCIDR };
    expect(planPeers('host-gw', local, [b, rival]).skipped.map((s) => s.name)).toEqual(['b']);
    expect(planPeers('host-gw', local, [rival, b]).skipped.map((s) => s.name)).toEqual(['b']);
  });

  it('refuses to plan for a local node without a valid pod CIDR', () => {
    expect(() => planPeers('host-gw', { ...local, podCIDR: '' }, [b])).toThrow(/no valid pod CIDR/);
  });
});

describe('diffPeers', () => {
  it('adds FDB entries, then neighbours, then routes', () => {
    const diff = diffPeers(planPeers('vxlan', local, [b, c]), empty, devices);
    expect(shape(diff.actions)).toEqual(['add fdb', 'add fdb', 'add neighbour', 'add neighbour', 'add route', 'add route']);
    expect(diff.actions.map(describeAction)).toEqual([
      'add fdb 02:00:00:00:00:02 dst 192.168.1.12',
      'add fdb 02:00:00:00:00:03 dst 192.168.1.13',
      'add neighbour 10.244.2.0 lladdr 02:00:00:00:00:02',
      'add neighbour 10.244.3.0 lladdr 02:00:00:00:00:03',
      'add route 10.244.2.0/24 via 10.244.2.0 oif 9 onlink',
      'add route 10.244.3.0/24 via 10.244.3.0 oif 9 onlink',
    ]);
    expect(diff.conflicts).toEqual([]);
  });

  it('removes routes, then neighbours, then FDB entries, after any additions', () => {
    const current: KernelState = {
      routes: [route('10.244.3.0', 24, '10.244.3.0')],
      neighbours: [{ ip: '10.244.3.0', mac: c.vtepMac!, permanent: true }],
      fdb: [{ mac: c.vtepMac!, dst: c.nodeIP }],
    };
    const diff = diffPeers(planPeers('vxlan', local, [b]), current, devices);
    expect(shape(diff.actions)).toEqual(['add fdb', 'add neighbour', 'add route', 'remove route', 'remove neighbour', 'remove fdb']);
    expect(diff.actions.slice(3).map(describeAction)).toEqual([
      'remove route 10.244.3.0/24 (no such peer)',
      'remove neighbour 10.244.3.0 (no such peer)',
      'remove fdb 02:00:00:00:00:03 dst 192.168.1.13 (no such peer)',
    ]);
  });

  it('produces nothing when the kernel already matches', () => {
    const current: KernelState = {
      routes: [route('10.244.2.0', 24, '10.244.2.0')],
      neighbours: [{ ip: '10.244.2.0', mac: b.vtepMac!, permanent: true }],
      fdb: [{ mac: b.vtepMac!, dst: b.nodeIP }, { mac: '33:33:00:00:00:01', dst: undefined }],
    };
    expect(diffPeers(planPeers('vxlan', local, [b]), current, devices).actions).toEqual([]);
    const hostGw: KernelState = { ...empty, routes: [route('10.244.2.0', 24, b.nodeIP, { oif: 2, onlink: false })] };
    expect(diffPeers(planPeers('host-gw', local, [b]), hostGw, devices).actions).toEqual([]);
  });

  it('replaces wrong entries in place, in the order of additions', () => {
    const current: KernelState = {
      routes: [route('10.244.2.0', 24, '10.244.2.0', { onlink: false })],
      neighbours: [{ ip: '10.244.2.0', mac: '02:00:00:00:00:99', permanent: true }],
      fdb: [{ mac: b.vtepMac!, dst: '192.168.1.99' }],
    };
    const diff = diffPeers(planPeers('vxlan', local, [b]), current, devices);
    expect(diff.actions.map(describeAction)).toEqual([
      'replace fdb 02:00:00:00:00:02 dst 192.168.1.12 (was dst 192.168.1.99)',
      'replace neighbour 10.244.2.0 lladdr 02:00:00:00:00:02 (was 02:00:00:00:00:99)',
      'replace route 10.244.2.0/24 via 10.244.2.0 oif 9 onlink (was via 10.244.2.0 oif 9)',
      // The replaced FDB remote no longer exists by the time this runs; deleting it is a no-op
      // then, and removes it should the kernel have kept it as a second remote.
      'remove fdb 02:00:00:00:00:02 dst 192.168.1.99 (stale remote of b)',
    ]);
  });

  it('replaces a neighbour entry the kernel made by itself, and leaves other such entries alone', () => {
    const current: KernelState = {
      ...empty,
      neighbours: [
        { ip: '10.244.2.0', mac: '', permanent: false },
        { ip: '10.244.7.0', mac: '', permanent: false },
      ],
    };
    const diff = diffPeers(planPeers('vxlan', local, [b]), current, devices);
    expect(diff.actions.filter((a) => a.kind === 'neighbour').map(describeAction)).toEqual([
      'replace neighbour 10.244.2.0 lladdr 02:00:00:00:00:02 (was no MAC, not permanent)',
    ]);
  });

  it('moves a host-gw route when the peer changes node IP, and replaces a route on the wrong device', () => {
    const current: KernelState = { ...empty, routes: [route('10.244.2.0', 24, '192.168.1.50', { oif: 2, onlink: false }), route('10.244.3.0', 24, c.nodeIP, { oif: 5, onlink: false })] };
    const diff = diffPeers(planPeers('host-gw', local, [b, c]), current, devices);
    expect(diff.actions.map(describeAction)).toEqual([
      'replace route 10.244.2.0/24 via 192.168.1.12 oif 2 (was via 192.168.1.50 oif 2)',
      'replace route 10.244.3.0/24 via 192.168.1.13 oif 2 (was via 192.168.1.13 oif 5)',
    ]);
  });

  it('never touches routes of other protocols, and does not program a peer whose prefix one of them holds', () => {
    const current: KernelState = {
      ...empty,
      routes: [
        route('10.244.2.0', 24, '192.168.1.1', { protocol: 4, oif: 2, onlink: false }), // admin route to b's CIDR
        route('10.244.9.0', 24, '192.168.1.1', { protocol: 4, oif: 2, onlink: false }), // unrelated admin route
        route('0.0.0.0', 0, '192.168.1.1', { protocol: Number.NaN, oif: 2, onlink: false }), // e.g. proto boot
      ],
    };
    const diff = diffPeers(planPeers('vxlan', local, [b, c]), current, devices);
    expect(diff.actions.every((a) => !('peer' in a) || a.peer === 'c')).toBe(true);
    expect(diff.actions.some((a) => a.op === 'remove')).toBe(false);
    expect(diff.conflicts).toEqual([{ name: 'b', reason: expect.stringMatching(/10\.244\.2\.0\/24 that the agent did not install/) }]);
  });

  it('keeps a stale agent route whose prefix another route shares, since a delete by prefix could hit that one', () => {
    const current: KernelState = {
      ...empty,
      routes: [route('10.244.5.0', 24, '192.168.1.15', { oif: 2, onlink: false }), route('10.244.5.0', 24, '192.168.1.1', { protocol: 4, oif: 2, onlink: false })],
    };
    const diff = diffPeers(planPeers('host-gw', local, []), current, devices);
    expect(diff.actions).toEqual([]);
    expect(diff.conflicts.map((s) => s.name)).toEqual(['route 10.244.5.0/24']);
  });

  it('cleans neighbour and FDB entries of a leftover VXLAN device in host-gw mode', () => {
    const current: KernelState = {
      routes: [route('10.244.2.0', 24, '10.244.2.0')],
      neighbours: [{ ip: '10.244.2.0', mac: b.vtepMac!, permanent: true }],
      fdb: [{ mac: b.vtepMac!, dst: b.nodeIP }],
    };
    const diff = diffPeers(planPeers('host-gw', local, [b]), current, devices);
    expect(shape(diff.actions)).toEqual(['replace route', 'remove neighbour', 'remove fdb']);
  });

  it('fails loudly rather than route into a VXLAN device that does not exist', () => {
    expect(() => diffPeers(planPeers('vxlan', local, [b]), empty, { underlay: 2, vxlan: undefined })).toThrow(/vxlan device/);
  });
});

describe('peerHealth', () => {
  const noCidr: NodeNet = { name: 'd', nodeIP: '192.168.1.14', podCIDR: '' };
  it('ok, broken with what is missing, or skipped with why', () => {
    const plan = planPeers('host-gw', local, [b, c, noCidr]);
    const { actions, conflicts } = diffPeers(plan, { ...empty, routes: [{ dst: '10.244.2.0', dstLen: 24, gateway: '192.168.1.12', oif: devices.underlay, protocol: 72, onlink: false }] }, devices);
    const missing = actions.filter((a): a is PeerAction & { op: 'add' | 'replace' } => a.op !== 'remove');
    const health = peerHealth([c, b, noCidr], plan, missing, conflicts);
    expect(health.map((p) => [p.name, p.state, p.via])).toEqual([
      ['b', 'ok', '192.168.1.12'],
      ['c', 'broken', '192.168.1.13'],
      ['d', 'skipped', ''],
    ]);
    expect(health[1]?.problems).toEqual(['missing route for peer c: 10.244.3.0/24 via 192.168.1.13 oif 2']);
    expect(health[2]?.problems).toEqual(['no podCIDR yet']);
  });

  it('a missing VXLAN device cuts off every planned peer', () => {
    const plan = planPeers('vxlan', local, [b]);
    expect(peerHealth([b], plan, [], [], 'VXLAN device nav.1 is missing').map((p) => [p.state, p.problems[0]])).toEqual([['broken', 'VXLAN device nav.1 is missing']]);
  });
});
