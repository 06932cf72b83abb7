import { lstat, mkdir, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The kubelet's legacy log links: /var/log/containers/<pod>_<namespace>_<container>-<id>.log,
 * each pointing at the container's log under /var/log/pods, where log shippers (fluent-bit,
 * promtail, the Elastic agent) look and read the pod, namespace and container from the name.
 * Made once a container has started; a link whose log is gone (the container was removed, with
 * its sandbox or by itself) is swept, as the kubelet's container GC does.
 */

const SUFFIX = '.log';

/**
 * Pure: the link's file name, or undefined for a name that could leave the directory. Names come
 * from the pod spec and are validated as DNS names before any pod runs; this is the last check.
 */
export function logLinkName(pod: string, namespace: string, container: string, containerId: string): string | undefined {
  const parts = [pod, namespace, container, containerId];
  if (parts.some((p) => p === '' || p.includes('/') || p.includes('\0') || p === '.' || p === '..')) return undefined;
  return `${pod}_${namespace}_${container}-${containerId}${SUFFIX}`;
}

export class ContainerLogLinks {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Points the container's link at its log; an old link of that name is replaced atomically. */
  async link(pod: string, namespace: string, container: string, containerId: string, logPath: string): Promise<void> {
    const name = logLinkName(pod, namespace, container, containerId);
    if (!name) throw new Error(`no log link for ${JSON.stringify([pod, namespace, container])}: a name would leave ${this.dir}`);
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const tmp = join(this.dir, `.${name}.tmp-${process.pid}`);
    await rm(tmp, { force: true });
    await symlink(logPath, tmp);
    await rename(tmp, join(this.dir, name));
  }

  /** Removes the container's link, if there is one. */
  async unlink(pod: string, namespace: string, container: string, containerId: string): Promise<void> {
    const name = logLinkName(pod, namespace, container, containerId);
    if (name) await rm(join(this.dir, name), { force: true });
  }

  /** Removes links whose log no longer exists; returns how many. Only symlinks named *.log are looked at. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!name.endsWith(SUFFIX)) continue;
      const path = join(this.dir, name);
      const entry = await lstat(path).catch(() => undefined);
      if (!entry?.isSymbolicLink()) continue;
      // stat follows the link (and the pod log's own link, for Docker's json file): gone means dangling.
      if (await stat(path).then(() => true, () => false)) continue;
      await rm(path, { force: true });
      removed++;
    }
    return removed;
  }
}
