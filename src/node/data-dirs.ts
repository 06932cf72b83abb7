import { chmod, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The agent's root directory and its `pods` directory, 0750 as kubelet's setupDataDirs makes
 * them. Below them live every pod's secrets and service-account tokens, the CNI socket and the
 * subPath binds; the files themselves are 0644 (containers run as any user and must read them),
 * so these two directories are what keeps other users of the host out. An existing directory
 * with a wider mode (an older install, a hand-made one) is narrowed, not trusted.
 */
export const dataDirMode = 0o750;

export async function ensureDataDirs(rootDir: string): Promise<void> {
  for (const dir of [rootDir, join(rootDir, 'pods')]) await ensurePrivateDir(dir);
}

/** `dir` exists as a directory with mode 0750 (group and others kept out); parents are made as needed. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: dataDirMode });
  // stat, not lstat: a root directory that is a symlink to a data disk is a normal set-up.
  const info = await stat(dir);
  if (!info.isDirectory()) throw new Error(`${dir} must be a directory`);
  if ((info.mode & 0o7777) !== dataDirMode) await chmod(dir, dataDirMode);
}
