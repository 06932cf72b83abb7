import { lstat, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { QosClass } from './qos.ts';

/**
 * The pod's cgroup directories, removed once its containers are gone. Sandboxes and containers
 * are created under the pod's cgroup parent (sandbox-config.ts); the runtime removes each
 * container's own cgroup but not the parents it made on the way, which kubelet's pod container
 * manager removes. Which QoS class the pod had is not needed: a pod's directory can only be in one
 * of the three places, so all three are tried (an orphan found in the runtime has no spec).
 */

const CGROUP_ROOT = '/sys/fs/cgroup';

/** kubelet's cgroupfs names: Guaranteed pods sit directly under kubepods, the others under their QoS class. */
export function podCgroupPath(qos: QosClass, uid: string): string {
  return qos === 'Guaranteed' ? `/kubepods/pod${uid}` : `/kubepods/${qos.toLowerCase()}/pod${uid}`;
}

/** Where a pod's cgroup can be, relative to a hierarchy: one place per QoS class. */
export function podCgroupCandidates(uid: string): string[] {
  return (['Guaranteed', 'Burstable', 'BestEffort'] as const).map((qos) => podCgroupPath(qos, uid).slice(1));
}

/** The mounted hierarchies: the root itself on cgroup v2, one directory per controller on v1. */
export async function cgroupHierarchies(root = CGROUP_ROOT): Promise<string[]> {
  const entries = await readdir(root).catch(() => [] as string[]);
  if (entries.includes('cgroup.controllers')) return [root];
  const out: string[] = [];
  for (const name of entries) {
    // v1 links co-mounted names (cpu -> cpu,cpuacct) to one directory: visit it once.
    const st = await lstat(join(root, name)).catch(() => undefined);
    if (st?.isDirectory()) out.push(join(root, name));
  }
  return out;
}

/** Removes a cgroup directory tree bottom-up; a directory that still holds processes stays (EBUSY). */
async function removeTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return [];
  const left: string[] = [];
  for (const e of entries) if (e.isDirectory()) left.push(...(await removeTree(join(dir, e.name))));
  try {
    await rmdir(dir);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ENOENT') left.push(`${dir} (${code ?? String(err)})`);
  }
  return left;
}

/** Returns the directories that could not be removed (still in use); empty when all is gone. */
export async function removePodCgroups(uid: string, root = CGROUP_ROOT): Promise<string[]> {
  if (!uid || uid.includes('/') || uid.includes('..')) return [];
  const left: string[] = [];
  for (const h of await cgroupHierarchies(root)) {
    for (const rel of podCgroupCandidates(uid)) left.push(...(await removeTree(join(h, rel))));
  }
  return left;
}
