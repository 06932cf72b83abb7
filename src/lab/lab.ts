import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { execa } from 'execa';
import {
  controlPlanePaths,
  prepareControlPlane,
  startControlPlane,
  startComponent,
  stopComponent,
  waitForApiserver,
  apiserverGet,
  type ControlPlaneComponent,
  type ControlPlaneOptions,
} from './controlplane.ts';
import { spawnInNetns, stopProcess } from './daemon.ts';
import { writeKubeconfig } from './kubeconfig-file.ts';
import { deleteLink, deleteNetns, ensureBridge, ensureMachineNetns, netnsPids, processAlive } from './netns.ts';
import { Pki } from './pki.ts';
import { labTopology, type LabMachine, type LabOptions, type LabTopology } from './topology.ts';
import { run } from './exec.ts';
import { mountsBelow, readMountInfo, unmount } from '../volumes/mounts.ts';
import { containerdPaths, importLabImages, labImagesTar, startContainerd, stopContainerd } from './containerd.ts';
import { removePodCgroups } from '../pods/pod-cgroups.ts';
import { killAndRestartDockerd, killContainerdTree } from './kill-runtime.ts';
import { whatIsMissing } from './cluster-usable.ts';
import { pathExists } from '../util/path-exists.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** What `up` started, so `down` and `status` can find it again from another process. */
interface LabState {
  options: LabOptions;
  components: Partial<Record<ControlPlaneComponent, number>>;
  agents: Record<string, number>;
  /** Per worker, the pid of its containerd (runtime containerd only). */
  runtimes?: Record<string, number>;
}

export interface LabLog {
  (line: string): void;
}

/**
 * The lab: the Vagrant topology simulated with one network namespace per VM, a real control
 * plane in its namespace and one node-agent per worker in its own. Every method can be called
 * from a fresh process: the state lives in `<stateDir>/lab.json`, and `down` also sweeps by
 * name, so it works after a crash and twice in a row.
 */
export class Lab {
  readonly topology: LabTopology;
  readonly pki: Pki;
  private readonly log: LabLog;
  /** Extra agent settings merged into each worker's config (tests use this). */
  agentSettings: Record<string, unknown> = {};
  nodeMonitorGracePeriod = '20s';

  constructor(options: LabOptions, log: LabLog = () => {}) {
    this.topology = labTopology(options);
    this.pki = new Pki(join(options.stateDir, 'pki'));
    this.log = log;
  }

  get statePath(): string {
    return join(this.topology.options.stateDir, 'lab.json');
  }

  get adminKubeconfig(): string {
    return controlPlanePaths(this.topology).admin;
  }

  async up(binDir: string): Promise<void> {
    const { topology } = this;
    const existing = await this.readState();
    if (existing && (await this.anythingAlive(existing))) {
      throw new Error(`a lab with prefix "${topology.options.prefix}" is already up; run \`npm run lab -- down\` first`);
    }
    await this.down();
    await mkdir(topology.options.stateDir, { recursive: true });
    const state: LabState = { options: topology.options, components: {}, agents: {}, runtimes: {} };
    await this.writeState(state);

    this.log(`network: bridge ${topology.bridge} ${topology.hostIP}/24, ${topology.workers.length + 1} VMs`);
    await ensureBridge(topology.bridge, `${topology.hostIP}/${topology.prefixLength}`);
    for (const machine of [topology.controlPlane, ...topology.workers]) {
      await ensureMachineNetns({ netns: machine.netns, hostLink: machine.hostLink, vmLink: machine.vmLink, address: `${machine.ip}/${topology.prefixLength}`, gateway: topology.hostIP, bridge: topology.bridge });
      await mkdir(machine.dir, { recursive: true });
    }

    this.log(`control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler at ${topology.apiserverURL}`);
    const cp = this.controlPlaneOptions(binDir);
    await prepareControlPlane(cp);
    await startControlPlane(cp, (component, pid) => {
      state.components[component] = pid;
    });
    await this.writeState(state);
    await this.applyClusterRbac();

    if (topology.options.runtime === 'containerd') {
      const tar = await labImagesTar();
      this.log(`containerd: one per worker, images from ${tar}`);
      const runtimes: Record<string, number> = {};
      await Promise.all(topology.workers.map(async (worker) => {
        runtimes[worker.name] = await this.startWorkerContainerd(worker);
        await importLabImages(worker, tar);
      }));
      state.runtimes = runtimes;
      await this.writeState(state);
    }

    for (const worker of topology.workers) {
      await this.prepareWorker(worker);
      state.agents[worker.name] = this.spawnAgent(worker);
      this.log(`${worker.name}: ${worker.ip}, node-agent pid ${state.agents[worker.name]}`);
    }
    await this.writeState(state);
    await this.waitUsable();
  }

  /** Waits until whatIsMissing says nothing; on timeout, says what is missing and where to look. */
  async waitUsable(timeoutMs = 120_000): Promise<void> {
    const { topology } = this;
    const workers = topology.workers.map((w) => w.name);
    const deadline = Date.now() + timeoutMs;
    let missing: string[] = ['nothing read from the apiserver yet'];
    while (Date.now() < deadline) {
      try {
        const nodes = await apiserverGet(this, '/api/v1/nodes');
        const sa = await apiserverGet(this, '/api/v1/namespaces/default/serviceaccounts/default');
        missing = whatIsMissing(workers, nodes.status === 200 ? (JSON.parse(nodes.body) as { items?: [] }).items ?? [] : [], sa.status === 200);
      } catch (err) {
        missing = [`the apiserver does not answer: ${err instanceof Error ? err.message : String(err)}`];
      }
      if (missing.length === 0) {
        this.log(`ready: ${workers.join(', ')} Ready with pod CIDRs; the default ServiceAccount exists`);
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const logs = topology.workers.map((w) => this.agentPaths(w).log).join(', ');
    throw new Error(`the lab is up but not usable after ${timeoutMs / 1000} s: ${missing.join('; ')}. The agents' logs: ${logs}`);
  }

  /** The agents' own RBAC (reading all Nodes for peer routes); retried while RBAC bootstraps. */
  private async applyClusterRbac(): Promise<void> {
    const manifest = join(repoRoot, 'controlplane/rbac/node-agent.yaml');
    let last = '';
    for (let attempt = 0; attempt < 30; attempt++) {
      const result = await execa('kubectl', ['--kubeconfig', this.adminKubeconfig, 'apply', '-f', manifest], { reject: false });
      if (result.exitCode === 0) return;
      last = result.stderr;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`applying ${manifest} failed: ${last}`);
  }

  /** Stops everything the lab made; safe to call when nothing is up, twice, or after a crash. */
  async down(): Promise<void> {
    const { topology } = this;
    const state = await this.readState();
    // Agents first, so they do not report a control plane going away as an incident.
    await Promise.all(Object.values(state?.agents ?? {}).map((pid) => stopProcess(pid, 5000)));
    // Each worker's containerd takes its pods down with it (CRI while it answers, runc after).
    // The agents are stopped, so the pods' cgroups are this method's to remove.
    const podUids = new Set<string>();
    await Promise.all(topology.workers.map(async (w) => {
      if (await pathExists(containerdPaths(w).config)) for (const uid of await stopContainerd(w, state?.runtimes?.[w.name])) podUids.add(uid);
    }));
    // Then whatever else runs in the lab's namespaces (found by namespace, so this works after a
    // crash that lost the state file), all at once.
    const namespaces = await this.labNamespaces();
    const pids = new Set<number>(Object.values(state?.components ?? {}));
    for (const ns of namespaces) for (const pid of await netnsPids(ns)) pids.add(pid);
    await Promise.all([...pids].map((pid) => stopProcess(pid, 10_000)));
    for (const ns of namespaces) await deleteNetns(ns);
    // The pods of the lab's agents (agents leave pods running when they stop, as kubelets do),
    // then the volume mounts those pods had.
    const ours = await run('docker', ['ps', '-a', '--filter', 'label=node-agent.managed=true', '--format', '{{.ID}} {{.Label "node-agent.root"}} {{.Label "io.kubernetes.pod.uid"}}'], { reject: false });
    const labs = ours.split('\n').map((l) => l.split(' ')).filter(([, root]) => root?.startsWith(`${topology.options.stateDir}/`));
    const ids = labs.map(([id]) => id ?? '');
    for (const [, , uid] of labs) if (uid) podUids.add(uid);
    // In batches: one `docker rm -f` of a few hundred IDs at once is the load that wedged
    // dockerd 20.10 here.
    for (let i = 0; i < ids.length; i += 20) await run('docker', ['rm', '-f', ...ids.slice(i, i + 20)], { reject: false });
    // Pods the agents had removed but whose cgroups they had not yet (stopped in between) are
    // gone from the runtime: their log directories, <namespace>_<name>_<uid>, still name them.
    for (const w of topology.workers) {
      for (const dir of await readdir(this.agentPaths(w).podLogs).catch(() => [] as string[])) {
        const uid = dir.split('_').at(-1);
        if (uid) podUids.add(uid);
      }
    }
    for (const uid of podUids) await removePodCgroups(uid);
    for (const m of mountsBelow(await readMountInfo(), topology.options.stateDir)) await unmount(m.mountPoint).catch(() => undefined);
    for (const link of await this.labLinks()) await deleteLink(link);
    await rm(topology.options.stateDir, { recursive: true, force: true });
  }

  async status(): Promise<string[]> {
    const state = await this.readState();
    if (!state) return [`no lab with prefix "${this.topology.options.prefix}" is up`];
    const lines: string[] = [];
    for (const [component, pid] of Object.entries(state.components)) {
      lines.push(`${component.padEnd(24)} ${(await processAlive(pid)) ? `running (pid ${pid})` : 'stopped'}`);
    }
    for (const [worker, pid] of Object.entries(state.runtimes ?? {})) {
      lines.push(`${`containerd ${worker}`.padEnd(24)} ${(await processAlive(pid)) ? `running (pid ${pid})` : 'stopped'}`);
    }
    for (const [worker, pid] of Object.entries(state.agents)) {
      lines.push(`${`node-agent ${worker}`.padEnd(24)} ${(await processAlive(pid)) ? `running (pid ${pid})` : 'stopped'}`);
    }
    try {
      const nodes = await apiserverGet(this, '/api/v1/nodes');
      const list = JSON.parse(nodes.body) as { items?: { metadata: { name: string }; spec?: { podCIDR?: string }; status?: { conditions?: { type: string; status: string }[] } }[] };
      for (const node of list.items ?? []) {
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
        lines.push(`node ${node.metadata.name.padEnd(19)} Ready=${ready} podCIDR=${node.spec?.podCIDR ?? '<none>'}`);
      }
    } catch (err) {
      lines.push(`apiserver: not answering (${String(err)})`);
    }
    lines.push(`kubeconfig: ${this.adminKubeconfig}`);
    return lines;
  }

  /** Stops one worker's agent: SIGKILL simulates a crash, SIGTERM a clean stop. */
  async stopAgent(workerName: string, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const state = await this.requireState();
    const pid = state.agents[this.worker(workerName).name];
    if (pid === undefined) return;
    if (signal === 'SIGKILL') {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    } else {
      await stopProcess(pid, 10_000);
    }
    delete state.agents[workerName];
    await this.writeState(state);
  }

  async startAgent(workerName: string): Promise<number> {
    const state = await this.requireState();
    const worker = this.worker(workerName);
    const current = state.agents[worker.name];
    if (current !== undefined && (await processAlive(current))) return current;
    // An existing config is kept: tests (and operators) may have changed it on purpose.
    if (!(await pathExists(this.agentPaths(worker).config))) await this.prepareWorker(worker);
    const pid = this.spawnAgent(worker);
    state.agents[worker.name] = pid;
    await this.writeState(state);
    return pid;
  }

  /** The lab's runtime: "docker" (the machine's dockerd) or "containerd" (one per worker). */
  get runtime(): 'docker' | 'containerd' {
    return this.topology.options.runtime;
  }

  /** The CRI endpoint of a worker's containerd (runtime containerd). */
  containerdSocket(workerName: string): string {
    return containerdPaths(this.worker(workerName)).socket;
  }

  private async startWorkerContainerd(worker: LabMachine): Promise<number> {
    return startContainerd(worker, { cniBin: '/opt/cni/bin', cniConf: this.agentPaths(worker).cniConf });
  }

  /**
   * Stops one worker's containerd (SIGTERM: its shims and containers keep running, as when
   * systemd restarts containerd), waits `downtimeMs`, and starts it again.
   */
  async restartContainerd(workerName: string, downtimeMs = 0, during?: () => Promise<void>): Promise<void> {
    const state = await this.requireState();
    const worker = this.worker(workerName);
    const pid = state.runtimes?.[worker.name];
    if (pid !== undefined) await stopProcess(pid, 10_000);
    if (during) await during();
    if (downtimeMs > 0) await new Promise((r) => setTimeout(r, downtimeMs));
    (state.runtimes ??= {})[worker.name] = await this.startWorkerContainerd(worker);
    await this.writeState(state);
  }

  /**
   * Kills a worker's runtime outright with every container it runs, and starts it again. containerd: the worker's own, with its shims and containers. Docker: the
   * machine's dockerd, which every worker of a Docker lab shares (its restart stops all their
   * containers). Returns how many container processes died with containerd (0 for Docker, whose
   * restart stops them).
   */
  async killRuntime(workerName: string): Promise<number> {
    const worker = this.worker(workerName);
    if (this.runtime === 'docker') {
      await killAndRestartDockerd();
      return 0;
    }
    const state = await this.requireState();
    const pid = state.runtimes?.[worker.name];
    if (pid === undefined) throw new Error(`no containerd runs for ${workerName}`);
    const killed = await killContainerdTree(pid, containerdPaths(worker).socket);
    (state.runtimes ??= {})[worker.name] = await this.startWorkerContainerd(worker);
    await this.writeState(state);
    return killed;
  }

  /** Restarts one control-plane component (tests use it to make the apiserver go away and come back). */
  async restartComponent(component: ControlPlaneComponent, binDir: string, downtimeMs = 0, during?: () => Promise<void>): Promise<void> {
    const state = await this.requireState();
    const pid = state.components[component];
    if (pid !== undefined) await stopComponent(pid);
    if (during) await during();
    if (downtimeMs > 0) await new Promise((r) => setTimeout(r, downtimeMs));
    const cp = this.controlPlaneOptions(binDir);
    const next = startComponent(component, cp);
    state.components[component] = next;
    await this.writeState(state);
    if (component === 'kube-apiserver') await waitForApiserver(cp, next);
  }

  /** The pid of the agent the lab started for this worker. */
  async agentPidOf(workerName: string): Promise<number> {
    const pid = (await this.readState())?.agents[workerName];
    if (pid === undefined) throw new Error(`no agent runs for ${workerName}`);
    return pid;
  }

  /** Whether the agent the lab started for this worker still runs. */
  async agentAlive(workerName: string): Promise<boolean> {
    const pid = (await this.readState())?.agents[workerName];
    return pid !== undefined && (await processAlive(pid));
  }

  worker(name: string): LabMachine {
    const worker = this.topology.workers.find((w) => w.name === name);
    if (!worker) throw new Error(`no worker "${name}" in this lab (workers: ${this.topology.workers.map((w) => w.name).join(', ')})`);
    return worker;
  }

  /**
   * Where a worker's agent finds its files. The configuration is where scripts/install.sh puts it
   * on a VM, under the worker's directory as the install's root (prepareWorker); the state
   * directories are the lab's own, per worker.
   */
  agentPaths(worker: LabMachine) {
    return {
      config: join(worker.dir, 'etc/node-agent/config.yaml'),
      kubeconfig: join(worker.dir, 'etc/node-agent/kubeconfig'),
      /** What the install reads (--from), as `vm-files` writes it for a VM. */
      installFrom: join(worker.dir, 'install-from'),
      /** The agent as the install lays it out: <root>/opt/node-agent, a link to this checkout. */
      agentBin: join(worker.dir, 'opt/node-agent/bin/node-agent'),
      log: join(worker.dir, 'agent.log'),
      root: join(worker.dir, 'root'),
      cniConf: join(worker.dir, 'cni-conf'),
      podLogs: join(worker.dir, 'pod-logs'),
      containerLogs: join(worker.dir, 'containers'),
    };
  }

  /** The file a worker's kernel monitor reads as its /dev/kmsg; tests append kernel lines to it. */
  kmsgPath(worker: LabMachine): string {
    return join(worker.dir, 'kmsg');
  }

  /**
   * The node's identity (system:node:<name> in system:nodes, what the Node authorizer expects) and
   * config, installed by scripts/install.sh as on a Vagrant worker: the files go to an --from
   * directory, and the script, run in the worker's namespace with the worker's directory as its
   * root (`--no-systemd`: the lab starts the agent), installs the configuration, the kernel settings
   * and the CNI plugin. About a second per worker; run again, it changes only what changed.
   */
  async prepareWorker(worker: LabMachine, overrides: Record<string, unknown> = {}): Promise<void> {
    const paths = this.agentPaths(worker);
    const from = paths.installFrom;
    const installed = dirname(paths.config);
    await mkdir(from, { recursive: true, mode: 0o700 });
    const certName = `node-${worker.name}`;
    await this.pki.ensureClient({ name: certName, commonName: `system:node:${worker.name}`, organizations: ['system:nodes'] });
    await writeKubeconfig(join(from, 'kubeconfig'), { server: this.topology.apiserverURL, caFile: this.pki.caCert, certFile: this.pki.cert(certName), keyFile: this.pki.key(certName), user: `system:node:${worker.name}` });
    // The kubelet API's serving certificate from the cluster CA, for the node IP: the apiserver
    // checks it (--kubelet-certificate-authority) when it proxies kubectl logs to the node.
    const servingName = `kubelet-${worker.name}`;
    await this.pki.ensureServing(servingName, worker.name, [worker.ip], [worker.name]);
    await copyFile(this.pki.cert(servingName), join(from, 'kubelet.crt'));
    await copyFile(this.pki.key(servingName), join(from, 'kubelet.key'));
    await copyFile(this.pki.caCert, join(from, 'ca.crt'));
    const config = {
      nodeName: worker.name,
      nodeIP: worker.ip,
      hostname: worker.name,
      kubeconfig: paths.kubeconfig,
      clusterCIDR: this.topology.options.clusterCIDR,
      runtime: this.runtime === 'containerd' ? { type: 'containerd', endpoint: `unix://${containerdPaths(worker).socket}` } : { type: 'docker' },
      network: { mode: this.topology.options.network },
      // Each node's kernel log is its own file of kmsg lines: the machines of the lab share one
      // kernel, and a line meant for one node must not show on all of them (kmsgPath()).
      problemDetector: { kernelMonitor: { logPath: this.kmsgPath(worker) } },
      tlsCertFile: join(installed, 'pki/kubelet.crt'),
      tlsPrivateKeyFile: join(installed, 'pki/kubelet.key'),
      authentication: { x509: { clientCAFile: join(installed, 'pki/ca.crt') } },
      directories: {
        root: paths.root,
        logs: paths.podLogs,
        containerLogs: paths.containerLogs,
        manifests: join(worker.dir, 'manifests'),
        cniBin: '/opt/cni/bin',
        cniConf: paths.cniConf,
      },
      ...this.agentSettings,
      ...overrides,
    };
    await writeFile(this.kmsgPath(worker), '', { flag: 'a' });
    await writeFile(join(from, 'config.yaml'), yaml.dump(config));
    const install = await execa('nsenter', [`--net=/run/netns/${worker.netns}`, 'bash', join(repoRoot, 'scripts/install.sh'), '--from', from, '--root', worker.dir, '--no-systemd', '--link-agent'], { reject: false, all: true });
    if (install.exitCode !== 0) throw new Error(`${worker.name}: scripts/install.sh failed (exit ${install.exitCode}):\n${install.all}`);
  }

  /** A node-agent command (report, check) as an operator runs it on that worker: in its namespace, with its config. */
  agentCommand(worker: LabMachine, command: string, args: string[] = []): [string, string[]] {
    return ['ip', ['netns', 'exec', worker.netns, join(repoRoot, 'bin/node-agent'), command, '--config', this.agentPaths(worker).config, ...args]];
  }

  private spawnAgent(worker: LabMachine): number {
    // What the unit runs on a VM: the installed agent (bin/node-agent execs Node, so the pid stays).
    return spawnInNetns(worker.netns, this.agentPaths(worker).agentBin, ['run', '--config', this.agentPaths(worker).config], this.agentPaths(worker).log);
  }

  private controlPlaneOptions(binDir: string): ControlPlaneOptions {
    return { topology: this.topology, pki: this.pki, binDir, nodeMonitorGracePeriod: this.nodeMonitorGracePeriod };
  }

  private async anythingAlive(state: LabState): Promise<boolean> {
    for (const pid of [...Object.values(state.components), ...Object.values(state.agents), ...Object.values(state.runtimes ?? {})]) {
      if (await processAlive(pid)) return true;
    }
    return false;
  }

  private async labNamespaces(): Promise<string[]> {
    const out = await run('ip', ['netns', 'list'], { reject: false });
    const prefix = `${this.topology.options.prefix}-`;
    return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix));
  }

  private async labLinks(): Promise<string[]> {
    const out = await run('ip', ['-o', 'link', 'show'], { reject: false });
    const prefix = `${this.topology.options.prefix}-`;
    return out
      .split('\n')
      .map((line) => /^[0-9]+: ([^:@]+)/.exec(line)?.[1] ?? '')
      .filter((name) => name.startsWith(prefix));
  }

  private async readState(): Promise<LabState | undefined> {
    try {
      return JSON.parse(await readFile(this.statePath, 'utf8')) as LabState;
    } catch {
      return undefined;
    }
  }

  private async requireState(): Promise<LabState> {
    const state = await this.readState();
    if (!state) throw new Error(`no lab with prefix "${this.topology.options.prefix}" is up; run \`npm run lab -- up\` first`);
    return state;
  }

  private async writeState(state: LabState): Promise<void> {
    await mkdir(dirname(this.statePath), { recursive: true });
    await writeFile(this.statePath, JSON.stringify(state, null, 2));
  }
}

/** Builds (or finds cached) the control-plane binaries; progress goes to stderr. */
export async function controlPlaneBinDir(): Promise<string> {
  const result = await execa('bash', [join(repoRoot, 'controlplane/build.sh')], { stderr: 'inherit' });
  return result.stdout.trim();
}
