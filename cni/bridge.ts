import { type LinkInfo, type Rtnl, netlinkErrno } from '../src/net/netlink/rtnl.ts';
import { macForIp } from './ip-range.ts';
import { CniCode, CniError } from './types.ts';

/**
 * The node's pod bridge: present, up, at the pod MTU, holding exactly the gateway address. A
 * bridge carrying another IPv4 address (the node's pod CIDR changed since it was made) is repaired
 * in place, because pods behind a bridge with the wrong gateway have no way out.
 */

export interface BridgeSpec {
  name: string;
  gateway: string;
  prefix: number;
  mtu: number;
}

export interface BridgeState {
  link: LinkInfo;
  /** Addresses removed because they did not belong to the current subnet. */
  repaired: string[];
  created: boolean;
}

export async function ensureBridge(rtnl: Rtnl, spec: BridgeSpec): Promise<BridgeState> {
  let created = false;
  let link = await rtnl.linkByName(spec.name);
  if (!link) {
    try {
      await rtnl.createBridge(spec.name, spec.mtu);
      created = true;
    } catch (err) {
      // Another ADD made it at the same moment: fine.
      if (netlinkErrno(err) !== 'EEXIST') {
        throw new CniError(CniCode.KernelFailure, `cannot create bridge ${spec.name}: ${(err as Error).message}`);
      }
    }
    link = await rtnl.linkByName(spec.name);
    if (!link) throw new CniError(CniCode.KernelFailure, `bridge ${spec.name} vanished right after creation`);
  }
  if (link.mtu !== spec.mtu) await rtnl.setMtu(link.index, spec.mtu);
  // A bridge with no MAC of its own takes the lowest of its ports' and changes it as pods come and
  // go; pods holding the gateway's old MAC in their ARP cache then lose packets for seconds. An
  // explicit MAC (derived from the gateway IP, like the pods') never moves.
  const mac = macForIp(spec.gateway);
  if (link.mac !== mac) {
    await rtnl.setMac(link.index, mac);
    link = { ...link, mac };
  }

  const repaired: string[] = [];
  const addresses = await rtnl.addresses(link.index);
  let hasGateway = false;
  for (const a of addresses) {
    if (a.ip === spec.gateway && a.prefix === spec.prefix) {
      hasGateway = true;
      continue;
    }
    await rtnl.deleteAddress(link.index, a);
    repaired.push(`${a.ip}/${a.prefix}`);
  }
  if (!hasGateway) {
    try {
      await rtnl.addAddress(link.index, { ip: spec.gateway, prefix: spec.prefix });
    } catch (err) {
      if (netlinkErrno(err) !== 'EEXIST') {
        throw new CniError(CniCode.KernelFailure, `cannot add ${spec.gateway} to ${spec.name}: ${(err as Error).message}`);
      }
    }
  }
  if (!link.up) await rtnl.setUp(link.index);
  return { link: { ...link, mtu: spec.mtu, up: true }, repaired, created };
}

/** STATUS: the bridge is there, up and holding the gateway; otherwise why not. */
export async function bridgeProblem(rtnl: Rtnl, spec: BridgeSpec): Promise<string | undefined> {
  const link = await rtnl.linkByName(spec.name);
  if (!link) return `bridge ${spec.name} does not exist`;
  if (!link.up) return `bridge ${spec.name} is down`;
  const addresses = await rtnl.addresses(link.index);
  if (!addresses.some((a) => a.ip === spec.gateway && a.prefix === spec.prefix)) {
    return `bridge ${spec.name} does not hold the gateway ${spec.gateway}/${spec.prefix}`;
  }
  return undefined;
}
