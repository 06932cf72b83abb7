import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mode, NodeNet } from '../../src/net/peer-plan.ts';
import type { PeerSyncSummary } from '../../src/net/peer-programmer.ts';

// The peer programmer against real kernels: three "nodes" (network namespaces) on one underlay
// bridge, each with a cni0-like bridge and one "pod" namespace. The programmer runs inside each
// node's namespace (test/fixtures/peer-sync.ts under nsenter), and everything asserted is read
// back from the kernel with iproute2 or proven with pings between pods: only the kernel datapath
// the programmer set up can carry a pod's packet to another node. All traffic stays between
// namespaces this file creates; the root namespace gets one bridge without an address.

const FIXTURE = fileURLToPath(new URL('../fixtures/peer-sync.ts', import.meta.url));
/** Underlay MTU inside the nodes: not 1500, so "underlay MTU - 50" cannot pass by coincidence. */
const UNDERLAY_MTU = 1460;
const VXLAN_DEV = 'nagent.1';

interface LabNode extends NodeNet {
  ns: string;
  podNs: string;
  podIP: string;
  /** The pod CIDR's network address: the VXLAN device's /32 in vxlan mode. */
  network: string;
  stateDir: string;
}

const timings: { what: string; wallMs: number; syncMs: number; processMs: number }[] = [];

async function sh(cmd: string, args: string[]): Promise<string> {
  return (await execa(cmd, args)).stdout;
}

/** A throwaway three-node lab with names and subnets of its own. */
class PeerLab {
  readonly suffix: string;
  readonly bridge: string;
  readonly underlay: string;
  readonly podOctet: number;
  readonly nodes: LabNode[] = [];

  private constructor(suffix: string, underlay: string, podOctet: number) {
    this.suffix = suffix;
    this.bridge = `npbr${suffix}`;
    this.underlay = underlay;
    this.podOctet = podOctet;
  }

  static async create(): Promise<PeerLab> {
    const netns = await sh('ip', ['netns', 'list']);
    const rootAddrs = await sh('ip', ['-o', '-4', 'addr', 'show']);
    const rootRoutes = await sh('ip', ['-4', 'route', 'show', 'table', 'all']);
    let suffix = '';
    do suffix = randomBytes(2).toString('hex');
    while (netns.includes(`np-${suffix}-`));
    const free = [250, 251, 252, 253, 254].filter((o) => !rootAddrs.includes(` 192.168.${o}.`));
    const underlayOctet = free[randomInt(free.length)];
    if (underlayOctet === undefined) throw new Error('no free 192.168.250-254.0/24 on this machine');
    let podOctet = 0;
    do podOctet = randomInt(100, 250);
    while (rootAddrs.includes(` 10.${podOctet}.`) || rootRoutes.includes(`10.${podOctet}.`));

    const lab = new PeerLab(suffix, `192.168.${underlayOctet}`, podOctet);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async build(): Promise<void> {
    await sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await sh('ip', ['link', 'set', this.bridge, 'up']);
    for (const n of [1, 2, 3]) {
      const node: LabNode = {
        name: `n${n}`,
        nodeIP: `${this.underlay}.${10 + n}`,
        podCIDR: `10.${this.podOctet}.${n}.0/24`,
        ns: `np-${this.suffix}-n${n}`,
        podNs: `np-${this.suffix}-p${n}`,
        podIP: `10.${this.podOctet}.${n}.2`,
        network: `10.${this.podOctet}.${n}.0`,
        stateDir: await mkdtemp(join(tmpdir(), `np-${this.suffix}-state-n${n}-`)),
      };
      this.nodes.push(node);
      const hostVeth = `np${this.suffix}u${n}`;
      const gateway = `10.${this.podOctet}.${n}.1`;
      await sh('ip', ['netns', 'add', node.ns]);
      await sh('ip', ['netns', 'add', node.podNs]);
      // Underlay: node eth0 <-> veth on the root bridge.
      await sh('ip', ['link', 'add', hostVeth, 'mtu', `${UNDERLAY_MTU}`, 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', `${UNDERLAY_MTU}`, 'netns', node.ns]);
      await sh('ip', ['link', 'set', hostVeth, 'master', this.bridge, 'up']);
      await sh('ip', ['-n', node.ns, 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', node.ns, 'addr', 'add', `${node.nodeIP}/24`, 'dev', 'eth0']);
      await sh('ip', ['-n', node.ns, 'link', 'set', 'eth0', 'up']);
      // New namespaces copy ip_forward from the root namespace (where it may be 1); start from 0
      // so that forwarding only works once the programmer's helper has turned it on.
      await sh('ip', ['netns', 'exec', node.ns, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward']);
      // The node's pod bridge holding the first address of its pod CIDR, and one pod on it.
      await sh('ip', ['-n', node.ns, 'link', 'add', 'cni0', 'type', 'bridge']);
      await sh('ip', ['-n', node.ns, 'addr', 'add', `${gateway}/24`, 'dev', 'cni0']);
      await sh('ip', ['-n', node.ns, 'link', 'set', 'cni0', 'up']);
      await sh('ip', ['-n', node.ns, 'link', 'add', 'vethpod', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.podNs]);
      await sh('ip', ['-n', node.ns, 'link', 'set', 'vethpod', 'master', 'cni0', 'up']);
      await sh('ip', ['-n', node.podNs, 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', node.podNs, 'addr', 'add', `${node.podIP}/24`, 'dev', 'eth0']);
      await sh('ip', ['-n', node.podNs, 'link', 'set', 'eth0', 'up']);
      await sh('ip', ['-n', node.podNs, 'route', 'add', 'default', 'via', gateway]);
    }
  }

  /** Removes every namespace, link and state dir of this lab; safe to call twice or half-built. */
  async destroy(): Promise<void> {
    for (const n of [1, 2, 3]) {
      for (const ns of [`np-${this.suffix}-p${n}`, `np-${this.suffix}-n${n}`]) {
        await execa('ip', ['netns', 'del', ns], { reject: false });
      }
      // Gone with its peer in the namespace already, unless the namespace was never created.
      await execa('ip', ['link', 'del', `np${this.suffix}u${n}`], { reject: false });
    }
    await execa('ip', ['link', 'del', this.bridge], { reject: false });
    for (const node of this.nodes) await rm(node.stateDir, { recursive: true, force: true });
  }

  node(name: string): LabNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }
}

/** Runs one sync inside `node`'s network namespace, in a process of its own. */
async function sync(mode: Mode, node: LabNode, peers: NodeNet[], options: { ipForward?: boolean } = {}): Promise<PeerSyncSummary & { ipForwardChanged: boolean; processMs: number }> {
  const args = {
    mode,
    local: { name: node.name, nodeIP: node.nodeIP, podCIDR: node.podCIDR },
    peers: peers.map(({ name, nodeIP, podCIDR, vtepMac }) => ({ name, nodeIP, podCIDR, ...(vtepMac ? { vtepMac } : {}) })),
    stateDir: node.stateDir,
    ipForward: options.ipForward ?? false,
  };
  const started = performance.now();
  const result = await execa('nsenter', [`--net=/run/netns/${node.ns}`, process.execPath, FIXTURE, JSON.stringify(args)], { reject: false });
  const wallMs = performance.now() - started;
  if (result.exitCode !== 0) throw new Error(`sync on ${node.name} failed (${result.exitCode}): ${result.stderr}`);
  const summary = JSON.parse(result.stdout);
  timings.push({ what: `${mode} ${node.name} (${peers.length} listed)`, wallMs: Math.round(wallMs), syncMs: summary.durationMs, processMs: summary.processMs });
  return summary;
}

async function ping(from: LabNode, to: LabNode): Promise<boolean> {
  const r = await execa('ip', ['netns', 'exec', from.podNs, 'ping', '-c', '1', '-W', '1', to.podIP], { reject: false });
  return r.exitCode === 0;
}

/** Every ordered pair of pods whose ping result differs from what `reachable` expects. */
async function pingMismatches(nodes: LabNode[], reachable: (from: LabNode, to: LabNode) => boolean): Promise<string[]> {
  const pairs = nodes.flatMap((a) => nodes.filter((b) => b !== a).map((b) => [a, b] as const));
  const results = await Promise.all(pairs.map(async ([a, b]) => ({ a, b, ok: await ping(a, b) })));
  return results.filter((r) => r.ok !== reachable(r.a, r.b)).map((r) => `${r.a.name}->${r.b.name} ${r.ok ? 'reached' : 'failed'}`);
}

interface KRoute { dst: string; gateway?: string; dev: string; protocol?: string; flags: string[] }

/** The agent's routes (protocol 72) in a node, as iproute2 sees them. */
async function agentRoutes(node: LabNode): Promise<KRoute[]> {
  const out = await sh('ip', ['-n', node.ns, '-j', 'route', 'show', 'proto', '72']);
  return (JSON.parse(out) as KRoute[]).sort((a, b) => a.dst.localeCompare(b.dst));
}

async function vxlanNeighbours(node: LabNode): Promise<{ dst: string; lladdr: string; state: string[] }[]> {
  const out = await sh('ip', ['-n', node.ns, '-j', 'neigh', 'show', 'dev', VXLAN_DEV]);
  return (JSON.parse(out) as { dst: string; lladdr: string; state: string[] }[]).sort((a, b) => a.dst.localeCompare(b.dst));
}

/** Tunnel FDB entries (those with a remote) of the VXLAN device. */
async function vxlanFdb(node: LabNode): Promise<{ mac: string; dst: string }[]> {
  const out = await sh('bridge', ['-n', node.ns, '-j', 'fdb', 'show', 'dev', VXLAN_DEV]);
  return (JSON.parse(out) as { mac: string; dst?: string }[])
    .filter((e): e is { mac: string; dst: string } => e.dst !== undefined)
    .map(({ mac, dst }) => ({ mac, dst }))
    .sort((a, b) => a.mac.localeCompare(b.mac));
}

async function linkDetails(node: LabNode, dev: string): Promise<any> {
  const [link] = JSON.parse(await sh('ip', ['-n', node.ns, '-d', '-j', 'link', 'show', 'dev', dev]));
  return link;
}

async function ipForward(ns: string): Promise<string> {
  return (await sh('ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/ip_forward'])).trim();
}

const everyone = (): boolean => true;

describe('peer networking in host-gw mode', () => {
  let lab: PeerLab;
  let nodes: LabNode[];
  let n1: LabNode;
  let n2: LabNode;

  beforeAll(async () => {
    lab = await PeerLab.create();
    nodes = lab.nodes;
    n1 = lab.node('n1');
    n2 = lab.node('n2');
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('starts with a working underlay and pods cut off from other nodes', async () => {
    // If this fails, the lab is broken (e.g. the root namespace's iptables drop bridged traffic
    // when br_netfilter is loaded), not the programmer.
    const underlay = await execa('ip', ['netns', 'exec', n1.ns, 'ping', '-c', '1', '-W', '1', n2.nodeIP], { reject: false });
    expect(underlay.exitCode, 'node-to-node ping over the underlay bridge').toBe(0);
    expect(await pingMismatches(nodes, () => false)).toEqual([]);
  });

  it('routes each peer pod CIDR via the peer node IP, and every pod reaches every other pod', async () => {
    for (const node of nodes) {
      // Still 0 after the nodes before it turned theirs on: the sysctl is per network namespace.
      expect(await ipForward(node.ns)).toBe('0');
      const summary = await sync('host-gw', node, nodes, { ipForward: true });
      expect(summary).toMatchObject({ added: 2, replaced: 0, removed: 0, failed: 0, skipped: [], ipForwardChanged: true });
      expect(await ipForward(node.ns)).toBe('1');
      const peers = nodes.filter((p) => p !== node);
      expect(await agentRoutes(node)).toEqual(peers.map((p) => ({ dst: p.podCIDR, gateway: p.nodeIP, dev: 'eth0', flags: [] })));
    }
    expect(await pingMismatches(nodes, everyone)).toEqual([]);
  });

  it('does nothing on a second sync', async () => {
    for (const node of nodes) {
      const summary = await sync('host-gw', node, nodes);
      expect(summary).toMatchObject({ added: 0, replaced: 0, removed: 0, failed: 0, actions: [] });
    }
  });

  it('restores a route deleted behind its back and corrects a wrong one', async () => {
    const n3 = lab.node('n3');
    await sh('ip', ['-n', n1.ns, 'route', 'del', n2.podCIDR]);
    expect(await ping(n1, n2)).toBe(false);
    // A route of ours that now points to the wrong node.
    await sh('ip', ['-n', n1.ns, 'route', 'replace', n3.podCIDR, 'via', n2.nodeIP, 'dev', 'eth0', 'proto', '72']);

    const summary = await sync('host-gw', n1, nodes);
    expect(summary).toMatchObject({ added: 1, replaced: 1, removed: 0, failed: 0 });
    expect(await agentRoutes(n1)).toEqual([n2, n3].map((p) => ({ dst: p.podCIDR, gateway: p.nodeIP, dev: 'eth0', flags: [] })));
    expect(await pingMismatches(nodes, everyone)).toEqual([]);
  });

  it('never touches routes of other protocols, even to a peer pod CIDR, and reports peers it skips', async () => {
    const prefix = `10.${lab.podOctet}`;
    const n4: NodeNet = { name: 'n4', nodeIP: `${lab.underlay}.14`, podCIDR: `${prefix}.4.0/24` };
    const overlapping: NodeNet = { name: 'n5', nodeIP: `${lab.underlay}.15`, podCIDR: `${prefix}.0.0/16` };
    const noCidr: NodeNet = { name: 'n6', nodeIP: `${lab.underlay}.16`, podCIDR: '' };
    // An administrator's route to n4's pod CIDR, and one to an unrelated prefix.
    await sh('ip', ['-n', n1.ns, 'route', 'add', n4.podCIDR, 'via', n2.nodeIP, 'proto', 'static']);
    await sh('ip', ['-n', n1.ns, 'route', 'add', `${prefix}.9.0/24`, 'via', n2.nodeIP, 'proto', 'boot']);
    const before = await sh('ip', ['-n', n1.ns, 'route', 'show']);

    const summary = await sync('host-gw', n1, [...nodes, n4, overlapping, noCidr]);
    expect(summary).toMatchObject({ added: 0, replaced: 0, removed: 0, failed: 0 });
    expect(summary.skipped.map((s) => s.name).sort()).toEqual(['n4', 'n5', 'n6']);
    expect(summary.skipped.find((s) => s.name === 'n5')?.reason).toMatch(/overlaps the local podCIDR/);
    expect(summary.skipped.find((s) => s.name === 'n6')?.reason).toMatch(/no podCIDR/);
    expect(await sh('ip', ['-n', n1.ns, 'route', 'show'])).toBe(before);

    // Still left alone when the peer list no longer has n4 (the foreign route is not "stale").
    await sync('host-gw', n1, nodes);
    expect(await sh('ip', ['-n', n1.ns, 'route', 'show'])).toBe(before);
    await sh('ip', ['-n', n1.ns, 'route', 'del', n4.podCIDR]);
    await sh('ip', ['-n', n1.ns, 'route', 'del', `${prefix}.9.0/24`]);
  });

  it('removes the route of a node that left the peer list', async () => {
    const remaining = nodes.filter((n) => n.name !== 'n3');
    for (const node of remaining) {
      const summary = await sync('host-gw', node, remaining);
      expect(summary).toMatchObject({ added: 0, replaced: 0, removed: 1, failed: 0 });
      expect((await agentRoutes(node)).map((r) => r.dst)).toEqual(remaining.filter((p) => p !== node).map((p) => p.podCIDR));
    }
    // n3 still routes to the others, but they no longer route to (or back to) n3.
    expect(await pingMismatches(nodes, (a, b) => a.name !== 'n3' && b.name !== 'n3')).toEqual([]);
  });
});

describe('peer networking in vxlan mode', () => {
  let lab: PeerLab;
  let nodes: LabNode[];
  let n1: LabNode;
  let n2: LabNode;
  let n3: LabNode;

  beforeAll(async () => {
    lab = await PeerLab.create();
    nodes = lab.nodes;
    n1 = lab.node('n1');
    n2 = lab.node('n2');
    n3 = lab.node('n3');
  });
  afterAll(async () => {
    await lab?.destroy();
    if (timings.length > 0) {
      console.info(`peer sync timings (ms; wall = test's view incl. nsenter + node start-up):\n${timings.map((t) => `  ${t.what}: wall ${t.wallMs}, process ${t.processMs}, sync ${t.syncMs}`).join('\n')}`);
    }
  });

  it('creates the VXLAN device on the node IP device with MTU - 50, a persisted MAC and the /32 address', async () => {
    expect(await pingMismatches(nodes, () => false)).toEqual([]);
    for (const node of nodes) {
      // No peers yet: the device comes first, so its MAC can be published.
      const summary = await sync('vxlan', node, [], { ipForward: true });
      expect(summary).toMatchObject({ added: 0, failed: 0 });
      expect(summary.vtepMac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      node.vtepMac = summary.vtepMac!;
      // Locally administered, unicast.
      expect(Number.parseInt(node.vtepMac.slice(0, 2), 16) & 0b11).toBe(0b10);
      expect((await readFile(join(node.stateDir, `vtep-mac-${VXLAN_DEV}`), 'utf8')).trim()).toBe(node.vtepMac);

      const link = await linkDetails(node, VXLAN_DEV);
      expect(link.address).toBe(node.vtepMac);
      expect(link.mtu).toBe(UNDERLAY_MTU - 50);
      expect(link.flags).toContain('UP');
      expect(link.linkinfo.info_kind).toBe('vxlan');
      expect(link.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, local: node.nodeIP, link: 'eth0', learning: false });
      const [addr] = JSON.parse(await sh('ip', ['-n', node.ns, '-j', '-4', 'addr', 'show', 'dev', VXLAN_DEV]));
      expect(addr.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toEqual([`${node.network}/32`]);
    }
    expect(new Set(nodes.map((n) => n.vtepMac)).size).toBe(3);
  });

  it('programs FDB, neighbour and onlink route per peer, and every pod reaches every other pod', async () => {
    for (const node of nodes) {
      const summary = await sync('vxlan', node, nodes);
      expect(summary).toMatchObject({ added: 6, replaced: 0, removed: 0, failed: 0, skipped: [], deviceChanges: [] });
      // Additions in dependency order: FDB entries, then neighbours, then routes.
      expect(summary.actions.map((a) => a.split(' ').slice(0, 2).join(' '))).toEqual([
        'add fdb', 'add fdb', 'add neighbour', 'add neighbour', 'add route', 'add route',
      ]);
      const peers = nodes.filter((p) => p !== node);
      expect(await vxlanFdb(node)).toEqual(peers.map((p) => ({ mac: p.vtepMac, dst: p.nodeIP })).sort((a, b) => a.mac!.localeCompare(b.mac!)));
      expect(await vxlanNeighbours(node)).toEqual(peers.map((p) => ({ dst: p.network, lladdr: p.vtepMac, state: ['PERMANENT'] })));
      expect(await agentRoutes(node)).toEqual(peers.map((p) => ({ dst: p.podCIDR, gateway: p.network, dev: VXLAN_DEV, flags: ['onlink'] })));
    }
    expect(await pingMismatches(nodes, everyone)).toEqual([]);
  });

  it('does nothing on a second sync', async () => {
    for (const node of nodes) {
      const summary = await sync('vxlan', node, nodes);
      expect(summary).toMatchObject({ added: 0, replaced: 0, removed: 0, failed: 0, actions: [], deviceChanges: [] });
    }
  });

  it('repairs a deleted route, neighbour and FDB entry, and a neighbour with the wrong MAC', async () => {
    await sh('ip', ['-n', n1.ns, 'route', 'del', n2.podCIDR]);
    await sh('ip', ['-n', n1.ns, 'neigh', 'del', n3.network, 'dev', VXLAN_DEV]);
    await sh('bridge', ['-n', n1.ns, 'fdb', 'del', n3.vtepMac!, 'dev', VXLAN_DEV, 'dst', n3.nodeIP]);
    expect(await ping(n1, n2)).toBe(false);
    expect(await ping(n1, n3)).toBe(false);
    let summary = await sync('vxlan', n1, nodes);
    // The failed ping to n3 made the kernel create an incomplete neighbour entry for n3's
    // address on the device; the sync overwrites it (a "replace") or adds it if it has gone.
    expect(summary).toMatchObject({ removed: 0, failed: 0 });
    expect(summary.added + summary.replaced).toBe(3);
    expect(summary.actions.map((a) => a.replace(/ \(.*\)$/, '').replace(/^replace /, 'add '))).toEqual([
      `add fdb ${n3.vtepMac} dst ${n3.nodeIP}`,
      `add neighbour ${n3.network} lladdr ${n3.vtepMac}`,
      expect.stringMatching(new RegExp(`^add route ${n2.podCIDR} via ${n2.network} oif \\d+ onlink$`)),
    ]);
    expect(await pingMismatches(nodes, everyone)).toEqual([]);

    await sh('ip', ['-n', n1.ns, 'neigh', 'replace', n2.network, 'lladdr', '02:00:00:00:00:99', 'dev', VXLAN_DEV, 'nud', 'permanent']);
    expect(await ping(n1, n2)).toBe(false);
    summary = await sync('vxlan', n1, nodes);
    expect(summary).toMatchObject({ added: 0, replaced: 1, removed: 0, failed: 0 });
    expect((await vxlanNeighbours(n1)).find((n) => n.dst === n2.network)?.lladdr).toBe(n2.vtepMac);
    expect(await ping(n1, n2)).toBe(true);
  });

  it('removes the entries of a node that left the peer list, route first', async () => {
    const remaining = [n1, n2];
    for (const node of remaining) {
      const summary = await sync('vxlan', node, remaining);
      expect(summary).toMatchObject({ added: 0, replaced: 0, removed: 3, failed: 0 });
      expect(summary.actions.map((a) => a.split(' ').slice(0, 2).join(' '))).toEqual(['remove route', 'remove neighbour', 'remove fdb']);
      const peer = node === n1 ? n2 : n1;
      expect(await vxlanFdb(node)).toEqual([{ mac: peer.vtepMac, dst: peer.nodeIP }]);
      expect((await vxlanNeighbours(node)).map((n) => n.dst)).toEqual([peer.network]);
      expect((await agentRoutes(node)).map((r) => r.dst)).toEqual([peer.podCIDR]);
    }
    expect(await pingMismatches(nodes, (a, b) => a !== n3 && b !== n3)).toEqual([]);
  });

  it('keeps the MAC across a deleted device, recreates a device with the wrong VNI, and follows the underlay MTU', async () => {
    const remaining = [n1, n2];
    await sh('ip', ['-n', n1.ns, 'link', 'del', VXLAN_DEV]);
    expect(await ping(n1, n2)).toBe(false);
    let summary = await sync('vxlan', n1, remaining);
    expect(summary.vtepMac).toBe(n1.vtepMac);
    expect(summary).toMatchObject({ added: 3, failed: 0 });
    let link = await linkDetails(n1, VXLAN_DEV);
    expect(link.address).toBe(n1.vtepMac);
    expect(link.mtu).toBe(UNDERLAY_MTU - 50);
    expect(await ping(n1, n2)).toBe(true);

    // Someone else's idea of the device: another VNI and port, no fixed MAC.
    await sh('ip', ['-n', n1.ns, 'link', 'del', VXLAN_DEV]);
    await sh('ip', ['-n', n1.ns, 'link', 'add', VXLAN_DEV, 'type', 'vxlan', 'id', '7', 'dstport', '4789', 'local', n1.nodeIP, 'dev', 'eth0']);
    summary = await sync('vxlan', n1, remaining);
    expect(summary.deviceChanges[0]).toMatch(/^deleted nagent\.1 \(VNI 7, port 4789, .*MAC/);
    link = await linkDetails(n1, VXLAN_DEV);
    expect(link.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, local: n1.nodeIP });
    expect(link.address).toBe(n1.vtepMac);
    expect(await ping(n1, n2)).toBe(true);

    // A smaller underlay MTU: the device follows without being recreated.
    const index = link.ifindex;
    await sh('ip', ['-n', n1.ns, 'link', 'set', 'eth0', 'mtu', '1400']);
    summary = await sync('vxlan', n1, remaining);
    expect(summary.deviceChanges).toEqual([`mtu ${UNDERLAY_MTU - 50} -> 1350`]);
    link = await linkDetails(n1, VXLAN_DEV);
    expect(link.mtu).toBe(1350);
    expect(link.ifindex).toBe(index);
  });
});
