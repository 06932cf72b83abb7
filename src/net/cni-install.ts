import { access, chmod, mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLUGIN_TYPE } from '../../cni/types.ts';
import type { PluginNetConf } from './pod-network.ts';

/**
 * Puts the plugin where any CNI caller finds it: an executable named after the plugin type in the
 * CNI bin directory and a conflist in the conf directory. containerd's CRI (a later backend) calls
 * these unchanged; the Docker backend runs the same code in-process.
 *
 * The executable is a small launcher that starts this checkout's plugin with the Node the agent
 * runs on. With the agent running, the plugin hands each call to it over the socket named in the
 * conflist (cni/forward.ts). Files are rewritten only when their content changes, and atomically (write + rename),
 * so a runtime reading them mid-update never sees half a file.
 */

export const CONFLIST_NAME = '10-node-agent.conflist';

const pluginMain = resolve(dirname(fileURLToPath(import.meta.url)), '../../cni/main.ts');

/**
 * Node's compile cache keeps the compiled (and type-stripped) plugin between execs: without it
 * every exec strips and compiles the TypeScript again, about half of its start-up here.
 */
export const COMPILE_CACHE_DIR = '/var/cache/node-agent/compile-cache';

export function launcherText(nodePath: string, mainPath: string): string {
  return [
    '#!/bin/sh',
    `# node-agent's CNI plugin (${PLUGIN_TYPE}); written by the agent at start.`,
    `NODE_COMPILE_CACHE='${COMPILE_CACHE_DIR}' exec '${nodePath}' '${mainPath}' "$@"`,
    '',
  ].join('\n');
}

/**
 * The conflist. `disableGC` (CNI spec 1.1, libcni) tells every runtime reading it not to call GC:
 * for a node where runtimes the agent does not know share this network (see network.disableGC).
 */
export function conflistText(conf: PluginNetConf, options: { disableGC?: boolean } = {}): string {
  const { cniVersion, name, ...plugin } = conf;
  return `${JSON.stringify({ cniVersion, name, ...(options.disableGC ? { disableGC: true } : {}), plugins: [plugin] }, null, 2)}\n`;
}

async function writeIfChanged(path: string, text: string, mode: number): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
  return true;
}

export async function installCni(
  dirs: { cniBin: string; cniConf: string },
  conf: PluginNetConf,
  options: { disableGC?: boolean } = {},
): Promise<{ plugin: string; conflist: string }> {
  const plugin = join(dirs.cniBin, PLUGIN_TYPE);
  const conflist = join(dirs.cniConf, CONFLIST_NAME);
  await writeIfChanged(plugin, launcherText(process.execPath, pluginMain), 0o755);
  await writeIfChanged(conflist, conflistText(conf, options), 0o644);
  return { plugin, conflist };
}

/** Where Debian's containernetworking-plugins puts the reference plugins. */
export const DEBIAN_CNI_DIR = '/usr/lib/cni';

/**
 * containerd's CRI plugin brings each pod's `lo` up through the reference `loopback` plugin, looked
 * up in its CNI bin directory, before it calls ours: without it every sandbox fails with
 * 'failed to find plugin "loopback"'. Debian installs the reference plugins in /usr/lib/cni, so
 * the agent links it in when it is missing there. Returns what it did, or the fix when it cannot.
 */
export async function ensureLoopbackPlugin(cniBin: string, source = join(DEBIAN_CNI_DIR, 'loopback')): Promise<{ linked: boolean; problem?: string }> {
  const target = join(cniBin, 'loopback');
  if (await access(target).then(() => true, () => false)) return { linked: false };
  if (!(await access(source).then(() => true, () => false))) {
    return { linked: false, problem: `containerd needs the loopback CNI plugin in ${cniBin} and there is none (nor at ${source}). Fix: apt-get install containernetworking-plugins` };
  }
  await mkdir(cniBin, { recursive: true });
  await symlink(source, target).catch((err: unknown) => {
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  });
  return { linked: true };
}
