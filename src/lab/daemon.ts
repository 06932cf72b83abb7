import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { sleep } from '../util/sleep.ts';
import { processAlive } from './netns.ts';

/**
 * Starts a long-running process inside a network namespace, detached from the caller (its own
 * session, output appended to a log file) so it outlives `npm run lab -- up`. `nsenter --net`
 * execs the command, so the returned pid is the daemon's own; unlike `ip netns exec` it keeps the
 * host's mount namespace, which an agent needs so that the volumes it mounts are the ones Docker
 * sees (one filesystem, as on a real VM).
 */
export function spawnInNetns(netns: string, command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, command, ...args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${command} in ${netns}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after `graceMs` if it is still there. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await processAlive(pid))) return;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone between the check and the kill
  }
}

/** Polls `check` until it returns true or `timeoutMs` passes; `describe` says what was awaited. */
export async function waitFor(describe: string, timeoutMs: number, check: () => Promise<boolean>, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${describe}${lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})` : ''}`);
}
