import { access } from 'node:fs/promises';

/** Whether something is at `path` (any type; a dangling symlink counts as nothing). */
export async function pathExists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}
