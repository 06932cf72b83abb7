import { formatIpv4, parseCidr, parseIpv4, cidrContains, cidrsOverlap, formatCidr, type Ipv4Cidr } from '../util/cidr.ts';
import { ROUTE_PROTOCOL_NODE_AGENT, type FdbEntry, type Ipv4Route, type NeighbourEntry } from './netlink/rtnl.ts';

/**
 * What the kernel of the local node must hold so that its pods reach every other node's pods, and
 * the ordered list of changes that takes the kernel from what it holds now to that. Pure: no I/O,
 * so every decision (who is skipped, what is replaced, in which order) is unit-testable.
 *
 * Two modes:
 * - host-gw: all nodes share one L2 underlay, so a peer's pod CIDR is simply routed via the peer's
 *   node IP on the underlay device.
 * - vxlan (flannel's scheme): one VXLAN device per node. The device carries the local pod CIDR's
 *   network address as a /32, so each node has a distinct "gateway" address inside its own CIDR.
 *   For a peer, the route to its pod CIDR goes via the peer's network address on the VXLAN device
 *   (onlink, because no subnet of the device contains it); a permanent neighbour entry maps that
 *   address to the peer's VTEP MAC, so the kernel never ARPs over the tunnel; and an FDB entry
 *   tells the VXLAN device which node IP that MAC lives behind.
 */

export interface NodeNet {
  name: string;
  nodeIP: string;
  podCIDR: string;
  /** The MAC of the node's VXLAN device, published by that node; needed in vxlan mode only. */
  vtepMac?: string;
}

export type Mode = 'host-gw' | 'vxlan';

/** Which of the local node's devices a route leaves by; the caller knows their indexes. */
export type RouteDevice = 'underlay' | 'vxlan';

export interface PlannedRoute {
  peer: string;
  dst: string;
  dstLen: number;
  gateway: string;
  device: RouteDevice;
  onlink: boolean;
}

export interface PlannedNeighbour {
  peer: string;
  ip: string;
  mac: string;
}

export interface PlannedFdb {
  peer: string;
  mac: string;
  dst: string;
}

export interface SkippedPeer {
  name: string;
  reason: string;
}

export interface PeerPlan {
  mode: Mode;
  /** vxlan mode: the address the VXLAN device carries (local pod CIDR network address, /32). */
  vxlanAddress: { ip: string; prefix: number } | undefined;
  routes: PlannedRoute[];
  neighbours: PlannedNeighbour[];
  fdb: PlannedFdb[];
  skipped: SkippedPeer[];
}

/** A MAC the kernel will accept as a unicast VTEP address: six hex octets, multicast bit clear. */
export function isUnicastMac(mac: string): boolean {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) return false;
  return (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0 && mac !== '00:00:00:00:00:00';
}

function cidrOf(text: string): Ipv4Cidr | undefined {
  const parsed = parseCidr(text);
  return parsed.ok ? parsed.cidr : undefined;
}

/**
 * The desired state for `local` given all known nodes. `peers` may include the local node itself
 * (a Node list usually does); it is skipped silently. Everything else that cannot be programmed is
 * reported in `skipped` with a reason, and never half-programmed. Peers are considered in name
 * order so that, when two of them conflict, the same one wins on every node and every sync.
 */
export function planPeers(mode: Mode, local: NodeNet & { clusterCIDR?: string }, peers: readonly NodeNet[]): PeerPlan {
  const localCidr = cidrOf(local.podCIDR);
  if (!localCidr) throw new Error(`local node ${local.name} has no valid pod CIDR (${JSON.stringify(local.podCIDR)})`);
  // Routes only into the cluster's pod network, as flannel takes no lease outside its Network: a
  // Node object claiming 0.0.0.0/1 or the service range must not re-route this node's traffic.
  const cluster = local.clusterCIDR !== undefined ? cidrOf(local.clusterCIDR) : undefined;
  if (local.clusterCIDR !== undefined && !cluster) throw new Error(`clusterCIDR ${JSON.stringify(local.clusterCIDR)} is not a valid IPv4 CIDR`);
  if (parseIpv4(local.nodeIP) === undefined) throw new Error(`local node ${local.name} has no valid node IP (${JSON.stringify(local.nodeIP)})`);

  const plan: PeerPlan = {
    mode,
    vxlanAddress: mode === 'vxlan' ? { ip: formatIpv4(localCidr.network), prefix: 32 } : undefined,
    routes: [],
    neighbours: [],
    fdb: [],
    skipped: [],
  };
  const taken: { name: string; cidr: Ipv4Cidr }[] = [];
  const macs = new Map<string, string>();
  const skip = (name: string, reason: string): void => {
    plan.skipped.push({ name, reason });
  };

  for (const peer of [...peers].sort((a, b) => a.name.localeCompare(b.name))) {
    if (peer.name === local.name) continue;
    if (!peer.podCIDR) { skip(peer.name, 'no podCIDR yet'); continue; }
    if (!peer.nodeIP) { skip(peer.name, 'no node IP yet'); continue; }
    const cidr = cidrOf(peer.podCIDR);
    if (!cidr) { skip(peer.name, `podCIDR ${JSON.stringify(peer.podCIDR)} is not a valid IPv4 CIDR`); continue; }
    if (parseIpv4(peer.nodeIP) === undefined) { skip(peer.name, `node IP ${JSON.stringify(peer.nodeIP)} is not an IPv4 address`); continue; }
    if (peer.nodeIP === local.nodeIP) { skip(peer.name, `node IP ${peer.nodeIP} is the local node's own`); continue; }
    if (cluster && !(cidr.prefix >= cluster.prefix && cidrContains(cluster, cidr.network))) {
      skip(peer.name, `podCIDR ${peer.podCIDR} is outside the clusterCIDR ${local.clusterCIDR}`);
      continue;
    }
    if (cidrsOverlap(cidr, localCidr)) {
      skip(peer.name, `podCIDR ${peer.podCIDR} overlaps the local podCIDR ${local.podCIDR}`);
      continue;
    }
    const clash = taken.find((t) => cidrsOverlap(t.cidr, cidr));
    if (clash) { skip(peer.name, `podCIDR ${peer.podCIDR} overlaps ${clash.name}'s ${formatCidr(clash.cidr)}`); continue; }

    const dst = formatIpv4(cidr.network);
    if (mode === 'host-gw') {
      plan.routes.push({ peer: peer.name, dst, dstLen: cidr.prefix, gateway: peer.nodeIP, device: 'underlay', onlink: false });
    } else {
      if (!peer.vtepMac) { skip(peer.name, 'no VTEP MAC published yet'); continue; }
      const mac = peer.vtepMac.toLowerCase();
      if (!isUnicastMac(mac)) { skip(peer.name, `VTEP MAC ${JSON.stringify(peer.vtepMac)} is not a unicast MAC`); continue; }
      const owner = macs.get(mac);
      if (owner) { skip(peer.name, `VTEP MAC ${mac} is already ${owner}'s`); continue; }
      macs.set(mac, peer.name);
      plan.fdb.push({ peer: peer.name, mac, dst: peer.nodeIP });
      plan.neighbours.push({ peer: peer.name, ip: dst, mac });
      plan.routes.push({ peer: peer.name, dst, dstLen: cidr.prefix, gateway: dst, device: 'vxlan', onlink: true });
    }
    taken.push({ name: peer.name, cidr });
  }
  return plan;
}

/** What the kernel holds now, as read through Rtnl. */
export interface KernelState {
  /** All IPv4 routes of the main table; only those with protocol 72 are the agent's. */
  routes: readonly Ipv4Route[];
  /** Neighbour entries of the VXLAN device (empty when it does not exist). */
  neighbours: readonly NeighbourEntry[];
  /** FDB entries of the VXLAN device (empty when it does not exist). */
  fdb: readonly FdbEntry[];
}

export interface DeviceIndexes {
  underlay: number;
  /** undefined when the VXLAN device does not exist (host-gw mode). */
  vxlan: number | undefined;
}

/**
 * One change to the kernel. `add` and `replace` are both carried out as a create-or-replace;
 * they differ only in what the log and the summary say. `peer` is set on changes made for a peer
 * of the plan, so that when one of them fails the rest of that peer's changes can be skipped.
 */
export type PeerAction =
  | { op: 'add' | 'replace'; kind: 'fdb'; peer: string; mac: string; dst: string; why?: string }
  | { op: 'remove'; kind: 'fdb'; mac: string; dst: string; why: string }
  | { op: 'add' | 'replace'; kind: 'neighbour'; peer: string; ip: string; mac: string; why?: string }
  | { op: 'remove'; kind: 'neighbour'; ip: string; why: string }
  | { op: 'add' | 'replace'; kind: 'route'; peer: string; dst: string; dstLen: number; gateway: string; oif: number; onlink: boolean; why?: string }
  | { op: 'remove'; kind: 'route'; dst: string; dstLen: number; why: string };

export interface PeerDiff {
  actions: PeerAction[];
  /** Peers left out because programming them would overwrite or delete someone else's route. */
  conflicts: SkippedPeer[];
}

const routeKey = (r: { dst: string; dstLen: number }): string => `${r.dst}/${r.dstLen}`;

/**
 * The ordered changes from `current` to `plan`. Additions and repairs come first, FDB, then
 * neighbour, then route: a route only ever appears once the kernel can resolve its next hop
 * without guessing (no ARP over the tunnel, no flooding). Removals follow in the reverse order,
 * route first, so no route is left pointing at a neighbour or FDB entry that is already gone.
 *
 * Routes whose protocol is not 72 are never touched. A route replace or delete in the kernel
 * matches on prefix (not on protocol), so a planned route whose prefix already has someone else's
 * route is not programmed, and not removed either: it is reported as a conflict instead.
 */
export function diffPeers(plan: PeerPlan, current: KernelState, devices: DeviceIndexes): PeerDiff {
  const conflicts: SkippedPeer[] = [];
  const foreign = new Set(current.routes.filter((r) => r.protocol !== ROUTE_PROTOCOL_NODE_AGENT).map(routeKey));
  const ours = new Map(current.routes.filter((r) => r.protocol === ROUTE_PROTOCOL_NODE_AGENT).map((r) => [routeKey(r), r]));

  // A peer whose route cannot be programmed gets none of its entries: a neighbour and FDB entry
  // without the route are harmless but pointless, and leaving them out keeps "skipped" honest.
  const blocked = new Set<string>();
  for (const route of plan.routes) {
    if (foreign.has(routeKey(route))) {
      blocked.add(route.peer);
      conflicts.push({ name: route.peer, reason: `a route to ${routeKey(route)} that the agent did not install exists; left alone` });
    }
  }
  const wanted = <T extends { peer: string }>(items: readonly T[]): T[] => items.filter((i) => !blocked.has(i.peer));
  const routes = wanted(plan.routes);
  const neighbours = wanted(plan.neighbours);
  const fdb = wanted(plan.fdb);

  const add: { fdb: PeerAction[]; neighbour: PeerAction[]; route: PeerAction[] } = { fdb: [], neighbour: [], route: [] };
  const remove: { fdb: PeerAction[]; neighbour: PeerAction[]; route: PeerAction[] } = { fdb: [], neighbour: [], route: [] };

  // FDB: one entry (MAC -> node IP) per peer. A MAC may have several remotes in the kernel; any
  // remote other than the planned one goes. A replace rewrites the MAC's first remote in place.
  const fdbWanted = new Map(fdb.map((f) => [f.mac, f]));
  for (const f of fdb) {
    const entries = current.fdb.filter((c) => c.mac === f.mac && c.dst !== undefined);
    if (entries.some((c) => c.dst === f.dst)) continue;
    if (entries.length === 0) add.fdb.push({ op: 'add', kind: 'fdb', peer: f.peer, mac: f.mac, dst: f.dst });
    else add.fdb.push({ op: 'replace', kind: 'fdb', peer: f.peer, mac: f.mac, dst: f.dst, why: `was dst ${entries.map((c) => c.dst).join(',')}` });
  }
  for (const c of current.fdb) {
    // Entries without a remote, such as the device's own multicast addresses, are not tunnel
    // entries and were not made by the agent.
    if (c.dst === undefined || !isUnicastMac(c.mac)) continue;
    const want = fdbWanted.get(c.mac);
    if (want?.dst === c.dst) continue;
    remove.fdb.push({ op: 'remove', kind: 'fdb', mac: c.mac, dst: c.dst, why: want ? `stale remote of ${want.peer}` : 'no such peer' });
  }

  // Neighbours: one permanent entry per peer. Entries the kernel made by itself (not permanent)
  // are rewritten when they sit on a planned address and otherwise left to age out.
  const neighWanted = new Map(neighbours.map((n) => [n.ip, n]));
  for (const n of neighbours) {
    const have = current.neighbours.find((c) => c.ip === n.ip);
    if (have?.permanent && have.mac === n.mac) continue;
    if (!have) add.neighbour.push({ op: 'add', kind: 'neighbour', peer: n.peer, ip: n.ip, mac: n.mac });
    else add.neighbour.push({ op: 'replace', kind: 'neighbour', peer: n.peer, ip: n.ip, mac: n.mac, why: `was ${have.mac || 'no MAC'}${have.permanent ? '' : ', not permanent'}` });
  }
  for (const c of current.neighbours) {
    if (c.permanent && !neighWanted.has(c.ip)) remove.neighbour.push({ op: 'remove', kind: 'neighbour', ip: c.ip, why: 'no such peer' });
  }

  // Routes: only protocol 72 is ours to compare, replace and remove.
  const routeWanted = new Set(plan.routes.map(routeKey));
  for (const r of routes) {
    const oif = r.device === 'underlay' ? devices.underlay : devices.vxlan;
    if (oif === undefined) throw new Error(`route to ${routeKey(r)} needs the ${r.device} device, which does not exist`);
    const want = { peer: r.peer, dst: r.dst, dstLen: r.dstLen, gateway: r.gateway, oif, onlink: r.onlink };
    const have = ours.get(routeKey(r));
    if (have?.gateway === r.gateway && have.oif === oif && have.onlink === r.onlink) continue;
    if (!have) add.route.push({ op: 'add', kind: 'route', ...want });
    else add.route.push({ op: 'replace', kind: 'route', ...want, why: `was via ${have.gateway ?? 'none'} oif ${have.oif}${have.onlink ? ' onlink' : ''}` });
  }
  for (const [key, r] of ours) {
    // A planned-but-blocked prefix is not removed: deleting by prefix could hit the foreign route.
    if (routeWanted.has(key)) continue;
    if (foreign.has(key)) {
      conflicts.push({ name: `route ${key}`, reason: `stale agent route to ${key} kept: another route to the same prefix exists` });
      continue;
    }
    remove.route.push({ op: 'remove', kind: 'route', dst: r.dst, dstLen: r.dstLen, why: 'no such peer' });
  }

  return {
    actions: [...add.fdb, ...add.neighbour, ...add.route, ...remove.route, ...remove.neighbour, ...remove.fdb],
    conflicts,
  };
}

/** One line for a log or a test failure message. */
export function describeAction(a: PeerAction): string {
  const why = a.why ? ` (${a.why})` : '';
  switch (a.kind) {
    case 'fdb':
      return `${a.op} fdb ${a.mac} dst ${a.dst}${why}`;
    case 'neighbour':
      return a.op === 'remove' ? `remove neighbour ${a.ip}${why}` : `${a.op} neighbour ${a.ip} lladdr ${a.mac}${why}`;
    case 'route':
      return a.op === 'remove'
        ? `remove route ${a.dst}/${a.dstLen}${why}`
        : `${a.op} route ${a.dst}/${a.dstLen} via ${a.gateway} oif ${a.oif}${a.onlink ? ' onlink' : ''}${why}`;
  }
}
