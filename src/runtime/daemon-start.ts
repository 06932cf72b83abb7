import { readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * When the runtime daemon serving an endpoint started, read from /proc: the process named `comm`
 * (dockerd, containerd) that holds the listening socket bound at the endpoint's path. Matching on
 * the socket, not the name alone, tells a node's containerd from the others a host may run (the
 * lab's, Docker's own). Each candidate's socket table is read in its own network namespace
 * (/proc/<pid>/net/unix), so it works from an agent in another one. Linux only.
 */

export interface DaemonStart {
  pid: number;
  /** Wall-clock start time, ms since the epoch (boot time plus the process's start ticks). */
  startedAt: number;
  /**
   * Which process this is, for good: pid and start ticks. The wall-clock time can move by a
   * second between reads (the kernel's boot time follows clock adjustments); this cannot.
   */
  key: string;
}

/** USER_HZ: the unit of /proc/<pid>/stat's starttime, 100 on every Linux the agent runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
/** __SO_ACCEPTCON in /proc/net/unix's Flags column: the socket listens. */
const SO_ACCEPTCON = 0x10000;

export interface UnixSocketEntry {
  inode: number;
  listening: boolean;
  path: string;
}

/** Pure: /proc/net/unix's rows ("Num RefCount Protocol Flags Type St Inode Path"), bound ones only. */
export function parseUnixSockets(text: string): UnixSocketEntry[] {
  const out: UnixSocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 8) continue;
    const path = cols.slice(7).join(' ');
    if (!path.startsWith('/')) continue; // abstract (@...) and unnamed sockets
    out.push({ inode: Number(cols[6]), listening: (parseInt(cols[3] ?? '0', 16) & SO_ACCEPTCON) !== 0, path });
  }
  return out;
}

/** Pure: starttime (field 22) of /proc/<pid>/stat, in clock ticks since boot. */
export function parseStartTicks(stat: string): number | undefined {
  // The command name is in parentheses and may hold spaces: count fields after its last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[19]);
  return Number.isSafeInteger(ticks) ? ticks : undefined;
}

/** Pure: btime of /proc/stat, seconds since the epoch. */
export function parseBootTime(procStat: string): number | undefined {
  const m = /^btime (\d+)$/m.exec(procStat);
  return m ? Number(m[1]) : undefined;
}

export async function findDaemonStart(socketPath: string, comm: string, proc = '/proc'): Promise<DaemonStart | undefined> {
  const target = await realpath(socketPath).catch(() => socketPath);
  const base = basename(target);
  // Only a path with the same file name can be the same socket through a symlink (/var/run → /run).
  const sameSocket = async (path: string): Promise<boolean> =>
    path === socketPath || path === target || (basename(path) === base && (await realpath(path).catch(() => path)) === target);
  const bootTime = parseBootTime(await readFile(`${proc}/stat`, 'utf8'));
  if (bootTime === undefined) return undefined;
  for (const name of await readdir(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readFile(`${proc}/${name}/comm`, 'utf8')).trim() !== comm) continue;
      const inodes = new Set<number>();
      for (const s of parseUnixSockets(await readFile(`${proc}/${name}/net/unix`, 'utf8'))) if (s.listening && (await sameSocket(s.path))) inodes.add(s.inode);
      if (inodes.size === 0) continue;
      let holds = false;
      for (const fd of await readdir(`${proc}/${name}/fd`)) {
        const link = await readlink(`${proc}/${name}/fd/${fd}`).catch(() => '');
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && inodes.has(Number(m[1]))) {
          holds = true;
          break;
        }
      }
      if (!holds) continue;
      const ticks = parseStartTicks(await readFile(`${proc}/${name}/stat`, 'utf8'));
      if (ticks === undefined) continue;
      return { pid: Number(name), startedAt: bootTime * 1000 + Math.round((ticks * 1000) / CLOCK_TICKS_PER_SECOND), key: `${name}:${ticks}` };
    } catch {
      // The process exited while it was read: not the daemon, or not any more.
    }
  }
  return undefined;
}
