import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ipv4Address, LinkInfo, Rtnl } from './netlink/rtnl.ts';
import { isUnicastMac } from './peer-plan.ts';

/**
 * The node's VXLAN device (the VTEP of vxlan mode), made to match what the agent wants. Peers
 * address this node's pods through the device's MAC, which they learn from a Node annotation, so
 * the MAC must survive restarts of the agent and re-creations of the device: it is generated
 * once and kept in a file of the state directory, and the device is always created with it.
 */

export interface VxlanDeviceOptions {
  /** Directory holding the VTEP MAC file; created when missing. */
  stateDir: string;
  /** Default `nagent.1` (".<VNI>", as flannel names its device). */
  name?: string;
  /** Default 1. */
  vni?: number;
  /** Default 8472, the Linux kernel's historical VXLAN port, which flannel uses too. */
  port?: number;
}

export const VXLAN_DEFAULTS = { name: 'nagent.1', vni: 1, port: 8472 } as const;

/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers. */
export const VXLAN_OVERHEAD = 50;

export interface VxlanDevice {
  name: string;
  index: number;
  mac: string;
  mtu: number;
  underlay: LinkInfo;
  /** What this call changed, for the log; empty when the device was already right. */
  changes: string[];
}

/** The link that carries `nodeIP`: VXLAN's UDP packets leave by it, and host-gw routes use it. */
export async function findUnderlay(rtnl: Rtnl, nodeIP: string): Promise<LinkInfo> {
  // One address dump, not one per link: this runs on every peer sync, and a node has a link per pod.
  const owner = (await rtnl.allAddresses()).find((a) => a.ip === nodeIP);
  const link = owner && (await rtnl.links()).find((l) => l.index === owner.index);
  if (!link) throw new Error(`no network device carries the node IP ${nodeIP}`);
  return link;
}

/** A random locally administered (bit 1 of the first octet) unicast (bit 0 clear) MAC. */
export function randomVtepMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = ((bytes[0] ?? 0) & 0xfc) | 0x02;
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The MAC kept in `<stateDir>/vtep-mac-<device>`, generated and stored on first use. A file that
 * exists but does not hold a unicast MAC is an error rather than silently replaced: a new MAC
 * would cut this node off until every peer has seen the new annotation.
 */
export async function loadOrCreateVtepMac(stateDir: string, device: string): Promise<string> {
  const file = join(stateDir, `vtep-mac-${device}`);
  try {
    const mac = (await readFile(file, 'utf8')).trim().toLowerCase();
    if (!isUnicastMac(mac)) throw new Error(`${file} does not hold a unicast MAC address (${JSON.stringify(mac)}); delete it to generate a new one`);
    return mac;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const mac = randomVtepMac();
  await mkdir(stateDir, { recursive: true });
  // Write-then-rename: a crash leaves either no file or a whole one, never half a MAC.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${mac}\n`, { mode: 0o644 });
  await rename(tmp, file);
  return mac;
}

/**
 * Makes the VXLAN device exist with the persisted MAC, the VNI and port, the node IP as local
 * address, the node IP's device as underlay, MTU = underlay MTU - 50, up, and `address` as its only
 * IPv4 address. A device whose identity (MAC, VNI, port, local IP, underlay, learning) differs is
 * deleted and created again, since the kernel cannot change most of these on a live device; a
 * wrong MTU, a down state or extra addresses are fixed in place.
 */
export async function ensureVxlanDevice(
  rtnl: Rtnl,
  options: VxlanDeviceOptions & { nodeIP: string; address: Ipv4Address },
): Promise<VxlanDevice> {
  const name = options.name ?? VXLAN_DEFAULTS.name;
  const vni = options.vni ?? VXLAN_DEFAULTS.vni;
  const port = options.port ?? VXLAN_DEFAULTS.port;
  const underlay = await findUnderlay(rtnl, options.nodeIP);
  const mac = await loadOrCreateVtepMac(options.stateDir, name);
  const mtu = underlay.mtu - VXLAN_OVERHEAD;
  const changes: string[] = [];

  let link = await rtnl.linkByName(name);
  if (link) {
    const info = await rtnl.vxlanInfo(name);
    const wrong: string[] = [];
    if (!info) wrong.push('not a VXLAN device');
    else {
      if (info.vni !== vni) wrong.push(`VNI ${info.vni}`);
      if (info.port !== port) wrong.push(`port ${info.port}`);
      if (info.localIp !== options.nodeIP) wrong.push(`local ${info.localIp ?? 'none'}`);
      if (info.underlayIndex !== underlay.index) wrong.push(`underlay index ${info.underlayIndex}`);
      if (info.learning) wrong.push('learning on');
    }
    if (link.mac !== mac) wrong.push(`MAC ${link.mac}`);
    if (wrong.length > 0) {
      await rtnl.deleteLink(name);
      changes.push(`deleted ${name} (${wrong.join(', ')})`);
      link = undefined;
    }
  }
  if (!link) {
    await rtnl.createVxlan({ name, vni, port, localIp: options.nodeIP, underlayIndex: underlay.index, mtu, mac });
    changes.push(`created ${name} vni ${vni} port ${port} local ${options.nodeIP} dev ${underlay.name} mtu ${mtu} mac ${mac}`);
    link = await rtnl.linkByName(name);
    if (!link) throw new Error(`${name} vanished right after it was created`);
  }
  if (link.mtu !== mtu) {
    await rtnl.setMtu(link.index, mtu);
    changes.push(`mtu ${link.mtu} -> ${mtu}`);
  }
  if (!link.up) {
    await rtnl.setUp(link.index);
    changes.push('set up');
  }

  const want = options.address;
  const addresses = await rtnl.addresses(link.index);
  for (const a of addresses) {
    if (a.ip === want.ip && a.prefix === want.prefix) continue;
    await rtnl.deleteAddress(link.index, a);
    changes.push(`removed address ${a.ip}/${a.prefix}`);
  }
  if (!addresses.some((a) => a.ip === want.ip && a.prefix === want.prefix)) {
    await rtnl.addAddress(link.index, want);
    changes.push(`added address ${want.ip}/${want.prefix}`);
  }
  return { name, index: link.index, mac, mtu, underlay, changes };
}
