import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentError, ErrorCode, describeError, isAgentError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { PodNetwork } from '../../net/pod-network.ts';
import { Labels } from '../labels.ts';
import type {
  ContainerConfig,
  ContainerStatus,
  ExecResult,
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
import { CriClient } from './cri-client.ts';
import {
  containerSummary,
  criContainerConfig,
  isOwned,
  ownerLabels,
  podSandboxConfig,
  sandboxSummary,
  toContainerStatus,
  toImageInfo,
  toSandboxStatus,
  type Owner,
} from './cri-convert.ts';
import { formatCriLog } from './cri-log.ts';
import { sleep } from '../../util/sleep.ts';
import { DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES, LOG_ROTATION_INTERVAL_MS, rotatedName, rotatedToDelete } from './log-rotation.ts';

export interface CriRuntimeOptions {
  endpoint: string;
  /** runtimeRequestTimeout: the deadline of every call that has no better one. */
  timeoutMs: number;
  nodeName: string;
  rootDir?: string;
  /**
   * The node's pod network, for CNI GC only: containerd's CRI plugin calls the CNI plugin itself
   * (ADD when a sandbox starts, DEL when it stops), but addresses whose sandbox containerd forgot
   * (its state wiped, a crash mid-ADD) are only released by a GC against the live sandboxes.
   */
  network?: PodNetwork;
  log?: Logger;
  logMaxBytes?: number;
  logMaxFiles?: number;
}

/** Version and Status answer at once when the runtime is well; this bounds a node status tick. */
const HEALTH_TIMEOUT_MS = 10_000;
/** Image pulls have no deadline in kubelet; a stuck registry must still end, after this long. */
const PULL_TIMEOUT_MS = 15 * 60_000;

/**
 * The containerd backend of the runtime seam: CRI runtime.v1 over gRPC, as kubelet's remote
 * runtime. containerd's CRI plugin makes the sandbox (pause container, network namespace, CNI
 * ADD from the conflist the agent installs), writes container logs in the CRI format under the
 * pod's log directory, and keeps labels and annotations natively. The agent adds what kubelet
 * adds around CRI: ownership labels, log rotation, log files removed with their containers.
 */
export class CriRuntime implements Runtime {
  private readonly client: CriClient;
  private readonly options: CriRuntimeOptions;
  private readonly owner: Owner;
  private rotationTimer: NodeJS.Timeout | undefined;
  private rotating = false;
  /** Log file of each running container, for rotation (ContainerStatus asked once per container). */
  private readonly logPaths = new Map<string, string>();
  /** RunPodSandbox calls in flight: CNI GC must not run while an ADD has no listed sandbox yet. */
  private sandboxesStarting = 0;
  private collecting: Promise<void> | undefined;

  constructor(options: CriRuntimeOptions) {
    this.options = options;
    this.owner = { nodeName: options.nodeName, ...(options.rootDir ? { rootDir: options.rootDir } : {}) };
    this.client = new CriClient({ endpoint: options.endpoint, timeoutMs: options.timeoutMs });
    this.rotationTimer = setInterval(() => {
      void this.rotateLogs().catch((err: unknown) => {
        // A runtime that is away is reported by the relist and the node status; no line per tick here.
        if (isAgentError(err, ErrorCode.RuntimeUnavailable)) this.options.log?.debug({ err: describeError(err) }, 'container log rotation skipped');
        else this.options.log?.warn({ err: describeError(err) }, 'container log rotation failed');
      });
    }, LOG_ROTATION_INTERVAL_MS);
    this.rotationTimer.unref();
  }

  async version(): Promise<RuntimeVersion> {
    const v = await this.client.runtime('Version', { version: 'v1' }, HEALTH_TIMEOUT_MS);
    if (!v.runtimeApiVersion.startsWith('v1') || v.runtimeApiVersion.startsWith('v1alpha')) {
      throw new AgentError(
        ErrorCode.RuntimeUnavailable,
        `${v.runtimeName} ${v.runtimeVersion} at ${this.options.endpoint} speaks CRI ${v.runtimeApiVersion}, not v1. Fix: use containerd 1.6 or newer`,
        { reason: 'RuntimeApiVersionUnsupported' },
      );
    }
    return { runtimeName: v.runtimeName, runtimeVersion: v.runtimeVersion, runtimeApiVersion: v.runtimeApiVersion };
  }

  async status(): Promise<RuntimeCondition[]> {
    try {
      const response = await this.client.runtime('Status', {}, HEALTH_TIMEOUT_MS);
      const conditions = response.status?.conditions ?? [];
      const out: RuntimeCondition[] = [];
      for (const c of conditions) {
        if (c.type !== 'RuntimeReady' && c.type !== 'NetworkReady') continue;
        out.push({ type: c.type, status: c.status, reason: c.reason, message: c.message });
      }
      // A runtime that leaves RuntimeReady out is not ready (kubelet's rule).
      if (!out.some((c) => c.type === 'RuntimeReady')) out.push({ type: 'RuntimeReady', status: false, reason: 'RuntimeReadyMissing', message: 'the runtime did not report RuntimeReady' });
      return out;
    } catch (err) {
      return [{ type: 'RuntimeReady', status: false, reason: 'ContainerdUnreachable', message: describeError(err) }];
    }
  }

  async imageFilesystem(): Promise<string> {
    const info = await this.client.image('ImageFsInfo', {}, HEALTH_TIMEOUT_MS);
    const mountpoint = info.imageFilesystems.find((f) => f.fsId?.mountpoint)?.fsId?.mountpoint;
    if (!mountpoint) throw new AgentError(ErrorCode.RuntimeUnavailable, `${this.options.endpoint}: ImageFsInfo names no image filesystem`);
    return mountpoint;
  }

  close(): Promise<void> {
    if (this.rotationTimer) clearInterval(this.rotationTimer);
    this.rotationTimer = undefined;
    this.client.close();
    return Promise.resolve();
  }

  // --- sandboxes

  async runSandbox(config: SandboxConfig): Promise<string> {
    // Checked and counted in one step (no await between): see collectNetwork.
    while (this.collecting) await this.collecting;
    this.sandboxesStarting++;
    try {
      await mkdir(config.logDirectory, { recursive: true });
      const { podSandboxId } = await this.client.runtime('RunPodSandbox', { config: podSandboxConfig(config, this.owner) });
      return podSandboxId;
    } catch (err) {
      const { pod } = config;
      if (isAgentError(err, ErrorCode.RuntimeUnavailable)) throw err;
      const message = describeCause(err);
      // containerd's CNI failures arrive as its error text; the node network's own reasons are kept.
      const network = /cni|network/i.test(message);
      // The pause image is containerd's own setting (sandbox_image), not the agent's: say where.
      const pause = /failed to get sandbox image "([^"]+)"/.exec(message)?.[1];
      const fix = pause === undefined ? '' : `; fix: set sandbox_image = "localhost/pause:1" in containerd's config.toml (images/build.sh builds that image) and restart containerd, or tag a local pause image as ${pause}`;
      throw new AgentError(network && pause === undefined ? ErrorCode.NetworkSetUp : ErrorCode.SandboxCreate, `creating the sandbox of ${pod.namespace}/${pod.name}: ${message}${fix}`, {
        cause: err,
        ...(network && pause === undefined ? { reason: message.includes('no free address') ? 'IPExhausted' : 'NetworkSetUpFailed' } : {}),
      });
    } finally {
      this.sandboxesStarting--;
    }
  }

  async stopSandbox(id: string): Promise<void> {
    // CRI's StopPodSandbox stops every container of the sandbox (killing what still runs), tears
    // the network down through CNI DEL and stops the pause container; it is idempotent.
    await this.unlessNotFound(this.client.runtime('StopPodSandbox', { podSandboxId: id }));
  }

  async removeSandbox(id: string): Promise<void> {
    // The runtime removes the containers with the sandbox but leaves their log files: kubelet
    // deletes those, and so does removal here (the listing already names each log file).
    for (const c of await this.listContainers({ sandboxId: id }).catch(() => [])) await this.removeKnownContainer(c.id, c.logPath);
    await this.unlessNotFound(this.client.runtime('RemovePodSandbox', { podSandboxId: id }));
  }

  async sandboxStatus(id: string): Promise<SandboxStatus> {
    const response = await this.client.runtime('PodSandboxStatus', { podSandboxId: id, verbose: true });
    const s = response.status;
    if (!s || !isOwned(s.labels, this.owner) || s.labels[Labels.type] !== 'podsandbox') throw new AgentError(ErrorCode.RuntimeNotFound, `sandbox ${id} not found`);
    return toSandboxStatus(s, netnsPathOf(response.info));
  }

  async listSandboxes(filter: ListFilter = {}): Promise<SandboxStatus[]> {
    const { items } = await this.client.runtime('ListPodSandbox', { filter: { labelSelector: { ...filter.labels, [Labels.type]: 'podsandbox', ...ownerLabels(this.owner) } } });
    // The pod IP is only in PodSandboxStatus, as for kubelet: one status call per sandbox.
    const out: SandboxStatus[] = [];
    for (const item of items) {
      // One removed since the list is simply left out.
      const response = await this.unlessNotFound(this.client.runtime('PodSandboxStatus', { podSandboxId: item.id }));
      if (response?.status) out.push(toSandboxStatus(response.status));
    }
    return out;
  }

  /** CNI GC against every sandbox containerd still knows; see CriRuntimeOptions.network. */
  async collectNetwork(): Promise<{ released: number; broken: { sandboxId: string; problem: string }[] }> {
    const network = this.options.network;
    if (!network) return { released: 0, broken: [] };
    while (this.collecting) await this.collecting;
    // From here new sandboxes wait (runSandbox) and those under way finish first: an address
    // that an ADD allocated for a sandbox the runtime does not list yet must not be taken back.
    let release = (): void => undefined;
    this.collecting = new Promise<void>((resolve) => (release = resolve));
    try {
      while (this.sandboxesStarting > 0) await sleep(50);
      // Every sandbox of the runtime, whoever made it and in any state: a stopped one whose DEL
      // failed still holds its address until StopPodSandbox succeeds.
      const { items } = await this.client.runtime('ListPodSandbox', {});
      return { released: (await network.collect(items.map((s) => s.id))).removed, broken: [] };
    } finally {
      this.collecting = undefined;
      release();
    }
  }

  // --- containers

  async createContainer(sandboxId: string, config: ContainerConfig, sandbox: SandboxConfig): Promise<string> {
    try {
      await mkdir(dirname(join(sandbox.logDirectory, config.logPath)), { recursive: true });
      const { containerId } = await this.client.runtime('CreateContainer', {
        podSandboxId: sandboxId,
        config: criContainerConfig(sandboxId, config, sandbox, this.owner),
        sandboxConfig: podSandboxConfig(sandbox, this.owner),
      });
      return containerId;
    } catch (err) {
      if (isAgentError(err, ErrorCode.RuntimeUnavailable)) throw err;
      throw new AgentError(ErrorCode.ContainerCreate, `creating container ${config.name}: ${describeCause(err)}`, { cause: err });
    }
  }

  async startContainer(id: string): Promise<void> {
    try {
      await this.client.runtime('StartContainer', { containerId: id });
    } catch (err) {
      if (isAgentError(err, ErrorCode.RuntimeUnavailable)) throw err;
      throw new AgentError(ErrorCode.ContainerStart, `starting container ${id.slice(0, 12)}: ${describeCause(err)}`, { cause: err });
    }
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    const timeout = Math.max(0, Math.round(timeoutSeconds));
    // The runtime waits up to `timeout` before SIGKILL: the call's deadline must outlast it.
    await this.unlessNotFound(this.client.runtime('StopContainer', { containerId: id, timeout: String(timeout) }, timeout * 1000 + this.options.timeoutMs));
  }

  async removeContainer(id: string): Promise<void> {
    const status = await this.unlessNotFound(this.containerStatus(id));
    if (status) await this.removeKnownContainer(id, status.logPath);
  }

  /** Removes one of our containers, and its log files, once its log path is known. */
  private async removeKnownContainer(id: string, logPath: string | undefined): Promise<void> {
    await this.unlessNotFound(this.client.runtime('RemoveContainer', { containerId: id }));
    if (logPath) await this.removeLogFiles(logPath);
  }

  async listContainers(filter: ListFilter = {}): Promise<ContainerStatus[]> {
    const labels = { ...filter.labels, [Labels.type]: 'container', ...ownerLabels(this.owner), ...(filter.sandboxId ? { [Labels.sandboxId]: filter.sandboxId } : {}) };
    const { containers } = await this.client.runtime('ListContainers', { filter: { labelSelector: labels } });
    const out: ContainerStatus[] = [];
    for (const c of containers) {
      const response = await this.unlessNotFound(this.client.runtime('ContainerStatus', { containerId: c.id }));
      if (response?.status) out.push(toContainerStatus(response.status));
    }
    return out;
  }

  async listSummaries(): Promise<RuntimeObjectSummary[]> {
    const selector = ownerLabels(this.owner);
    const [sandboxes, containers] = await Promise.all([
      this.client.runtime('ListPodSandbox', { filter: { labelSelector: { ...selector, [Labels.type]: 'podsandbox' } } }),
      this.client.runtime('ListContainers', { filter: { labelSelector: { ...selector, [Labels.type]: 'container' } } }),
    ]);
    return [...sandboxes.items.map(sandboxSummary), ...containers.containers.map(containerSummary)];
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    const { status } = await this.client.runtime('ContainerStatus', { containerId: id });
    if (!status || !isOwned(status.labels, this.owner)) throw new AgentError(ErrorCode.RuntimeNotFound, `container ${id} not found`);
    return toContainerStatus(status);
  }

  /** The runtime's streaming server serves the exec; the agent proxies the client's connection to this URL. */
  async execStreaming(id: string, r: ExecStreamRequest): Promise<StreamingExec> {
    const { url } = await this.client.runtime('Exec', { containerId: id, cmd: r.command, tty: r.tty, stdin: r.stdin, stdout: r.stdout, stderr: r.stderr && !r.tty });
    if (!url) throw new AgentError(ErrorCode.RuntimeCall, `the runtime answered Exec for container ${id} without a streaming URL`);
    return { kind: 'url', url };
  }

  async attachStreaming(id: string, r: AttachStreamRequest): Promise<StreamingExec> {
    const { url } = await this.client.runtime('Attach', { containerId: id, stdin: r.stdin, tty: r.tty, stdout: r.stdout, stderr: r.stderr && !r.tty });
    if (!url) throw new AgentError(ErrorCode.RuntimeCall, `the runtime answered Attach for container ${id} without a streaming URL`);
    return { kind: 'url', url };
  }

  async execSync(id: string, command: string[], timeoutSeconds: number): Promise<ExecResult> {
    const timeout = Math.max(1, Math.ceil(timeoutSeconds));
    try {
      // The runtime kills the command at `timeout`; the deadline leaves it time to say so.
      const r = await this.client.runtime('ExecSync', { containerId: id, cmd: command, timeout: String(timeout) }, timeout * 1000 + this.options.timeoutMs);
      // The response is whole already (gRPC refuses one over MAX_MESSAGE_BYTES, as kubelet's client
      // does); keep no more of it than the Docker backend keeps while streaming.
      return { exitCode: r.exitCode, stdout: r.stdout.subarray(0, maxExecOutputBytes).toString(), stderr: r.stderr.subarray(0, maxExecOutputBytes).toString(), timedOut: false };
    } catch (err) {
      // The runtime's own timeout: "failed to exec in container: timeout 1s exceeded: context
      // deadline exceeded". Our deadline passing instead means the runtime hung: that stays an
      // error (a probe counts it as unknown, not as the container's failure).
      if (isAgentError(err) && /timeout \S+ exceeded/.test(err.message)) {
        return { exitCode: -1, stdout: '', stderr: '', timedOut: true };
      }
      throw err;
    }
  }

  async logs(id: string, options: LogOptions = {}): Promise<string> {
    const status = await this.containerStatus(id);
    if (!status.logPath) return '';
    const text = await readFile(status.logPath, 'utf8').catch((err: unknown) => {
      if ((err as { code?: string }).code === 'ENOENT') return '';
      throw err;
    });
    return formatCriLog(text, options);
  }

  // --- images

  async pullImage(image: string): Promise<string> {
    try {
      const { imageRef } = await this.client.image('PullImage', { image: { image } }, PULL_TIMEOUT_MS);
      return imageRef;
    } catch (err) {
      throw new AgentError(ErrorCode.ImagePull, `pulling ${image}: ${describeCause(err)}`, { cause: err, reason: 'ErrImagePull' });
    }
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    const { image: found } = await this.client.image('ImageStatus', { image: { image } });
    return found ? toImageInfo(found) : undefined;
  }

  async listImages(): Promise<ImageInfo[]> {
    return (await this.client.image('ListImages', {})).images.map(toImageInfo);
  }

  async removeImage(image: string): Promise<void> {
    await this.unlessNotFound(this.client.image('RemoveImage', { image: { image } }));
  }

  // --- log rotation

  /** One pass of kubelet's container log manager over the running containers; see log-rotation.ts. */
  async rotateLogs(now = new Date()): Promise<number> {
    if (this.rotating) return 0;
    this.rotating = true;
    let rotated = 0;
    try {
      const maxBytes = this.options.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES;
      const maxFiles = this.options.logMaxFiles ?? DEFAULT_LOG_MAX_FILES;
      const { containers } = await this.client.runtime('ListContainers', {
        filter: { state: { state: 'CONTAINER_RUNNING' }, labelSelector: { ...ownerLabels(this.owner), [Labels.type]: 'container' } },
      });
      // A container's log path never changes: asked once, not every 10 s for every container.
      const live = new Set(containers.map((c) => c.id));
      for (const id of this.logPaths.keys()) if (!live.has(id)) this.logPaths.delete(id);
      for (const c of containers) {
        let logPath = this.logPaths.get(c.id);
        if (logPath === undefined) {
          logPath = (await this.containerStatus(c.id).catch(() => undefined))?.logPath ?? '';
          this.logPaths.set(c.id, logPath);
        }
        if (!logPath) continue;
        const size = await stat(logPath).then((s) => s.size, () => 0);
        if (size < maxBytes) continue;
        const rotatedPath = rotatedName(logPath, now);
        await rename(logPath, rotatedPath);
        // containerd opens a new file at the old path; should it fail, kubelet renames back.
        try {
          await this.client.runtime('ReopenContainerLog', { containerId: c.id });
        } catch (err) {
          await rename(rotatedPath, logPath).catch(() => undefined);
          throw err;
        }
        const dir = dirname(logPath);
        for (const name of rotatedToDelete(logPath, await readdir(dir), maxFiles)) await rm(join(dir, name), { force: true });
        rotated++;
      }
    } finally {
      this.rotating = false;
    }
    return rotated;
  }

  private async removeLogFiles(logPath: string): Promise<void> {
    await rm(logPath, { force: true });
    const dir = dirname(logPath);
    const siblings = await readdir(dir).catch(() => []);
    for (const name of rotatedToDelete(logPath, siblings, 1)) await rm(join(dir, name), { force: true });
  }

  /** The call's answer, or undefined when what it names is gone (CRI's stop and remove are idempotent too). */
  private async unlessNotFound<T>(call: Promise<T>): Promise<T | undefined> {
    try {
      return await call;
    } catch (err) {
      if (isAgentError(err, ErrorCode.RuntimeNotFound)) return undefined;
      throw err;
    }
  }
}

/** The runtime's own words from a failed call, without our "Service/Method:" prefix. */
function describeCause(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^(RuntimeService|ImageService)\/\w+: /, '');
}

/** containerd's verbose sandbox info names the pause process; its netns is the pod's. */
function netnsPathOf(info: Record<string, string>): string {
  try {
    const parsed = JSON.parse(info['info'] ?? '{}') as { pid?: number };
    return parsed.pid && parsed.pid > 0 ? `/proc/${parsed.pid}/ns/net` : '';
  } catch {
    return '';
  }
}
