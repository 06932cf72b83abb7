import { readFile, readlink } from 'node:fs/promises';
import { execa } from 'execa';

/**
 * The mounts the volume layer makes (tmpfs for memory-backed volumes) and the reading of
 * /proc/<pid>/mountinfo it needs to know what is mounted where.
 */

export interface MountEntry {
  id: number;
  parentId: number;
  /** Where it is mounted, unescaped. */
  mountPoint: string;
  fsType: string;
  source: string;
  /** Per-superblock options, e.g. "rw,size=16384k" for a tmpfs. */
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \040, \011, \012 and \134. */
function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Parses /proc/<pid>/mountinfo (see proc(5)); lines it cannot read are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (fields.length < 10 || separator === -1) continue;
    entries.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      mountPoint: unescapeOctal(fields[4] ?? ''),
      fsType: fields[separator + 1] ?? '',
      source: unescapeOctal(fields[separator + 2] ?? ''),
      superOptions: fields[separator + 3] ?? '',
    });
  }
  return entries;
}

export async function readMountInfo(pid: number | 'self' = 'self'): Promise<MountEntry[]> {
  return parseMountInfo(await readFile(`/proc/${pid}/mountinfo`, 'utf8'));
}

/** Mounts at `dir` or below it, deepest first (the order to unmount them in). */
export function mountsBelow(entries: readonly MountEntry[], dir: string): MountEntry[] {
  return entries.filter((e) => e.mountPoint === dir || e.mountPoint.startsWith(`${dir}/`)).sort((a, b) => b.mountPoint.length - a.mountPoint.length || b.id - a.id);
}

/**
 * Whether this process sees the mounts of PID 1 (the host's mount namespace, where the container
 * runtime normally runs). Under `ip netns exec` it does not: that gives the process a private
 * mount namespace whose mounts never propagate back, so a tmpfs mounted here would be invisible
 * to dockerd, which would bind-mount the empty directory underneath into the container.
 * Compares the namespace links, or where /proc/1/ns is closed to us, the ids of the root mounts
 * (every namespace numbers its own copies). Unknown counts as shared.
 */
export async function sharesInitMountNamespace(): Promise<boolean> {
  const [own, init] = await Promise.all([readlink('/proc/self/ns/mnt').catch(() => ''), readlink('/proc/1/ns/mnt').catch(() => '')]);
  if (own && init) return own === init;
  try {
    const [self, pid1] = await Promise.all([readMountInfo('self'), readMountInfo(1)]);
    const root = (entries: MountEntry[]) => entries.find((e) => e.mountPoint === '/')?.id;
    const a = root(self);
    const b = root(pid1);
    return a === undefined || b === undefined || a === b;
  } catch {
    return true;
  }
}

/**
 * `mount -t tmpfs -o size=<bytes> tmpfs <dir>`, as kubelet mounts memory-backed emptyDirs. No mode
 * option: a tmpfs root is 1777, which is what containers running as any user find in kubelet's.
 */
export async function mountTmpfs(dir: string, sizeBytes: bigint | undefined): Promise<void> {
  const options = sizeBytes !== undefined && sizeBytes > 0n ? ['-o', `size=${sizeBytes}`] : [];
  const result = await execa('mount', ['-t', 'tmpfs', ...options, 'tmpfs', dir], { reject: false });
  if (result.exitCode !== 0) throw new Error(`mount failed: exit status ${result.exitCode ?? 'unknown'}: ${String(result.stderr).trim() || String(result.stdout).trim()}`);
}

export async function unmount(dir: string): Promise<void> {
  const result = await execa('umount', [dir], { reject: false });
  if (result.exitCode !== 0) throw new Error(`unmount failed: exit status ${result.exitCode ?? 'unknown'}: ${String(result.stderr).trim()}`);
}
