import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, statfs, type FileHandle } from 'node:fs/promises';
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

/** statfs f_type of nsfs, the filesystem of /proc/<pid>/ns/* and their bind mounts (/run/netns/*). */
const NSFS_MAGIC = 0x6e736673;

/**
 * Opens CNI_NETNS as the reference plugins' ns.GetNS does, but never blocking the event loop (the
 * agent serves containerd's CNI calls in-process): asynchronously, non-blocking and close-on-exec as libuv always opens (a FIFO named as
 * CNI_NETNS would otherwise hang the open), and only kept if what was opened is a namespace file
 * (statfs through /proc/self/fd, so the check is of the file opened, not of a path that may have
 * changed since).
 */
export async function openNetns(path: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new CniError(CniCode.UnknownContainer, `network namespace ${path} cannot be opened: ${(err as Error).message}`);
  }
  try {
    const fs = await statfs(`/proc/self/fd/${handle.fd}`);
    if (fs.type !== NSFS_MAGIC) throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS ${path} is not a network namespace (not an nsfs file)`);
    return handle;
  } catch (err) {
    await handle.close();
    if (err instanceof CniError) throw err;
    throw new CniError(CniCode.UnknownContainer, `network namespace ${path} cannot be checked: ${(err as Error).message}`);
  }
}

/** Runs `fn` with a path to the checked namespace that stays the one opened (/proc/<pid>/fd/<fd>). */
export async function withNetns<T>(path: string, fn: (byFd: string) => Promise<T>): Promise<T> {
  const netns = await openNetns(path);
  try {
    return await fn(`/proc/${process.pid}/fd/${netns.fd}`);
  } finally {
    await netns.close();
  }
}

export async function attachPod(rtnl: Rtnl, spec: AttachSpec): Promise<AttachResult> {
  const hostVeth = hostVethName(spec.containerID, spec.ifname);
  const podMac = macForIp(spec.ip);
  const netns = await openNetns(spec.netnsPath);
  const fd = netns.fd;
  // Everything below works on the namespace opened and checked, never on the path again.
  const netnsByFd = `/proc/${process.pid}/fd/${fd}`;
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

    const host = await rtnl.linkByName(hostVeth);
    if (!host) throw new CniError(CniCode.KernelFailure, `veth ${hostVeth} vanished right after creation`);
    await rtnl.setMaster(host.index, spec.bridgeIndex);
    await rtnl.setUp(host.index);

    const run = await ipBatch(netnsByFd, [
      'link set lo up',
      `addr add ${spec.ip}/${spec.prefix} dev ${spec.ifname}`,
      `link set ${spec.ifname} up`,
      `route add default via ${spec.gateway} dev ${spec.ifname}`,
    ]);
    if (run.code !== 0) {
      throw new CniError(CniCode.KernelFailure, `configuring ${spec.ifname} in ${spec.netnsPath} failed`, run.stderr);
    }
    return { hostVeth, hostMac: host.mac, podMac };
  } finally {
    await netns.close();
  }
}

/** Removes the pair through its host end (the kernel removes the pod end with it). */
export async function detachPod(rtnl: Rtnl, containerID: string, ifname: string): Promise<boolean> {
  return rtnl.deleteLink(hostVethName(containerID, ifname));
}
