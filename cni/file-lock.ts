import { open, readFile, unlink } from 'node:fs/promises';
import { CniCode, CniError } from './types.ts';

/**
 * A lock file shared by every process that allocates from one network (the agent in-process and
 * any exec'd copy of the plugin). Node has no flock, so the lock is a file created exclusively
 * holding the owner's PID. A process killed while holding it (kill -9 in the middle of ADD) leaves
 * the file behind; the next locker sees the PID is gone and takes the lock over.
 *
 * Inside one process, callers queue on a promise chain first, so the file is contended only
 * between processes.
 */

const chains = new Map<string, Promise<unknown>>();

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists but is not ours to signal: still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquire(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CniError(CniCode.IoFailure, `cannot create lock ${path}: ${(err as Error).message}`);
      }
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    // An empty file is a locker between create and write; only a dead PID is stale.
    if (owner > 0 && owner !== process.pid && !pidAlive(owner)) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new CniError(CniCode.TryAgainLater, `lock ${path} is held by pid ${owner || '?'}; try again later`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 20);
  }
}

export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const previous = chains.get(path) ?? Promise.resolve();
  const run = previous.then(
    () => undefined,
    () => undefined,
  ).then(async () => {
    await acquire(path, timeoutMs);
    try {
      return await fn();
    } finally {
      await unlink(path).catch(() => undefined);
    }
  });
  chains.set(path, run);
  try {
    return await run;
  } finally {
    if (chains.get(path) === run) chains.delete(path);
  }
}
