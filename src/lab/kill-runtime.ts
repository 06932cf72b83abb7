import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { pathExists } from '../util/path-exists.ts';
import { sleep } from '../util/sleep.ts';
import { waitFor } from './daemon.ts';
import { processAlive } from './netns.ts';

/**
 * A container runtime killed outright, the way a crash, the OOM killer or
 * `systemctl kill --signal=KILL` (KillMode=control-group) does it: nothing shuts down cleanly and
 * the pods' containers die with it. The tests use it to check that the agent recovers every pod
 * (new sandboxes, new IPs, restart counts) once the runtime is back.
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface ProcessEntry {
  pid: number;
  ppid: number;
  cmdline: string[];
}

async function processTable(): Promise<ProcessEntry[]> {
  const entries: ProcessEntry[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces: the fields after its last ')' are fixed.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      entries.push({ pid: Number(name), ppid, cmdline });
    } catch {
      // gone while listed
    }
  }
  return entries;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function waitGone(pids: number[], what: string): Promise<void> {
  await waitFor(`${what} to exit`, 15_000, async () => {
    for (const pid of pids) if (await processAlive(pid)) return false;
    return true;
  }, 100);
}

/**
 * SIGKILL to a containerd, every shim serving it (their `-address` is its socket) and the
 * processes those shims run (each container's init: with it goes the container's PID namespace).
 */
export async function killContainerdTree(containerdPid: number, socket: string): Promise<number> {
  const table = await processTable();
  const shims = table.filter((p) => /containerd-shim/.test(p.cmdline[0] ?? '') && p.cmdline.includes(socket)).map((p) => p.pid);
  const children = table.filter((p) => shims.includes(p.ppid)).map((p) => p.pid);
  const all = [containerdPid, ...shims, ...children];
  for (const pid of all) kill(pid);
  await waitGone(all, 'containerd and its shims');
  return children.length;
}

/**
 * SIGKILL to the machine's dockerd, then started again by scripts/start-runtimes.sh. Without
 * live-restore (the default), dockerd stops every container it finds running when it starts, so
 * every pod's containers and sandbox are dead afterwards.
 */
export async function killAndRestartDockerd(): Promise<void> {
  const pid = Number((await readFile('/var/run/docker.pid', 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error('/var/run/docker.pid names no process: is dockerd running?');
  kill(pid);
  await waitGone([pid], 'dockerd');
  // dockerd refuses to start while its pid file names a process that /proc still lists, and a
  // zombie is listed until it is reaped (PID 1 here may take its time): its pid file goes.
  await sleep(200);
  if (await pathExists(`/proc/${pid}`)) await rm('/var/run/docker.pid', { force: true });
  await execa('bash', [join(repoRoot, 'scripts/start-runtimes.sh')], { stdout: 'ignore', stderr: 'pipe' });
}
