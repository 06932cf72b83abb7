import { createRtNetlink, FlagsNew, rt, type RtNetlinkSocket } from 'netlink';

type LinkMessage = Awaited<ReturnType<RtNetlinkSocket['getLinks']>>[number];
import { formatIpv4, parseIpv4 } from '../../util/cidr.ts';
import { be16, cstring, ifinfomsg, IFLA, IFLA_INFO, IFLA_VXLAN, attr, nested, parseAttrs, u32, u8, VETH_INFO_PEER } from './nla.ts';

/**
 * The host-side kernel network state the agent and the CNI plugin change, behind our own small
 * types. One rtnetlink socket per instance; it only talks to the network namespace the process
 * was in when the socket was opened.
 */

export interface LinkInfo {
  index: number;
  name: string;
  mtu: number;
  up: boolean;
  /** Index of the bridge (or other master) this link is enslaved to, 0 when none. */
  master: number;
  mac: string;
}

export interface Ipv4Address {
  ip: string;
  prefix: number;
}

export interface Ipv4Route {
  dst: string;
  dstLen: number;
  gateway: string | undefined;
  oif: number;
  protocol: number;
  onlink: boolean;
}

export interface NeighbourEntry {
  ip: string;
  mac: string;
  permanent: boolean;
}

export interface FdbEntry {
  mac: string;
  dst: string | undefined;
}

export interface VxlanSpec {
  name: string;
  vni: number;
  port: number;
  localIp: string;
  /** The underlay device the tunnel's UDP packets leave by. */
  underlayIndex: number;
  mtu: number;
  mac: string;
}

/** What an existing VXLAN device was created with, read back from the kernel (IFLA_LINKINFO). */
export interface VxlanInfo {
  vni: number;
  port: number;
  localIp: string | undefined;
  /** 0 when the device has no underlay link set. */
  underlayIndex: number;
  learning: boolean;
}

const AF_INET = 2;
const AF_BRIDGE = 7;
const RT_TABLE_MAIN = 254;
const RTNH_F_ONLINK = 4;
const NUD_PERMANENT = 0x80;
const NTF_SELF = 0x02;

/** Routes the agent installs carry this protocol number, so it can tell them from anyone else's. */
export const ROUTE_PROTOCOL_NODE_AGENT = 72;

export function ipBuffer(ip: string): Buffer {
  const value = parseIpv4(ip);
  if (value === undefined) throw new Error(`not an IPv4 address: ${ip}`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value, 0);
  return b;
}

export function ipFromBuffer(buf: Buffer | undefined): string | undefined {
  return buf?.length === 4 ? formatIpv4(buf.readUInt32BE(0)) : undefined;
}

export function macBuffer(mac: string): Buffer {
  const bytes = mac.split(':').map((h) => Number.parseInt(h, 16));
  if (bytes.length !== 6 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new Error(`not a MAC address: ${mac}`);
  }
  return Buffer.from(bytes);
}

export function macFromBuffer(buf: Buffer | undefined): string {
  return buf ? [...buf].map((b) => b.toString(16).padStart(2, '0')).join(':') : '';
}

function linkInfo(m: LinkMessage): LinkInfo {
  return {
    index: m.data.index ?? 0,
    name: m.attrs.ifname ?? '',
    mtu: m.attrs.mtu ?? 0,
    up: Boolean(m.data.flags?.up),
    master: m.attrs.master ?? 0,
    mac: macFromBuffer(m.attrs.address),
  };
}

/** errno name of a failed netlink request (EEXIST, ENODEV, ...), if it carries one. */
export function netlinkErrno(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  // The netlink package reports kernel refusals as Error("Request rejected: EEXIST").
  const match = err instanceof Error ? /Request rejected: (E[A-Z0-9]+)/.exec(err.message) : null;
  return match?.[1];
}

const CREATE_EXCL = FlagsNew.CREATE | FlagsNew.EXCL;
const CREATE_REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

export class Rtnl {
  private readonly sock: RtNetlinkSocket;

  constructor() {
    this.sock = createRtNetlink();
    // One request at a time per socket: the netlink package mixes up replies when dumps overlap
    // ("Multipart message not terminated properly"), and callers (pods set up in parallel, the
    // peer sync) do overlap. Every typed call goes through request(), so queueing it covers all.
    const request = this.sock.request.bind(this.sock);
    let tail: Promise<unknown> = Promise.resolve();
    this.sock.request = ((...args: Parameters<typeof request>) => {
      const run = tail.then(
        () => request(...args),
        () => request(...args),
      );
      tail = run.catch(() => undefined);
      return run;
    });
  }

  close(): void {
    this.sock.socket.socket.close();
  }

  async links(): Promise<LinkInfo[]> {
    return (await this.sock.getLinks()).map(linkInfo);
  }

  async linkByName(name: string): Promise<LinkInfo | undefined> {
    try {
      const m = (await this.sock.getLink({}, { ifname: name }))[0];
      return m ? linkInfo(m) : undefined;
    } catch (err) {
      if (netlinkErrno(err) === 'ENODEV') return undefined;
      throw err;
    }
  }

  async createBridge(name: string, mtu: number): Promise<void> {
    const linkinfo = attr(IFLA_INFO.KIND, cstring('bridge'));
    await this.sock.newLink({}, { ifname: name, mtu, linkinfo }, { flags: CREATE_EXCL });
  }

  /**
   * Creates a veth pair whose peer is born inside the network namespace open at `netnsFd`, already
   * carrying its final name, MTU and MAC: no window where it sits in the host under a temporary name.
   */
  async createVethIntoNetns(spec: {
    hostName: string;
    peerName: string;
    netnsFd: number;
    mtu: number;
    peerMac: string;
  }): Promise<void> {
    const peer = Buffer.concat([
      ifinfomsg(),
      attr(IFLA.IFNAME, cstring(spec.peerName)),
      attr(IFLA.MTU, u32(spec.mtu)),
      attr(IFLA.ADDRESS, macBuffer(spec.peerMac)),
      attr(IFLA.NET_NS_FD, u32(spec.netnsFd)),
    ]);
    const linkinfo = Buffer.concat([
      attr(IFLA_INFO.KIND, cstring('veth')),
      nested(IFLA_INFO.DATA, [attr(VETH_INFO_PEER, peer)]),
    ]);
    await this.sock.newLink({}, { ifname: spec.hostName, mtu: spec.mtu, linkinfo }, { flags: CREATE_EXCL });
  }

  async createVxlan(spec: VxlanSpec): Promise<void> {
    const data = [
      attr(IFLA_VXLAN.ID, u32(spec.vni)),
      attr(IFLA_VXLAN.LINK, u32(spec.underlayIndex)),
      attr(IFLA_VXLAN.LOCAL, ipBuffer(spec.localIp)),
      // Peers are programmed explicitly (neighbour + FDB); learning would let the kernel guess.
      attr(IFLA_VXLAN.LEARNING, u8(0)),
      attr(IFLA_VXLAN.PORT, be16(spec.port)),
    ];
    const linkinfo = Buffer.concat([attr(IFLA_INFO.KIND, cstring('vxlan')), nested(IFLA_INFO.DATA, data)]);
    await this.sock.newLink(
      {},
      { ifname: spec.name, mtu: spec.mtu, address: macBuffer(spec.mac), linkinfo },
      { flags: CREATE_EXCL },
    );
  }

  /** The VXLAN settings of the link `name`; undefined when there is no such link or it is not VXLAN. */
  async vxlanInfo(name: string): Promise<VxlanInfo | undefined> {
    let msgs;
    try {
      msgs = await this.sock.getLink({}, { ifname: name });
    } catch (err) {
      if (netlinkErrno(err) === 'ENODEV') return undefined;
      throw err;
    }
    const linkinfo = msgs[0]?.attrs.linkinfo;
    if (!linkinfo) return undefined;
    const info = parseAttrs(linkinfo);
    if (info.get(IFLA_INFO.KIND)?.toString('utf8').replace(/\0+$/, '') !== 'vxlan') return undefined;
    const data = parseAttrs(info.get(IFLA_INFO.DATA) ?? Buffer.alloc(0));
    return {
      vni: data.get(IFLA_VXLAN.ID)?.readUInt32LE(0) ?? 0,
      port: data.get(IFLA_VXLAN.PORT)?.readUInt16BE(0) ?? 0,
      localIp: ipFromBuffer(data.get(IFLA_VXLAN.LOCAL)),
      underlayIndex: data.get(IFLA_VXLAN.LINK)?.readUInt32LE(0) ?? 0,
      learning: (data.get(IFLA_VXLAN.LEARNING)?.readUInt8(0) ?? 1) !== 0,
    };
  }

  async setUp(index: number): Promise<void> {
    await this.sock.setLink({ index, flags: { up: true }, change: { up: true } });
  }

  async setMaster(index: number, master: number): Promise<void> {
    await this.sock.setLink({ index }, { master });
  }

  async setMac(index: number, mac: string): Promise<void> {
    await this.sock.setLink({ index }, { address: macBuffer(mac) });
  }

  async setMtu(index: number, mtu: number): Promise<void> {
    await this.sock.setLink({ index }, { mtu });
  }

  /** Deletes a link; false when it was already gone. */
  async deleteLink(name: string): Promise<boolean> {
    const link = await this.linkByName(name);
    if (!link) return false;
    try {
      await this.sock.delLink({ index: link.index });
      return true;
    } catch (err) {
      if (netlinkErrno(err) === 'ENODEV') return false;
      throw err;
    }
  }

  /** Every IPv4 address of the namespace with the index of its link: one dump. */
  async allAddresses(): Promise<(Ipv4Address & { index: number })[]> {
    const msgs = await this.sock.getAddresses({ family: AF_INET });
    return msgs.map((m) => ({
      index: m.data.index ?? 0,
      ip: ipFromBuffer(m.attrs.local ?? m.attrs.address) ?? '',
      prefix: m.data.prefixlen ?? 0,
    }));
  }

  async addresses(index: number): Promise<Ipv4Address[]> {
    return (await this.allAddresses()).filter((a) => a.index === index).map(({ ip, prefix }) => ({ ip, prefix }));
  }

  async addAddress(index: number, address: Ipv4Address): Promise<void> {
    const ip = ipBuffer(address.ip);
    await this.sock.newAddress(
      { family: AF_INET, prefixlen: address.prefix, index },
      { local: ip, address: ip },
      { flags: CREATE_EXCL },
    );
  }

  async deleteAddress(index: number, address: Ipv4Address): Promise<void> {
    const ip = ipBuffer(address.ip);
    await this.sock.delAddress({ family: AF_INET, prefixlen: address.prefix, index }, { local: ip, address: ip });
  }

  async routes(): Promise<Ipv4Route[]> {
    const msgs = await this.sock.getRoutes({ family: AF_INET });
    return msgs
      .filter((m) => (m.attrs.table ?? m.data.table) === RT_TABLE_MAIN)
      .map((m) => ({
        dst: ipFromBuffer(m.attrs.dst) ?? '0.0.0.0',
        dstLen: m.data.dstLen ?? 0,
        gateway: ipFromBuffer(m.attrs.gateway),
        oif: m.attrs.oif ?? 0,
        // The package names the protocols it knows ("KERNEL", "STATIC"); others stay numbers.
        protocol: typeof m.data.protocol === 'string' ? rt.RouteProtocol[m.data.protocol] : (m.data.protocol ?? 0),
        onlink: ((m.data.flags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0,
      }));
  }

  /** Installs (or overwrites) a route in the main table, tagged with the agent's protocol number. */
  async replaceRoute(route: { dst: string; dstLen: number; gateway: string; oif: number; onlink: boolean }): Promise<void> {
    await this.sock.newRoute(
      {
        family: AF_INET,
        dstLen: route.dstLen,
        table: RT_TABLE_MAIN,
        protocol: ROUTE_PROTOCOL_NODE_AGENT as never,
        scope: 'UNIVERSE',
        type: 'UNICAST',
        flags: route.onlink ? { __unknown: RTNH_F_ONLINK } : {},
      },
      { dst: ipBuffer(route.dst), gateway: ipBuffer(route.gateway), oif: route.oif },
      { flags: CREATE_REPLACE },
    );
  }

  async deleteRoute(route: { dst: string; dstLen: number }): Promise<void> {
    try {
      await this.sock.delRoute(
        // The protocol makes the kernel match only our route to this prefix, never someone else's.
        { family: AF_INET, dstLen: route.dstLen, table: RT_TABLE_MAIN, protocol: ROUTE_PROTOCOL_NODE_AGENT as never },
        { dst: ipBuffer(route.dst) },
      );
    } catch (err) {
      if (netlinkErrno(err) !== 'ESRCH') throw err;
    }
  }

  async neighbours(index: number): Promise<NeighbourEntry[]> {
    const msgs = await this.sock.getNeighbors({ family: AF_INET });
    return msgs
      .filter((m) => m.data.ifindex === index)
      .map((m) => ({
        ip: ipFromBuffer(m.attrs.dst) ?? '',
        mac: macFromBuffer(m.attrs.lladdr),
        permanent: Boolean(m.data.state?.permanent),
      }));
  }

  async replaceNeighbour(index: number, ip: string, mac: string): Promise<void> {
    await this.sock.newNeighbor(
      { family: AF_INET, ifindex: index, state: { permanent: true } },
      { dst: ipBuffer(ip), lladdr: macBuffer(mac) },
      { flags: CREATE_REPLACE },
    );
  }

  async deleteNeighbour(index: number, ip: string): Promise<void> {
    try {
      await this.sock.delNeighbor({ family: AF_INET, ifindex: index }, { dst: ipBuffer(ip) });
    } catch (err) {
      if (netlinkErrno(err) !== 'ENOENT') throw err;
    }
  }

  /** The VXLAN device's forwarding entries: which node IP a peer's VTEP MAC lives behind. */
  async fdb(index: number): Promise<FdbEntry[]> {
    const msgs = await this.sock.getNeighbors({ family: AF_BRIDGE });
    return msgs
      .filter((m) => m.data.ifindex === index)
      .map((m) => ({ mac: macFromBuffer(m.attrs.lladdr), dst: ipFromBuffer(m.attrs.dst) }));
  }

  async replaceFdb(index: number, mac: string, dst: string): Promise<void> {
    await this.sock.newNeighbor(
      { family: AF_BRIDGE, ifindex: index, state: { __unknown: NUD_PERMANENT }, flags: { __unknown: NTF_SELF } },
      { lladdr: macBuffer(mac), dst: ipBuffer(dst) },
      { flags: CREATE_REPLACE },
    );
  }

  async deleteFdb(index: number, mac: string, dst: string): Promise<void> {
    try {
      await this.sock.delNeighbor(
        { family: AF_BRIDGE, ifindex: index, flags: { __unknown: NTF_SELF } },
        { lladdr: macBuffer(mac), dst: ipBuffer(dst) },
      );
    } catch (err) {
      if (netlinkErrno(err) !== 'ENOENT') throw err;
    }
  }
}
