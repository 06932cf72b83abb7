import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import { CriClient } from '../runtime/cri/cri-client.ts';
import { spawnInNetns, stopProcess, waitFor } from './daemon.ts';
import { run } from './exec.ts';
import { processAlive } from './netns.ts';
import type { LabMachine } from './topology.ts';

/**
 * One containerd per lab worker, as each Vagrant worker VM runs its own: started in the worker's
 * network namespace (so the CNI plugin it execs wires pods into that worker's bridge), with the
 * project's containerd configuration (systemd/containerd-config.toml) rendered for paths under
 * the worker's directory, and the local images imported into it (there is no registry).
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CONTAINERD_CONFIG_TEMPLATE = join(repoRoot, 'systemd/containerd-config.toml');
export const LAB_IMAGES = ['localhost/pause:1', 'localhost/busybox:1', 'localhost/grpc-health:1'];
const SYSTEM_SOCKET = '/run/containerd/containerd.sock';

export interface ContainerdPaths {
  root: string;
  state: string;
  socket: string;
  config: string;
  log: string;
  /** crictl's settings for this containerd (runtime and image endpoint). */
  crictlConfig: string;
}

export function containerdPaths(worker: LabMachine): ContainerdPaths {
  const dir = join(worker.dir, 'containerd');
  return { root: join(dir, 'root'), state: join(dir, 'state'), socket: join(dir, 'containerd.sock'), config: join(dir, 'config.toml'), log: join(dir, 'containerd.log'), crictlConfig: join(dir, 'crictl.yaml') };
}

/**
 * The command line that runs crictl against a worker's containerd, as on the worker VM: in the
 * worker's network namespace (exec, attach and logs go through containerd's streaming server,
 * which listens on the worker's loopback), with a config file naming the socket (without one
 * crictl warns on every call, into its output).
 */
export async function crictlCommand(worker: LabMachine, crictl: string, args: string[]): Promise<[string, string[]]> {
  const paths = containerdPaths(worker);
  await writeFile(paths.crictlConfig, `runtime-endpoint: unix://${paths.socket}\nimage-endpoint: unix://${paths.socket}\ntimeout: 20\n`);
  return ['nsenter', [`--net=/run/netns/${worker.netns}`, crictl, '--config', paths.crictlConfig, ...args]];
}

/** crictl, built by controlplane/crictl.sh (scripts/setup.sh does it); its path. */
export async function crictlPath(): Promise<string> {
  return (await execa('bash', [join(repoRoot, 'controlplane/crictl.sh')], { stderr: 'inherit' })).stdout.trim();
}

export interface ContainerdSettings {
  root: string;
  state: string;
  address: string;
  cniBin: string;
  cniConf: string;
  restrictOomScoreAdj: boolean;
}

/** The template with its @NAME@ fields filled in; an unknown or unfilled field is an error. Pure. */
export function renderContainerdConfig(template: string, s: ContainerdSettings): string {
  const values: Record<string, string> = {
    ROOT: s.root,
    STATE: s.state,
    ADDRESS: s.address,
    CNI_BIN: s.cniBin,
    CNI_CONF: s.cniConf,
    RESTRICT_OOM_SCORE_ADJ: String(s.restrictOomScoreAdj),
  };
  return template.replace(/@([A-Z_]+)@/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`containerd config template: unknown field @${name}@`);
    if (/["\\\n]/.test(value)) throw new Error(`containerd config: ${name} "${value}" cannot go into a TOML string`);
    return value;
  });
}

/** Whether this machine lets a process lower its oom_score_adj (runc does it for containers). */
export async function canLowerOomScoreAdj(): Promise<boolean> {
  const r = await execa('sh', ['-c', 'echo -1 > /proc/self/oom_score_adj'], { reject: false });
  return r.exitCode === 0;
}

/**
 * The three local images as one tar, exported from the machine's containerd (where
 * images/build.sh imported them), cached by their image ids so that labs after the first reuse it.
 */
export async function labImagesTar(cacheDir = '/var/cache/node-agent/images'): Promise<string> {
  const ids: string[] = [];
  for (const image of LAB_IMAGES) {
    const out = await run('ctr', ['--address', SYSTEM_SOCKET, '--connect-timeout', '5s', '-n', 'k8s.io', 'images', 'ls', `name==${image}`]);
    const line = out.split('\n')[1];
    if (!line) throw new Error(`image ${image} is not in containerd's k8s.io namespace; run bash images/build.sh`);
    ids.push(line.split(/\s+/).slice(0, 3).join(' '));
  }
  const key = createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 16);
  const tar = join(cacheDir, `lab-images-${key}.tar`);
  if (await access(tar).then(() => true, () => false)) return tar;
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${tar}.tmp-${process.pid}`;
  await run('ctr', ['--address', SYSTEM_SOCKET, '-n', 'k8s.io', 'images', 'export', tmp, ...LAB_IMAGES]);
  await rename(tmp, tar);
  return tar;
}

/** Renders the configuration and starts containerd in the worker's namespace; returns its pid once CRI answers. */
export async function startContainerd(worker: LabMachine, dirs: { cniBin: string; cniConf: string }): Promise<number> {
  const paths = containerdPaths(worker);
  await mkdir(paths.root, { recursive: true });
  await mkdir(paths.state, { recursive: true });
  await mkdir(dirs.cniConf, { recursive: true });
  const template = await readFile(CONTAINERD_CONFIG_TEMPLATE, 'utf8');
  const config = renderContainerdConfig(template, {
    root: paths.root,
    state: paths.state,
    address: paths.socket,
    cniBin: dirs.cniBin,
    cniConf: dirs.cniConf,
    restrictOomScoreAdj: !(await canLowerOomScoreAdj()),
  });
  await writeFile(paths.config, config);
  const pid = spawnInNetns(worker.netns, 'containerd', ['--config', paths.config], paths.log);
  const client = new CriClient({ endpoint: `unix://${paths.socket}`, timeoutMs: 2000 });
  try {
    await waitFor(`containerd of ${worker.name} (log: ${paths.log})`, 30_000, async () => {
      if (!(await processAlive(pid))) throw new Error(`containerd exited; see ${paths.log}`);
      await client.runtime('Version', { version: 'v1' });
      return true;
    });
  } finally {
    client.close();
  }
  return pid;
}

export async function importLabImages(worker: LabMachine, tar: string): Promise<void> {
  await run('ctr', ['--address', containerdPaths(worker).socket, '--connect-timeout', '5s', '-n', 'k8s.io', 'images', 'import', tar]);
}

/**
 * Everything a worker's containerd runs, removed through CRI while it answers (sandboxes stop,
 * CNI DEL runs, containers go), then containerd stopped, then whatever outlived it (a shim keeps
 * its containers running when containerd dies) killed through runc's own state. Returns the uids
 * of the pods it removed, whose cgroups the caller removes (the agent would have, were it up).
 */
export async function stopContainerd(worker: LabMachine, pid: number | undefined): Promise<string[]> {
  const paths = containerdPaths(worker);
  const client = new CriClient({ endpoint: `unix://${paths.socket}`, timeoutMs: 10_000 });
  const podUids: string[] = [];
  try {
    const { items } = await client.runtime('ListPodSandbox', {});
    for (const s of items) if (s.metadata?.uid) podUids.push(s.metadata.uid);
    await Promise.all(items.map(async (s) => {
      await client.runtime('StopPodSandbox', { podSandboxId: s.id }).catch(() => undefined);
      await client.runtime('RemovePodSandbox', { podSandboxId: s.id }).catch(() => undefined);
    }));
  } catch {
    // not running: the sweep below finds what is left
  } finally {
    client.close();
  }
  if (pid !== undefined) await stopProcess(pid, 10_000);
  await sweepRunc(join(paths.state, 'runc', 'k8s.io'));
  await killShims(paths.socket);
  return podUids;
}

/** Kills and deletes every container runc still knows under `root`. */
async function sweepRunc(root: string): Promise<void> {
  if (!(await access(root).then(() => true, () => false))) return;
  const list = await execa('runc', ['--root', root, 'list', '-q'], { reject: false });
  for (const id of list.stdout.split('\n').filter(Boolean)) {
    await execa('runc', ['--root', root, 'kill', '--all', id, 'KILL'], { reject: false });
    await execa('runc', ['--root', root, 'delete', '--force', id], { reject: false });
  }
}

/** Shims of this containerd (they name its socket in their command line). */
async function killShims(socket: string): Promise<void> {
  const out = await execa('pgrep', ['-f', `containerd-shim-runc-v2 .*-address ${socket}`], { reject: false });
  for (const pid of out.stdout.split('\n').map(Number).filter((n) => n > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
