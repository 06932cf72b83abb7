import { randomBytes } from 'node:crypto';
import { link, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CniCode, CniError } from './types.ts';

/**
 * A lock file shared by every process that allocates from one network (the agent in-process and
 * any exec'd copy of the plugin). Node has no flock, so the lock is a file naming its owner as
 * "<pid> <start time>" (the start time from /proc/<pid>/stat, so a recycled PID is not mistaken
 * for the owner). A process killed while holding it (kill -9 in the middle of ADD) leaves the file
 * behind; the next locker sees the owner is gone and takes the lock over.
 *
 * The file appears with its content already in it: it is written under a private name and
 * hard-linked into place (link fails if the lock exists). Creating it empty and writing the PID
 * after would leave an empty, ownerless lock forever if the process died in between, and every
 * later ADD would wait for it and fail; that happened with an agent killed mid-ADD.
 *
 * Takeover has a narrow race (two lockers both judging the same dead owner stale); it costs
 * nothing that matters, because the address files are created with O_EXCL and stay the
 * guarantee that no address is handed out twice. The lock only keeps the scan and
 * `last_reserved_ip` tidy.
 *
 * Inside one process, callers queue on a promise chain first, so the file is contended only
 * between processes.
 */

const chains = new Map<string, Promise<unknown>>();

/** A lock file that names no owner is stale once it is this old (written by an older version). */
const OWNERLESS_STALE_MS = 2000;

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
async function startTimeOf(pid: number | 'self'): Promise<string | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

let selfIdentity: Promise<string> | undefined;

function identity(): Promise<string> {
  selfIdentity ??= startTimeOf('self').then((start) => `${process.pid} ${start ?? '?'}`);
  return selfIdentity;
}

/** Whether the lock's recorded owner still runs; `undefined` when the file names no owner. */
async function ownerAlive(owner: string): Promise<boolean | undefined> {
  const [pidText = '', start = ''] = owner.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const now = await startTimeOf(pid);
  if (now !== undefined) return start === '' || start === '?' || now === start;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists but is not ours to signal: still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates `path` holding `content`, atomically; false if it already exists. */
async function createWith(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, content, { mode: 0o644 });
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new CniError(CniCode.IoFailure, `cannot create lock ${path}: ${(err as Error).message}`);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function isStale(path: string, owner: string): Promise<boolean> {
  const alive = await ownerAlive(owner);
  if (alive !== undefined) return !alive;
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > OWNERLESS_STALE_MS;
}

async function acquire(path: string, timeoutMs: number): Promise<string> {
  const me = await identity();
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    if (await createWith(path, me)) return me;
    const owner = await readFile(path, 'utf8').catch(() => undefined);
    if (owner === undefined) continue; // released between our attempt and the read
    // A lock naming this process is a leftover of ours (the chain above serialises our own
    // lockers), so it is as stale as a dead owner's.
    if (owner === me || (await isStale(path, owner))) {
      // Re-read right before removing, so a lock someone else just took over is left alone.
      if ((await readFile(path, 'utf8').catch(() => undefined)) === owner) await unlink(path).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new CniError(CniCode.TryAgainLater, `lock ${path} is held by pid ${owner.split(' ')[0] || '?'}; try again later`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 20);
  }
}

/** Releases the lock only if it is still ours (it may have been taken over as stale). */
async function release(path: string, me: string): Promise<void> {
  if ((await readFile(path, 'utf8').catch(() => undefined)) === me) await unlink(path).catch(() => undefined);
}

/**
 * Removes the private files of lockers that died between writing and linking them (GC calls
 * this); those of live processes are left alone.
 */
export async function sweepLockLeftovers(path: string): Promise<number> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (Number.isInteger(pid) && pid > 0 && (await ownerAlive(String(pid)))) continue;
    await unlink(join(dir, name)).catch(() => undefined);
    removed++;
  }
  return removed;
}

export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const previous = chains.get(path) ?? Promise.resolve();
  const run = previous.then(
    () => undefined,
    () => undefined,
  ).then(async () => {
    const me = await acquire(path, timeoutMs);
    try {
      return await fn();
    } finally {
      await release(path, me);
    }
  });
  chains.set(path, run);
  try {
    return await run;
  } finally {
    if (chains.get(path) === run) chains.delete(path);
  }
}
