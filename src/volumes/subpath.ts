import { constants, type Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, realpath, rmdir, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { execa } from 'execa';
import { readMountInfo, unmount } from './mounts.ts';
import { isWithin, subPathTextError } from './subpath-rules.ts';

/**
 * A volumeMount's subPath, made safe the way kubelet's hostutil/subpath code does it since
 * CVE-2017-1002101: the container's own writes can turn any part of a volume into a symlink (say
 * `ln -s / /vol/x`), and a runtime that bind-mounts `volume/x` follows it on the host. So the agent
 *   1. resolves the subPath once, with symlinks that stay inside the volume allowed, and refuses
 *      it when it lands outside;
 *   2. walks the resolved path again one component at a time, each opened relative to the last
 *      with O_NOFOLLOW (creating the directories that are missing, with the volume's own mode),
 *      so a symlink swapped in between the two steps is met and refused, never followed;
 *   3. bind-mounts the handle it holds (/proc/<pid>/fd/<n>, which names the inode, not a path)
 *      onto <pod>/volume-subpaths/<volume>/<container>/<index>, and gives the runtime that.
 * Node has no openat: opening `/proc/self/fd/<parent>/<name>` is the same lookup, since the kernel
 * resolves the fd link to the directory itself and then looks up one name in it.
 */

// Linux open(2) flags Node does not export: O_PATH opens without reading (works on any inode type,
// also a symlink itself under O_NOFOLLOW, so the walk sees what it met).
const O_PATH = 0o10000000;
const openFlags = O_PATH | constants.O_NOFOLLOW | 0o2000000; /* O_CLOEXEC */

/**
 * The subPath with every symlink that exists resolved (the parts that do not exist yet appended
 * as written), checked to stay within the volume; relative to the volume's resolved path.
 */
async function resolveWithin(baseReal: string, subPath: string): Promise<string[]> {
  const parts = subPath.split('/').filter((p) => p !== '' && p !== '.');
  // The longest prefix that resolves; the rest does not exist yet (or is a dangling symlink, which
  // the walk below then meets and refuses).
  let cut = parts.length;
  let resolved: string | undefined;
  for (; cut >= 0; cut--) {
    try {
      resolved = await realpath(join(baseReal, ...parts.slice(0, cut)));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const full = join(resolved ?? baseReal, ...parts.slice(cut));
  if (!isWithin(baseReal, full)) throw new Error(`subPath "${subPath}" resolves to ${full}, outside the volume`);
  return relative(baseReal, full).split(sep).filter((p) => p !== '');
}

/**
 * Opens the volume's `rel` components one by one without following any symlink, creating missing
 * directories with `mode`; returns a handle on the last one, or on the volume itself. Exported
 * for the test that swaps a symlink in after resolveWithin has looked.
 */
export async function openWithin(baseReal: string, rel: readonly string[], mode: number, subPath: string): Promise<{ handle: FileHandle; info: Stats }> {
  let handle = await open(baseReal, openFlags | constants.O_DIRECTORY);
  try {
    let info = await handle.stat();
    let at = baseReal;
    for (const name of rel) {
      if (!info.isDirectory()) throw new Error(`subPath "${subPath}": ${at} is not a directory`);
      const path = `/proc/self/fd/${handle.fd}/${name}`;
      let next: FileHandle;
      try {
        next = await open(path, openFlags);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // mkdir does not follow a symlink in its last component (EEXIST instead), and the walk
        // opens what it made with O_NOFOLLOW again.
        await mkdir(path, { mode }).catch((e: unknown) => {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        });
        next = await open(path, openFlags);
        // The umask took bits off; set the volume's mode through the handle (chmod of a
        // /proc/self/fd link acts on the inode, not on any path).
        await chmod(`/proc/self/fd/${next.fd}`, mode).catch(() => undefined);
      }
      await handle.close();
      handle = next;
      at = join(at, name);
      info = await handle.stat();
      if (info.isSymbolicLink()) throw new Error(`subPath "${subPath}": ${at} changed into a symlink while it was being opened`);
    }
    return { handle, info };
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/** The bind target made to match the source: an empty file for a file, a directory otherwise. */
async function prepareTarget(target: string, isDir: boolean): Promise<void> {
  await mkdir(dirname(target), { recursive: true, mode: 0o750 });
  // A target left by an earlier attempt: unmounted (the container that used it has its own copy
  // of the mount) and made again, as the source may since have changed type.
  // (mountinfo, not a device comparison: a bind from the same filesystem keeps the device.)
  for (let pass = 0; pass < 3 && (await readMountInfo('self')).some((m) => m.mountPoint === target); pass++) await unmount(target);
  const existing = await lstat(target).catch(() => undefined);
  if (existing && existing.isDirectory() !== isDir) {
    if (existing.isDirectory()) await rmdir(target);
    else await unlink(target);
  }
  if (isDir) await mkdir(target, { recursive: true, mode: 0o750 });
  else if (!existing || existing.isDirectory()) await writeFile(target, '', { mode: 0o640, flag: 'wx' });
}

/**
 * Makes `subPath` of the volume at `volumePath` safe for a container and returns the host path to
 * bind-mount in its place (`target`, now a bind mount of the checked inode). Throws with a message
 * for the container's CreateContainerConfigError.
 */
export async function bindSubPath(volumePath: string, subPath: string, target: string): Promise<string> {
  const textError = subPathTextError(subPath);
  if (textError) throw new Error(textError);
  const baseReal = await realpath(volumePath);
  const mode = (await stat(baseReal)).mode & 0o7777;
  const rel = await resolveWithin(baseReal, subPath);
  const { handle, info } = await openWithin(baseReal, rel, mode, subPath);
  try {
    await prepareTarget(target, info.isDirectory());
    // --no-canonicalize: mount(8) must hand the kernel the fd link itself, not a path it read
    // from it (which could be swapped again).
    const result = await execa('mount', ['--no-canonicalize', '--bind', `/proc/${process.pid}/fd/${handle.fd}`, target], { reject: false });
    if (result.exitCode !== 0) throw new Error(`bind-mounting subPath "${subPath}": ${String(result.stderr).trim() || `mount exited ${result.exitCode ?? 'abnormally'}`}`);
  } finally {
    await handle.close();
  }
  return target;
}
