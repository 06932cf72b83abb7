import { basename } from 'node:path';

/**
 * Container log rotation for CRI runtimes. containerd writes a container's log file but never
 * rotates it: kubelet's container log manager does, by renaming the file, asking the runtime to
 * reopen it (ReopenContainerLog) and deleting the oldest rotated files. The same defaults here
 * (containerLogMaxSize 10Mi, containerLogMaxFiles 5, checked every 10 s), so a chatty container
 * cannot fill the node's disk. Rotated files are kept as they are (kubelet also gzips them).
 */

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_MAX_FILES = 5;
export const LOG_ROTATION_INTERVAL_MS = 10_000;

/** kubelet's suffix for a rotated file: <log>.20061102-150405 (UTC). */
export function rotatedName(logPath: string, now: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${logPath}.${stamp}`;
}

/**
 * Which rotated siblings of `logPath` to delete so that, with the live file, at most `maxFiles`
 * remain: the oldest first (the stamp sorts by time). `siblings` are names in the log's directory.
 */
export function rotatedToDelete(logPath: string, siblings: string[], maxFiles: number): string[] {
  const base = basename(logPath);
  const rotated = siblings.filter((n) => n.startsWith(`${base}.`) && /^\d{8}-\d{6}$/.test(n.slice(base.length + 1))).sort();
  const keep = Math.max(0, maxFiles - 1);
  return rotated.slice(0, Math.max(0, rotated.length - keep));
}
