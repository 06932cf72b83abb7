import { mkdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import Docker from 'dockerode';
import { AgentError, ErrorCode, describeError } from '../../errors.ts';
import type { PodNetwork } from '../../net/pod-network.ts';
import { resolvConfText } from '../../pods/dns-config.ts';
import { BoundedBuffer } from '../../util/bounded-buffer.ts';
import { imageUser } from '../image-user.ts';
import { readSeccompProfile } from '../seccomp-profile.ts';
import { Semaphore } from '../../util/semaphore.ts';
import { Annotations, Labels, containerLabels, sandboxLabels } from '../labels.ts';
import type {
  ContainerConfig,
  ContainerState,
  ContainerStatus,
  ExecResult,
  ExecSession,
  AttachStreamRequest,
  ExecStreamRequest,
  StreamingExec,
  ImageInfo,
  ListFilter,
  LogOptions,
  Runtime,
  RuntimeCondition,
  RuntimeObjectSummary,
  RuntimeVersion,
  SandboxConfig,
  SandboxStatus,
} from '../types.ts';
import { maxExecOutputBytes } from '../types.ts';
import { timerDelayMs } from '../../util/timer-delay.ts';
import { socketPathOfEndpoint } from '../endpoint.ts';
import { demuxDockerStream } from './stream-demux.ts';

/** Docker has no annotations: they ride as labels with this prefix, as dockershim did. */
const annotationPrefix = 'annotation.';
/** Where the container's log link lives in the pod's log directory, so removal can take it too. */
const logLinkLabel = 'node-agent.log-link';
/** Docker's "never happened" time. */
const zeroTime = '0001-01-01T00:00:00Z';

export interface DockerRuntimeOptions {
  endpoint: string;
  timeoutMs: number;
  /** Every object is labelled with it and every list filtered by it: agents sharing a daemon never meet. */
  nodeName: string;
  /**
   * The agent's root directory: two agents with the same node name but different roots (two labs
   * on one machine, a reinstalled node) are different installations and never see each other's work.
   */
  rootDir?: string;
  pauseImage?: string;
  /** Daemon calls in flight at most; see `slots`. */
  maxConcurrentCalls?: number;
  /** Wires each non-host-network sandbox into the pod network (CNI in-process), as dockershim did. */
  network?: PodNetwork;
}

const DEFAULT_MAX_CONCURRENT_CALLS = 8;
const DEFAULT_ROOT_DIR = '/var/lib/node-agent';

/**
 * The Docker backend of the runtime seam, through dockerode, the way dockershim mapped CRI onto
 * Docker: the sandbox is a pause container with its own network namespace and shareable IPC;
 * containers join its network and IPC (and PID when the pod shares it); names follow
 * k8s_<container>_<pod>_<namespace>_<uid>_<attempt>; logs are Docker's json-file, symlinked into
 * the pod's log directory.
 */
export class DockerRuntime implements Runtime {
  private readonly docker: Docker;
  private readonly options: DockerRuntimeOptions;
  private readonly pauseImage: string;
  /**
   * Bounds the daemon calls in flight (create, start, remove, inspect, list). dockerd 20.10 wedged
   * when three agents churned through hundreds of pods at once, each pod worker calling it
   * unbounded. Stops, execs, pulls and logs stay outside: they wait on containers rather than on
   * the daemon's locks, and a 30 s graceful stop must not hold up every other pod.
   */
  private readonly slots: Semaphore;

  constructor(options: DockerRuntimeOptions) {
    this.options = options;
    this.pauseImage = options.pauseImage ?? 'localhost/pause:1';
    this.slots = new Semaphore(options.maxConcurrentCalls ?? DEFAULT_MAX_CONCURRENT_CALLS);
    this.docker = new Docker({ socketPath: socketPathOfEndpoint(options.endpoint), timeout: options.timeoutMs });
  }

  async version(): Promise<RuntimeVersion> {
    try {
      const v = await this.docker.version();
      return { runtimeName: 'docker', runtimeVersion: v.Version, runtimeApiVersion: 'v1' };
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  async status(): Promise<RuntimeCondition[]> {
    try {
      await this.docker.ping();
      return [{ type: 'RuntimeReady', status: true, reason: '', message: '' }];
    } catch (err) {
      return [{ type: 'RuntimeReady', status: false, reason: 'DockerDaemonNotReady', message: this.unavailable(err).message }];
    }
  }

  async imageFilesystem(): Promise<string> {
    try {
      // Images, layers and containers' writable layers all live under Docker's root directory.
      const info = (await this.docker.info()) as { DockerRootDir?: string };
      if (!info.DockerRootDir) throw new Error('docker info names no DockerRootDir');
      return info.DockerRootDir;
    } catch (err) {
      throw this.unavailableOr(err);
    }
  }

  async close(): Promise<void> {
    // dockerode keeps no connection open between calls.
  }

  // --- sandboxes

  async runSandbox(config: SandboxConfig): Promise<string> {
    const { pod } = config;
    const name = `k8s_POD_${pod.name}_${pod.namespace}_${pod.uid}_${pod.attempt}`;
    let id: string;
    try {
      const container = await this.api((d) => d.createContainer({
        name,
        Image: this.pauseImage,
        ...(config.hostNetwork ? {} : { Hostname: config.hostname }),
        // No Docker network at all for a pod-network sandbox (the CNI plugin wires its netns):
        // "none" alone still runs every start and stop through libnetwork, whose lock-order
        // inversion in dockerd 20.10 (moby/moby#46661, fixed in 20.10.27, not in Debian's
        // 20.10.24) wedged the daemon under pod churn. The netns is the runtime's own either way.
        ...(config.hostNetwork ? {} : { NetworkDisabled: true }),
        Labels: this.labels(
          sandboxLabels(pod, config.labels),
          { ...config.annotations, [Annotations.sandboxAttempt]: String(pod.attempt) },
        ),
        HostConfig: {
          NetworkMode: config.hostNetwork ? 'host' : 'none',
          IpcMode: config.security.hostIPC ? 'host' : 'shareable',
          ...(config.security.hostPID ? { PidMode: 'host' } : {}),
          // Pod sysctls live in the sandbox's namespaces (net.* in its netns, kernel.shm*/msg* in its IPC), which the containers join.
          ...(Object.keys(config.security.sysctls).length > 0 ? { Sysctls: config.security.sysctls } : {}),
          ...(config.cgroupParent ? { CgroupParent: config.cgroupParent } : {}),
          RestartPolicy: { Name: 'no' },
          LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } },
        },
      }));
      id = container.id;
    } catch (err) {
      throw this.failure(err, ErrorCode.SandboxCreate, `creating the sandbox of ${pod.namespace}/${pod.name}`);
    }
    const network = this.options.network;
    try {
      await this.api((d) => d.getContainer(id).start());
      const info = await this.inspect(id);
      if (config.hostNetwork) {
        // Containers joined to the host network share the pause container's resolv.conf:
        // rewriting it (Docker makes it at start) gives every container the pod's DNS settings.
        if (config.dnsConfig && info.ResolvConfPath) await writeFile(info.ResolvConfPath, resolvConfText(config.dnsConfig));
      } else {
        // Without a Docker network Docker makes no resolv.conf: the sandbox's own is mounted
        // into each container (as containerd's CRI does).
        const dir = this.sandboxDir(id);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'resolv.conf'), config.dnsConfig ? resolvConfText(config.dnsConfig) : await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
      }
      if (network && !config.hostNetwork) {
        await network.setUp({ sandboxId: id, netnsPath: `/proc/${info.State.Pid}/ns/net`, pod });
      }
    } catch (err) {
      if (network && !config.hostNetwork) await network.tearDown(id, '').catch(() => undefined);
      await this.api((d) => d.getContainer(id).remove({ force: true })).catch(() => undefined);
      if (err instanceof AgentError) throw err;
      throw this.failure(err, ErrorCode.SandboxCreate, `starting the sandbox of ${pod.namespace}/${pod.name}`);
    }
    await mkdir(config.logDirectory, { recursive: true });
    return id;
  }

  async stopSandbox(id: string): Promise<void> {
    const containers = await this.listContainers({ sandboxId: id });
    await Promise.all(containers.filter((c) => c.state === 'running').map((c) => this.stopContainer(c.id, 10)));
    await this.releaseNetwork(id);
    // 304: already stopped.
    await this.ignoreMissing(this.docker.getContainer(id).stop({ t: 0 }), [304]);
  }

  async removeSandbox(id: string): Promise<void> {
    const containers = await this.listContainers({ sandboxId: id });
    await Promise.all(containers.map((c) => this.removeContainer(c.id)));
    await this.releaseNetwork(id);
    await this.ignoreMissing(this.api((d) => d.getContainer(id).remove({ force: true })));
    await rm(this.sandboxDir(id), { recursive: true, force: true });
  }

  /** The agent's files of one sandbox (its resolv.conf). */
  private sandboxDir(id: string): string {
    return join(this.options.rootDir ?? DEFAULT_ROOT_DIR, 'sandboxes', id);
  }

  /** CNI DEL while the netns still exists (before the pause container stops); idempotent. */
  private async releaseNetwork(id: string): Promise<void> {
    const network = this.options.network;
    if (!network) return;
    const info = await this.inspect(id).catch(() => undefined);
    if (info?.HostConfig.NetworkMode === 'host') return;
    const netnsPath = info?.State.Running && info.State.Pid > 0 ? `/proc/${info.State.Pid}/ns/net` : '';
    await network.tearDown(id, netnsPath);
  }

  /** CNI GC, then CNI CHECK of every running sandbox's attachment; see Runtime.collectNetwork. */
  async collectNetwork(): Promise<{ released: number; broken: { sandboxId: string; problem: string }[] }> {
    const network = this.options.network;
    if (!network) return { released: 0, broken: [] };
    const live = await this.list({ [Labels.type]: 'podsandbox' });
    const released = (await network.collect(live.map((c) => c.Id))).removed;
    const broken: { sandboxId: string; problem: string }[] = [];
    for (const c of live) {
      if (c.State !== 'running' || c.HostConfig.NetworkMode === 'host') continue;
      const info = await this.inspect(c.Id).catch(() => undefined);
      if (!info?.State.Running || !(info.State.Pid > 0)) continue;
      const problem = await network.verify(c.Id, `/proc/${info.State.Pid}/ns/net`);
      if (problem) broken.push({ sandboxId: c.Id, problem });
    }
    return { released, broken };
  }

  async sandboxStatus(id: string): Promise<SandboxStatus> {
    const info = await this.inspect(id);
    if (info.Config.Labels?.[Labels.type] !== 'podsandbox') throw new AgentError(ErrorCode.RuntimeNotFound, `sandbox ${id} not found`);
    return this.toSandbox(info);
  }

  async listSandboxes(filter: ListFilter = {}): Promise<SandboxStatus[]> {
    return this.inspectEach(await this.list({ ...filter.labels, [Labels.type]: 'podsandbox' }), (info) => this.toSandbox(info));
  }

  /** Inspects each listed object, skipping those removed between the list and the inspect. */
  private async inspectEach<T>(list: Docker.ContainerInfo[], map: (info: Docker.ContainerInspectInfo) => T): Promise<T[]> {
    const out: T[] = [];
    for (const c of list) {
      const info = await this.inspect(c.Id).catch(() => undefined);
      if (info) out.push(map(info));
    }
    return out;
  }

  private toSandbox(info: Docker.ContainerInspectInfo): SandboxStatus {
    const { labels, annotations } = this.splitLabels(info.Config.Labels ?? {});
    const running = info.State.Running;
    return {
      id: info.Id,
      pod: {
        name: labels[Labels.podName] ?? '',
        namespace: labels[Labels.podNamespace] ?? '',
        uid: labels[Labels.podUid] ?? '',
        attempt: Number(annotations[Annotations.sandboxAttempt] ?? 0),
      },
      // A pod-network sandbox without an address was not (fully) wired: kubelet's "sandbox has no
      // IP address, need to start a new one".
      state: running && (info.HostConfig.NetworkMode === 'host' || !this.options.network || this.options.network.ipOf(info.Id) !== '') ? 'ready' : 'notready',
      createdAt: new Date(info.Created),
      ip: info.HostConfig.NetworkMode === 'host' ? '' : (this.options.network?.ipOf(info.Id) ?? ''),
      netnsPath: running && info.State.Pid > 0 ? `/proc/${info.State.Pid}/ns/net` : '',
      labels,
      annotations,
    };
  }

  // --- containers

  async createContainer(sandboxId: string, config: ContainerConfig, sandbox: SandboxConfig): Promise<string> {
    const { pod } = sandbox;
    const name = `k8s_${config.name}_${pod.name}_${pod.namespace}_${pod.uid}_${config.attempt}`;
    const s = config.security;
    const r = config.resources;
    const user = s.runAsUser !== undefined ? `${s.runAsUser}${s.runAsGroup !== undefined ? `:${s.runAsGroup}` : ''}` : undefined;
    const share = `container:${sandboxId}`;
    const securityOpt = await this.securityOptions(s);
    let id: string;
    try {
      const created = await this.api((d) => d.createContainer({
        name,
        Image: config.image,
        // Kubernetes' command replaces the image's ENTRYPOINT (and then its CMD too); args replace CMD.
        ...(config.command ? { Entrypoint: config.command, Cmd: config.args ?? [] } : config.args ? { Cmd: config.args } : {}),
        ...(config.workingDir ? { WorkingDir: config.workingDir } : {}),
        ...(user ? { User: user } : {}),
        Env: config.env.map((e) => `${e.name}=${e.value}`),
        Tty: config.tty,
        OpenStdin: config.stdin,
        Labels: this.labels(
          { ...containerLabels(sandboxId, config.name, pod, config.labels), [logLinkLabel]: join(sandbox.logDirectory, config.logPath) },
          { ...config.annotations, [Annotations.containerAttempt]: String(config.attempt) },
        ),
        HostConfig: {
          NetworkMode: sandbox.hostNetwork ? 'host' : share,
          IpcMode: sandbox.security.hostIPC ? 'host' : share,
          ...(sandbox.security.hostPID ? { PidMode: 'host' } : sandbox.shareProcessNamespace ? { PidMode: share } : {}),
          SecurityOpt: securityOpt,
          ...(sandbox.cgroupParent ? { CgroupParent: sandbox.cgroupParent } : {}),
          Binds: [
            ...config.mounts.map((m) => `${m.hostPath}:${m.containerPath}${m.readOnly ? ':ro' : ''}`),
            ...(sandbox.hostNetwork || config.mounts.some((m) => m.containerPath === '/etc/resolv.conf') ? [] : [`${join(this.sandboxDir(sandboxId), 'resolv.conf')}:/etc/resolv.conf`]),
          ],
          Privileged: s.privileged,
          CapAdd: s.capAdd,
          CapDrop: s.capDrop,
          ReadonlyRootfs: s.readOnlyRootFilesystem,
          ...(s.supplementalGroups ? { GroupAdd: s.supplementalGroups.map(String) } : {}),
          ...(r.cpuShares !== undefined ? { CpuShares: r.cpuShares } : {}),
          ...(r.cpuQuota !== undefined ? { CpuQuota: r.cpuQuota, CpuPeriod: r.cpuPeriod ?? 100_000 } : {}),
          ...(r.memoryLimitBytes !== undefined ? { Memory: r.memoryLimitBytes, MemorySwap: r.memoryLimitBytes } : {}),
          RestartPolicy: { Name: 'no' },
          LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } },
        },
      }));
      id = created.id;
    } catch (err) {
      throw this.failure(err, ErrorCode.ContainerCreate, `creating container ${config.name}`);
    }
    // The pod's log directory holds a link to Docker's log file, as dockershim arranged it. Docker
    // reports LogPath only once the container has started, but the path is fixed by its id.
    const link = join(sandbox.logDirectory, config.logPath);
    await mkdir(dirname(link), { recursive: true });
    await unlink(link).catch(() => undefined);
    await symlink(join(await this.dockerRoot(), 'containers', id, `${id}-json.log`), link);
    return id;
  }

  /**
   * Docker's --security-opt for no_new_privs and seccomp. Docker applies its default profile when
   * told nothing, so Unconfined (kubelet's default for an unset profile) must be said, and a
   * Localhost profile is handed over as its JSON text, read from <root-dir>/seccomp without
   * following a link out of it.
   */
  private async securityOptions(s: ContainerConfig['security']): Promise<string[]> {
    const out: string[] = [];
    if (s.noNewPrivileges) out.push('no-new-privileges');
    if (s.seccomp.type === 'Unconfined') out.push('seccomp=unconfined');
    if (s.seccomp.type === 'Localhost') {
      const profile = s.seccomp.localhostProfile;
      const text = await readSeccompProfile(join(this.options.rootDir ?? DEFAULT_ROOT_DIR, 'seccomp'), profile).catch((err: unknown) => {
        throw new AgentError(ErrorCode.ContainerCreate, `cannot load seccomp profile ${JSON.stringify(profile)}: ${describeError(err)}`, { reason: 'CreateContainerError' });
      });
      out.push(`seccomp=${text}`);
    }
    return out;
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.api((d) => d.getContainer(id).start());
    } catch (err) {
      throw this.failure(err, ErrorCode.ContainerStart, `starting container ${id.slice(0, 12)}`);
    }
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    // Docker sends the image's stop signal (else SIGTERM), then SIGKILL after t seconds.
    await this.ignoreMissing(this.docker.getContainer(id).stop({ t: Math.max(0, Math.round(timeoutSeconds)) }), [304]);
  }

  async removeContainer(id: string): Promise<void> {
    let logLink: string | undefined;
    try {
      const info = await this.inspect(id);
      logLink = info.Config.Labels?.[logLinkLabel];
    } catch {
      return;
    }
    await this.ignoreMissing(this.api((d) => d.getContainer(id).remove({ force: true })));
    if (logLink) await rm(logLink, { force: true });
  }

  async listSummaries(): Promise<RuntimeObjectSummary[]> {
    return (await this.list({})).map((c) => {
      const { labels, annotations } = this.splitLabels(c.Labels ?? {});
      return { id: c.Id, kind: labels[Labels.type] === 'podsandbox' ? 'sandbox' : 'container', state: c.State, labels, annotations };
    });
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    return this.toContainer(await this.inspect(id));
  }

  async listContainers(filter: ListFilter = {}): Promise<ContainerStatus[]> {
    const labels: Record<string, string> = { ...filter.labels, [Labels.type]: 'container' };
    if (filter.sandboxId) labels[Labels.sandboxId] = filter.sandboxId;
    return this.inspectEach(await this.list(labels), (info) => this.toContainer(info));
  }

  private toContainer(info: Docker.ContainerInspectInfo): ContainerStatus {
    const { labels, annotations } = this.splitLabels(info.Config.Labels ?? {});
    const st = info.State;
    const state: ContainerState = st.Running ? 'running' : st.Status === 'created' ? 'created' : st.Status === 'exited' || st.Status === 'dead' ? 'exited' : 'unknown';
    const exited = state === 'exited';
    const reason = exited ? (st.OOMKilled ? 'OOMKilled' : st.ExitCode === 0 ? 'Completed' : 'Error') : undefined;
    return {
      id: info.Id,
      sandboxId: labels[Labels.sandboxId] ?? '',
      name: labels[Labels.containerName] ?? '',
      attempt: Number(annotations[Annotations.containerAttempt] ?? 0),
      state,
      image: info.Config.Image,
      imageRef: info.Image.startsWith('sha256:') ? `docker://${info.Image}` : info.Image,
      createdAt: new Date(info.Created),
      ...(st.StartedAt && st.StartedAt !== zeroTime ? { startedAt: new Date(st.StartedAt) } : {}),
      ...(exited && st.FinishedAt && st.FinishedAt !== zeroTime ? { finishedAt: new Date(st.FinishedAt) } : {}),
      ...(exited ? { exitCode: st.ExitCode } : {}),
      ...(reason ? { reason } : {}),
      ...(exited && st.Error ? { message: st.Error } : {}),
      labels,
      annotations,
      ...(info.LogPath ? { logPath: info.LogPath } : {}),
    };
  }

  async execSync(id: string, command: string[], timeoutSeconds: number): Promise<ExecResult> {
    const exec = await this.docker.getContainer(id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    // Capped while it streams: a probe printing without end must not grow the agent (issue 16).
    const out = new BoundedBuffer(maxExecOutputBytes);
    const err = new BoundedBuffer(maxExecOutputBytes);
    stdout.on('data', (c: Buffer) => out.write(c));
    stderr.on('data', (c: Buffer) => err.write(c));
    this.docker.modem.demuxStream(stream, stdout, stderr);
    const finished = new Promise<boolean>((resolve) => {
      stream.on('end', () => resolve(true));
      stream.on('close', () => resolve(true));
      stream.on('error', () => resolve(true));
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timerDelayMs(Math.max(1, timeoutSeconds)));
    });
    const completed = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    if (!completed) {
      // Docker cannot kill an exec; the probe or hook counts as failed and the stream is dropped.
      stream.destroy();
      return { exitCode: -1, stdout: out.toString(), stderr: err.toString(), timedOut: true };
    }
    const inspect = await exec.inspect();
    return { exitCode: inspect.ExitCode ?? -1, stdout: out.toString(), stderr: err.toString(), timedOut: false };
  }

  /**
   * Docker has no streaming server of its own for CRI clients: the exec's hijacked connection is
   * handed to the agent, which serves it as kubelet's dockershim did.
   */
  async execStreaming(id: string, r: ExecStreamRequest): Promise<StreamingExec> {
    // Checked now, so a container that is gone is an answer before the upgrade, not after.
    await this.inspect(id);
    return { kind: 'session', start: () => this.startExec(id, r) };
  }

  private async startExec(id: string, r: ExecStreamRequest): Promise<ExecSession> {
    const exec = await this.docker.getContainer(id).exec({ Cmd: r.command, AttachStdin: r.stdin, AttachStdout: r.stdout, AttachStderr: r.stderr, Tty: r.tty });
    const stream = await exec.start({ hijack: true, stdin: r.stdin, Tty: r.tty });
    const exitCode = async (): Promise<number> => {
      // The attach stream closes as the process exits; Docker may record the code a moment later.
      for (let i = 0; i < 20; i++) {
        const info = await exec.inspect();
        if (!info.Running) return info.ExitCode ?? -1;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return -1;
    };
    return hijackedSession(stream, r.tty, r, (width, height) => exec.resize({ w: width, h: height }), exitCode);
  }

  /** The container's own streams, live (no log replay), ending when its process exits. */
  async attachStreaming(id: string, r: AttachStreamRequest): Promise<StreamingExec> {
    await this.inspect(id);
    return { kind: 'session', start: () => this.startAttach(id, r) };
  }

  private async startAttach(id: string, r: AttachStreamRequest): Promise<ExecSession> {
    const container = this.docker.getContainer(id);
    const info = await this.inspect(id);
    const stream = (await container.attach({ stream: true, stdin: r.stdin, stdout: r.stdout || r.tty, stderr: r.stderr && !r.tty, hijack: true })) as unknown as Duplex;
    // The container's tty, not the request's, decides whether Docker multiplexes the stream.
    // kubelet reports an attach that ran to its end as Success, whatever the process's exit code.
    return hijackedSession(stream, info.Config.Tty === true, r, (width, height) => container.resize({ w: width, h: height }), () => Promise.resolve(0));
  }

  async logs(id: string, options: LogOptions = {}): Promise<string> {
    const container = this.docker.getContainer(id);
    const info = await this.inspect(id);
    const raw = await container.logs({
      stdout: true,
      stderr: true,
      follow: false,
      timestamps: options.timestamps ?? false,
      ...(options.tailLines !== undefined ? { tail: options.tailLines } : {}),
      ...(options.since ? { since: Math.floor(options.since.getTime() / 1000) } : {}),
    });
    return info.Config.Tty ? raw.toString() : demuxBuffer(raw);
  }

  // --- images

  async pullImage(image: string): Promise<string> {
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()));
      });
    } catch (err) {
      throw new AgentError(ErrorCode.ImagePull, `pulling ${image}: ${dockerMessage(err)}`, { cause: err, reason: 'ErrImagePull' });
    }
    const status = await this.imageStatus(image);
    return status?.id ?? '';
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    try {
      const info = await this.api((d) => d.getImage(image).inspect());
      return { id: info.Id, repoTags: info.RepoTags ?? [], repoDigests: info.RepoDigests ?? [], sizeBytes: info.Size, ...imageUser(info.Config?.User) };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw this.unavailableOr(err);
    }
  }

  async listImages(): Promise<ImageInfo[]> {
    const list = await this.api((d) => d.listImages());
    return list.map((i) => ({ id: i.Id, repoTags: i.RepoTags ?? [], repoDigests: i.RepoDigests ?? [], sizeBytes: i.Size }));
  }

  async removeImage(image: string): Promise<void> {
    await this.ignoreMissing(this.api((d) => d.getImage(image).remove()));
  }

  // --- helpers

  private root: string | undefined;

  /** Docker's data root (where it keeps container logs), asked once. */
  private async dockerRoot(): Promise<string> {
    this.root ??= ((await this.docker.info()) as { DockerRootDir?: string }).DockerRootDir ?? '/var/lib/docker';
    return this.root;
  }

  private labels(labels: Record<string, string>, annotations: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = { ...labels };
    for (const [k, v] of Object.entries(annotations)) out[`${annotationPrefix}${k}`] = v;
    out[Labels.managedBy] = 'true';
    out[Labels.node] = this.options.nodeName;
    if (this.options.rootDir) out[Labels.root] = this.options.rootDir;
    return out;
  }

  private splitLabels(all: Record<string, string>): { labels: Record<string, string>; annotations: Record<string, string> } {
    const labels: Record<string, string> = {};
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(all)) {
      if (k.startsWith(annotationPrefix)) annotations[k.slice(annotationPrefix.length)] = v;
      else labels[k] = v;
    }
    return { labels, annotations };
  }

  /** Our containers only: managed by node-agent, for this node, with the given labels. */
  private async list(labels: Record<string, string>): Promise<Docker.ContainerInfo[]> {
    const filters = [`${Labels.managedBy}=true`, `${Labels.node}=${this.options.nodeName}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
    if (this.options.rootDir) filters.push(`${Labels.root}=${this.options.rootDir}`);
    try {
      return await this.api((d) => d.listContainers({ all: true, filters: { label: filters } }));
    } catch (err) {
      throw this.unavailableOr(err);
    }
  }

  private async inspect(id: string): Promise<Docker.ContainerInspectInfo> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.api((d) => d.getContainer(id).inspect());
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) throw new AgentError(ErrorCode.RuntimeNotFound, `container ${id} not found`, { cause: err });
      throw this.unavailableOr(err);
    }
    const labels = info.Config.Labels ?? {};
    // Never hand out what another node or nobody of ours made.
    if (labels[Labels.managedBy] !== 'true' || labels[Labels.node] !== this.options.nodeName || (this.options.rootDir !== undefined && labels[Labels.root] !== this.options.rootDir)) {
      throw new AgentError(ErrorCode.RuntimeNotFound, `container ${id} not found`);
    }
    return info;
  }

  /** A daemon call that takes one of the bounded slots. */
  private api<T>(call: (docker: Docker) => Promise<T>): Promise<T> {
    return this.slots.run(() => call(this.docker));
  }

  private async ignoreMissing(call: Promise<unknown>, alsoOk: number[] = []): Promise<void> {
    try {
      await call;
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 404 || (code !== undefined && alsoOk.includes(code))) return;
      throw this.unavailableOr(err);
    }
  }

  private failure(err: unknown, code: ErrorCode, what: string): AgentError {
    if (isConnectionError(err)) return this.unavailable(err);
    return new AgentError(code, `${what}: ${dockerMessage(err)}`, { cause: err });
  }

  private unavailableOr(err: unknown): Error {
    return isConnectionError(err) ? this.unavailable(err) : new AgentError(ErrorCode.RuntimeUnavailable, `docker: ${dockerMessage(err)}`, { cause: err });
  }

  private unavailable(err: unknown): AgentError {
    return new AgentError(
      ErrorCode.RuntimeUnavailable,
      `docker at ${this.options.endpoint} is not answering: ${describeError(err)}. Fix: start dockerd (scripts/start-runtimes.sh) or set runtime.endpoint`,
      { cause: err },
    );
  }
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE';
}

/** Docker's own message from an API error (its JSON body), else the error's. */
function dockerMessage(err: unknown): string {
  const json = (err as { json?: { message?: string } }).json;
  if (json?.message) return json.message;
  const reason = (err as { reason?: string }).reason;
  const message = err instanceof Error ? err.message : String(err);
  return reason && !message.includes(reason) ? `${reason}: ${message}` : message.replace(/^\(HTTP code \d+\) [a-z -]+ - /, '');
}

/** Docker's multiplexed log stream (8-byte frame headers) as text, frames in order. */
export function demuxBuffer(raw: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    parts.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString();
}

/**
 * An exec or attach over Docker's hijacked connection, as the agent serves it: the streams
 * (demultiplexed, unless a tty carries them raw), resize, and the exit code once the stream ends.
 */
function hijackedSession(stream: Duplex, tty: boolean, r: AttachStreamRequest, resize: (width: number, height: number) => Promise<unknown>, exitCode: () => Promise<number>): ExecSession {
  const { stdout, stderr }: { stdout: Readable; stderr?: Readable } = tty ? { stdout: stream } : demuxDockerStream(stream);
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  return {
    ...(r.stdin ? { stdin: stream } : {}),
    ...(r.stdout || r.tty ? { stdout } : {}),
    ...(stderr && r.stderr && !r.tty ? { stderr } : {}),
    resize: async (width, height) => {
      await resize(width, height);
    },
    exited: ended.then(exitCode),
    close: () => stream.destroy(),
  };
}
