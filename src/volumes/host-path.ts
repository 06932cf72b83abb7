import { chmod, mkdir, open, stat } from 'node:fs/promises';

/**
 * hostPath volumes: the `type` check kubelet makes before the path is handed to the runtime.
 * `hostPathAction` is the decision (kubelet's checkTypeInternal) given what is at the path;
 * `setUpHostPath` looks, decides and creates what the *OrCreate types ask for.
 */

/** What is at a path, following symlinks as kubelet's stat does; 'other' is a fifo or the like. */
export type FoundType = 'missing' | 'Directory' | 'File' | 'Socket' | 'CharDevice' | 'BlockDevice' | 'other';

export type HostPathAction = { kind: 'ok' } | { kind: 'mkdir' } | { kind: 'touch' } | { kind: 'error'; message: string };

/** The hostPath types the API knows, '' (no check) included. */
export const hostPathTypes = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'] as const;

/** Kubelet's checks, in its words. A missing path fails Directory/File/... as "is not a ...". */
export function hostPathAction(path: string, type: string | undefined, found: FoundType): HostPathAction {
  const fail = (what: string): HostPathAction => ({ kind: 'error', message: `hostPath type check failed: ${path} is not a ${what}` });
  switch (type ?? '') {
    case '':
      return { kind: 'ok' };
    case 'DirectoryOrCreate':
      if (found === 'missing') return { kind: 'mkdir' };
      return found === 'Directory' ? { kind: 'ok' } : fail('directory');
    case 'Directory':
      return found === 'Directory' ? { kind: 'ok' } : fail('directory');
    case 'FileOrCreate':
      if (found === 'missing') return { kind: 'touch' };
      return found === 'File' ? { kind: 'ok' } : fail('file');
    case 'File':
      return found === 'File' ? { kind: 'ok' } : fail('file');
    case 'Socket':
      return found === 'Socket' ? { kind: 'ok' } : fail('socket file');
    case 'CharDevice':
      return found === 'CharDevice' ? { kind: 'ok' } : fail('character device');
    case 'BlockDevice':
      return found === 'BlockDevice' ? { kind: 'ok' } : fail('block device');
    default:
      return { kind: 'error', message: `${type ?? ''} is an invalid volume type` };
  }
}

/** Kubelet's ValidatePathNoBacksteps, plus: the path must be absolute (a relative one would be relative to the agent's cwd). */
export function validateHostPath(path: string): string | undefined {
  if (!path.startsWith('/')) return `invalid HostPath \`${path}\`: must be an absolute path`;
  if (path.split('/').includes('..')) return `invalid HostPath \`${path}\`: must not contain '..'`;
  return undefined;
}

export async function foundType(path: string): Promise<FoundType> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 'missing';
  if (info.isDirectory()) return 'Directory';
  if (info.isFile()) return 'File';
  if (info.isSocket()) return 'Socket';
  if (info.isCharacterDevice()) return 'CharDevice';
  if (info.isBlockDevice()) return 'BlockDevice';
  return 'other';
}

const errnoText: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EACCES: 'permission denied',
  EEXIST: 'file exists',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
};

/** A Node fs error the way Go's os package prints it ("open /x/y: no such file or directory"). */
function goError(op: string, path: string, err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  const text = typeof code === 'string' ? errnoText[code] : undefined;
  return new Error(text ? `${op} ${path}: ${text}` : err instanceof Error ? err.message : String(err));
}

/**
 * Checks (and for the *OrCreate types creates) a hostPath. DirectoryOrCreate makes the directory
 * and its parents, 0755; FileOrCreate makes an empty 0644 file but not its parent directory, as
 * the Kubernetes docs say: a missing parent fails the pod. Throws with kubelet's message.
 */
export async function setUpHostPath(path: string, type: string | undefined): Promise<void> {
  const invalid = validateHostPath(path);
  if (invalid) throw new Error(invalid);
  if ((type ?? '') === '') return;
  const action = hostPathAction(path, type, await foundType(path));
  switch (action.kind) {
    case 'ok':
      return;
    case 'error':
      throw new Error(action.message);
    case 'mkdir':
      try {
        await mkdir(path, { recursive: true, mode: 0o755 });
        await chmod(path, 0o755);
      } catch (err) {
        throw goError('mkdir', path, err);
      }
      return;
    case 'touch':
      try {
        // O_CREAT without O_EXCL: someone creating it at the same moment is fine.
        const handle = await open(path, 'a', 0o644);
        await handle.close();
        await chmod(path, 0o644);
      } catch (err) {
        throw goError('open', path, err);
      }
      return;
  }
}
