import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { type Rtnl, netlinkErrno } from '../src/net/netlink/rtnl.ts';
import { macForIp } from './ip-range.ts';
import { ipBatch } from './netns-ip.ts';
import { CniCode, CniError } from './types.ts';

/**
 * One pod's attachment: a veth pair with the pod end (named CNI_IFNAME, e.g. eth0) inside the pod's
 * namespace and the host end on the bridge.
 *
 * The host end's name is derived from the container ID and interface name, so DEL and GC find it
 * without entering a namespace that may already be gone, and a leftover from a crashed ADD is
 * recognised as ours.
 */

export const HOST_VETH_PREFIX = 'nav';

export function hostVethName(containerID: string, ifname: string): string {
  const digest = createHash('sha1').update(`${containerID}/${ifname}`).digest('hex');
  return `${HOST_VETH_PREFIX}${digest.slice(0, 12)}`;
}

export interface AttachSpec {
  containerID: string;
  ifname: string;
  netnsPath: string;
  bridgeIndex: number;
  ip: string;
  prefix: number;
  gateway: string;
  mtu: number;
}

export interface AttachResult {
  hostVeth: string;
  hostMac: string;
  podMac: string;
}

function openNetns(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw new CniError(CniCode.UnknownContainer, `network namespace ${path} cannot be opened: ${(err as Error).message}`);
  }
}

export async function attachPod(rtnl: Rtnl, spec: AttachSpec): Promise<AttachResult> {
  const hostVeth = hostVethName(spec.containerID, spec.ifname);
  const podMac = macForIp(spec.ip);
  const fd = openNetns(spec.netnsPath);
  try {
    const create = (): Promise<void> =>
      rtnl.createVethIntoNetns({ hostName: hostVeth, peerName: spec.ifname, netnsFd: fd, mtu: spec.mtu, peerMac: podMac });
    try {
      await create();
    } catch (err) {
      if (netlinkErrno(err) !== 'EEXIST') {
        throw new CniError(CniCode.KernelFailure, `cannot create veth ${hostVeth}: ${(err as Error).message}`);
      }
      // Our host end left by an ADD that died half-way: remove it and try once more. If it was not
      // the host end that clashed, the interface name is taken inside the pod.
      if (!(await rtnl.deleteLink(hostVeth))) {
        throw new CniError(CniCode.KernelFailure, `interface ${spec.ifname} already exists in ${spec.netnsPath}`);
      }
      await create();
    }
  } finally {
    closeSync(fd);
  }

  const host = await rtnl.linkByName(hostVeth);
  if (!host) throw new CniError(CniCode.KernelFailure, `veth ${hostVeth} vanished right after creation`);
  await rtnl.setMaster(host.index, spec.bridgeIndex);
  await rtnl.setUp(host.index);

  const run = await ipBatch(spec.netnsPath, [
    'link set lo up',
    `addr add ${spec.ip}/${spec.prefix} dev ${spec.ifname}`,
    `link set ${spec.ifname} up`,
    `route add default via ${spec.gateway} dev ${spec.ifname}`,
  ]);
  if (run.code !== 0) {
    throw new CniError(CniCode.KernelFailure, `configuring ${spec.ifname} in ${spec.netnsPath} failed`, run.stderr);
  }
  return { hostVeth, hostMac: host.mac, podMac };
}

/** Removes the pair through its host end (the kernel removes the pod end with it). */
export async function detachPod(rtnl: Rtnl, containerID: string, ifname: string): Promise<boolean> {
  return rtnl.deleteLink(hostVethName(containerID, ifname));
}
