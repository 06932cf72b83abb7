import { execa } from 'execa';
import { crictlCommand, crictlPath } from '../../src/lab/containerd.ts';
import type { Lab } from '../../src/lab/lab.ts';
import type { LabMachine } from '../../src/lab/topology.ts';

/**
 * What a test does to a node's runtime behind the agent's back, through that runtime's own
 * command-line client, never through the agent's code: the docker CLI for Docker, crictl for
 * containerd (each lab worker runs its own containerd). One interface, so every test runs on
 * both backends unchanged.
 */
export interface RuntimeCli {
  readonly kind: 'docker' | 'containerd';
  /** Ids of the worker's containers with these labels: running ones, or all with `all`. */
  containers(labels: Record<string, string>, options?: { all?: boolean }): Promise<string[]>;
  /** Ids of the worker's running (ready) pod sandboxes with these labels. */
  sandboxes(labels?: Record<string, string>): Promise<string[]>;
  exec(id: string, command: string[], options?: { reject?: boolean }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** The container's output, both streams. */
  logs(id: string): Promise<string>;
  /** SIGKILLs the container's process, as an OOM kill or a crash would. */
  kill(id: string): Promise<void>;
  /** The host pid of a container's or sandbox's process. */
  pid(id: string): Promise<number>;
  /** When the container's current run started (ms since the epoch). */
  startedAt(id: string): Promise<number>;
  labels(id: string): Promise<Record<string, string>>;
  /** Force-removes every sandbox and container of this owner (clean-up after an agent outside the lab). */
  removeAll(): Promise<void>;
}

let crictlBinary: Promise<string> | undefined;

/** crictl, built once by controlplane/crictl.sh (scripts/setup.sh does it before the tests). */
export function crictl(): Promise<string> {
  crictlBinary ??= crictlPath();
  return crictlBinary;
}

/** The runtimes every pod, probe and network test runs on; NODE_AGENT_TEST_RUNTIMES=docker narrows it. */
export const testRuntimes = (process.env['NODE_AGENT_TEST_RUNTIMES'] ?? 'docker,containerd').split(',').filter((r): r is 'docker' | 'containerd' => r === 'docker' || r === 'containerd');

/** crictl's --label k=v per label. */
function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

/** docker's --filter label=k=v per label. */
function labelFilters(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]);
}

/**
 * The CLI of a lab worker's runtime, seeing only what that worker's agent made (by its node and
 * root labels); `owner` names another agent using the same runtime (a standalone one in a test).
 */
export function runtimeCli(lab: Lab, workerName: string, owner?: { node: string; root: string }): RuntimeCli {
  const worker = lab.worker(workerName);
  const mine = { 'node-agent.node': owner?.node ?? worker.name, 'node-agent.root': owner?.root ?? lab.agentPaths(worker).root };
  return lab.runtime === 'containerd' ? crictlCli(worker, mine) : dockerCli(mine);
}

function dockerCli(mine: Record<string, string>): RuntimeCli {
  const docker = (args: string[], reject = true) => execa('docker', args, { reject });
  return {
    kind: 'docker',
    async containers(labels, options = {}) {
      const r = await docker(['ps', '-q', '--no-trunc', ...(options.all ? ['-a'] : []), ...labelFilters({ ...mine, ...labels, 'io.kubernetes.docker.type': 'container' })]);
      return r.stdout.split('\n').filter(Boolean);
    },
    async sandboxes(labels = {}) {
      const r = await docker(['ps', '-q', '--no-trunc', '--filter', 'status=running', ...labelFilters({ ...mine, ...labels, 'io.kubernetes.docker.type': 'podsandbox' })]);
      return r.stdout.split('\n').filter(Boolean);
    },
    async exec(id, command, options = {}) {
      const r = await execa('docker', ['exec', id, ...command], { reject: options.reject ?? true });
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
    async logs(id) {
      return (await execa('docker', ['logs', id], { reject: false, all: true })).all ?? '';
    },
    async kill(id) {
      await docker(['kill', '--signal', 'KILL', id]);
    },
    async pid(id) {
      return Number((await docker(['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim());
    },
    async startedAt(id) {
      return Date.parse((await docker(['inspect', '-f', '{{.State.StartedAt}}', id])).stdout.trim());
    },
    async labels(id) {
      return JSON.parse((await docker(['inspect', '-f', '{{json .Config.Labels}}', id])).stdout) as Record<string, string>;
    },
    async removeAll() {
      const ids = (await docker(['ps', '-aq', ...labelFilters(mine)])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(['rm', '-f', ...ids]);
    },
  };
}

/** crictl in the worker's network namespace, as on the worker VM (src/lab/containerd.ts). */
function crictlCli(worker: LabMachine, mine: Record<string, string>): RuntimeCli {
  const command = async (args: string[], options: { reject: boolean; all?: boolean }) => {
    const [file, argv] = await crictlCommand(worker, await crictl(), args);
    return execa(file, argv, options);
  };
  const run = (args: string[], reject = true) => command(args, { reject });
  const inspect = async (id: string) => JSON.parse((await run(['inspect', id])).stdout) as { status: { startedAt: string; labels: Record<string, string> }; info: { pid: number } };
  return {
    kind: 'containerd',
    async containers(labels, options = {}) {
      const r = await run(['ps', '-q', '--no-trunc', ...(options.all ? ['-a'] : ['--state', 'running']), ...labelArgs({ ...mine, ...labels })]);
      return r.stdout.split('\n').filter(Boolean);
    },
    async sandboxes(labels = {}) {
      const r = await run(['pods', '-q', '--no-trunc', '--state', 'ready', ...labelArgs({ ...mine, ...labels })]);
      return r.stdout.split('\n').filter(Boolean);
    },
    async exec(id, command, options = {}) {
      const r = await run(['exec', id, ...command], options.reject ?? true);
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
    async logs(id) {
      return (await command(['logs', id], { reject: false, all: true })).all ?? '';
    },
    async kill(id) {
      process.kill(await this.pid(id), 'SIGKILL');
    },
    async pid(id) {
      const r = await run(['inspect', id], false);
      if (r.exitCode === 0) return (JSON.parse(r.stdout) as { info: { pid: number } }).info.pid;
      return (JSON.parse((await run(['inspectp', id])).stdout) as { info: { pid: number } }).info.pid;
    },
    async startedAt(id) {
      return Date.parse((await inspect(id)).status.startedAt);
    },
    async labels(id) {
      return (await inspect(id)).status.labels;
    },
    async removeAll() {
      const pods = (await run(['pods', '-q', '--no-trunc', ...labelArgs(mine)])).stdout.split('\n').filter(Boolean);
      for (const id of pods) await run(['rmp', '--force', id], false);
    },
  };
}

/** The lines a container wrote, from its log file in the pod log directory, in either runtime's format. */
export function logFileLines(text: string): string[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      // Docker's json-file: {"log":"...\n","stream":"stdout","time":"..."}; CRI: "<time> <stream> <F|P> <text>".
      if (line.startsWith('{')) return (JSON.parse(line) as { log: string }).log.replace(/\n$/, '');
      return line.split(' ').slice(3).join(' ');
    });
}
