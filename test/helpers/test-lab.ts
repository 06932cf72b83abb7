import { randomBytes } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { cgroupHierarchies, podCgroupCandidates } from '../../src/pods/pod-cgroups.ts';
import { join } from 'node:path';
import { execa } from 'execa';
import { Lab, controlPlaneBinDir } from '../../src/lab/lab.ts';
import { defaultLabOptions, type LabMachine, type LabOptions } from '../../src/lab/topology.ts';
import { sleep } from '../../src/util/sleep.ts';

/**
 * A lab of the test's own: a unique prefix and host-only subnet, so it never meets the demo's lab
 * or another test's. Callers must `await lab.down()` in afterAll (it also cleans after a crash).
 */
export async function createTestLab(options: Partial<LabOptions> = {}): Promise<{ lab: Lab; binDir: string }> {
  const prefix = `t${randomBytes(3).toString('hex').slice(0, 5)}`;
  const used = (await execa('ip', ['-o', '-4', 'addr', 'show'])).stdout;
  let subnet = '';
  for (let i = 0; i < 100 && !subnet; i++) {
    const candidate = `192.168.${150 + Math.floor(Math.random() * 100)}`;
    if (!used.includes(` ${candidate}.`)) subnet = candidate;
  }
  const lab = new Lab({
    ...defaultLabOptions,
    prefix,
    subnet,
    workers: 1,
    stateDir: join(defaultLabOptions.stateDir, prefix),
    ...options,
  });
  const binDir = await controlPlaneBinDir();
  return { lab, binDir };
}

/** The real kubectl, as the lab's admin. */
export async function kubectl(lab: Lab, args: string[], options: { reject?: boolean; input?: string } = {}) {
  return execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, ...args], { reject: options.reject ?? true, ...(options.input !== undefined ? { input: options.input } : {}) });
}

export async function kubectlJson<T = any>(lab: Lab, args: string[]): Promise<T> {
  const { stdout } = await kubectl(lab, [...args, '-o', 'json']);
  return JSON.parse(stdout) as T;
}

/** Polls until `check` returns a value that is not undefined/false, or fails with what was last seen. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

export function condition(node: any, type: string): { status: string; reason: string; message: string } | undefined {
  return node?.status?.conditions?.find((c: { type: string }) => c.type === type);
}

/** kubectl apply -f - with a manifest given as an object or a list of objects. */
export async function apply(lab: Lab, ...objects: object[]): Promise<void> {
  await execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, 'apply', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n') });
}

export async function getPod(lab: Lab, name: string, namespace = 'default'): Promise<any> {
  return kubectlJson(lab, ['get', 'pod', '-n', namespace, name]);
}

/** Events of one object, oldest first, as "Reason: message". */
export async function eventsOf(lab: Lab, name: string, namespace = 'default'): Promise<string[]> {
  const list = await kubectlJson(lab, ['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${name}`]);
  return list.items
    .sort((a: any, b: any) => Date.parse(a.firstTimestamp ?? a.eventTime) - Date.parse(b.firstTimestamp ?? b.eventTime))
    .map((e: any) => `${e.reason}: ${e.message}`);
}

/** A pod manifest pinned to a node, busybox by default. */
export function podManifest(name: string, node: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): object {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, ...metadata }, spec: { nodeName: node, terminationGracePeriodSeconds: 5, ...spec } };
}

/**
 * What a lab left behind after `down`: Docker containers of its agents, processes that name its
 * directory (containerd, shims, agents) and mounts under it. Empty when down did its job.
 */
export async function labLeftovers(lab: Lab, podUids: string[] = []): Promise<string[]> {
  const stateDir = lab.topology.options.stateDir;
  const left: string[] = [];
  for (const uid of podUids) for (const dir of await podCgroupDirs(uid)) left.push(`cgroup ${dir}`);
  const containers = await execa('docker', ['ps', '-a', '--filter', 'label=node-agent.managed=true', '--format', '{{.ID}} {{.Label "node-agent.root"}}']);
  for (const line of containers.stdout.split('\n')) if (line.split(' ')[1]?.startsWith(`${stateDir}/`)) left.push(`docker container ${line}`);
  const processes = await execa('pgrep', ['-af', `${stateDir}/`], { reject: false });
  for (const line of processes.stdout.split('\n').filter(Boolean)) left.push(`process ${line}`);
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) if (line.includes(`${stateDir}/`)) left.push(`mount ${line.split(' ')[4] ?? line}`);
  return left;
}

/** The cgroup directories of a pod that still exist, in any hierarchy (cgroup v1 or v2). */
export async function podCgroupDirs(uid: string): Promise<string[]> {
  const found: string[] = [];
  for (const h of await cgroupHierarchies()) {
    for (const rel of podCgroupCandidates(uid)) {
      const dir = join(h, rel);
      if (await access(dir).then(() => true, () => false)) found.push(dir);
    }
  }
  return found;
}

/** `node-agent report` run on a worker, beside its agent (in its network namespace, with its config), as an operator would. */
export async function nodeReport(lab: Lab, worker: LabMachine, format: 'text' | 'json' = 'text') {
  const [file, args] = lab.agentCommand(worker, 'report', format === 'json' ? ['-o', 'json'] : []);
  return execa(file, args, { reject: false });
}
