import { Readable } from 'node:stream';
import { AgentError, ErrorCode } from '../../src/errors.ts';
import { Annotations, containerLabels, sandboxLabels } from '../../src/runtime/labels.ts';
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
} from '../../src/runtime/types.ts';

/**
 * An in-memory Runtime, as kubelet's fake_kuberuntime_manager is for its pod syncer: sandboxes and
 * containers with the states a real runtime gives them, driven by the test (a container exits, the
 * runtime goes down, the next call of a method fails). Every call is recorded, so a test can say
 * "nothing was created" after an adoption. Time comes from `now`, so backoffs can be stepped.
 *
 * It keeps the contract the real backends keep (test/integration/runtime-contract.test.ts checks
 * Docker and containerd against the same rules): removal is idempotent, stopping a stopped
 * container is fine, listing filters by labels and sandbox, unknown ids are RuntimeNotFound.
 */

interface FakeSandbox {
  status: SandboxStatus;
  config: SandboxConfig;
}

interface FakeContainer {
  status: ContainerStatus;
  config: ContainerConfig;
}

export interface FakeCall {
  method: string;
  args: unknown[];
}

export class FakeRuntime implements Runtime {
  readonly sandboxes = new Map<string, FakeSandbox>();
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Map<string, ImageInfo>();
  readonly calls: FakeCall[] = [];
  /** The runtime does not answer (every call fails with RuntimeUnavailable; status reports it). */
  down = false;
  /** Answers for execSync, by command; a missing one exits 0 with no output. */
  exec: (id: string, command: string[]) => Partial<ExecResult> = () => ({});
  /** Images that cannot be pulled (the message the pull fails with). */
  readonly unpullable = new Map<string, string>();
  private readonly failures = new Map<string, Error[]>();
  private nextId = 1;
  private nextIp = 2;
  now: () => number;

  constructor(options: { now?: () => number; images?: string[] } = {}) {
    this.now = options.now ?? Date.now;
    for (const image of options.images ?? ['localhost/busybox:1']) this.addImage(image);
  }

  addImage(image: string): void {
    this.images.set(image, { id: `sha256:${image.replace(/[^a-z0-9]/g, '')}`, repoTags: [image], repoDigests: [], sizeBytes: 1000 });
  }

  /** The next call of `method` fails with `err` (queued: one per call). */
  failNext(method: keyof Runtime, err: Error): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), err]);
  }

  /** Calls made to `method`, in order. */
  callsOf(method: keyof Runtime): FakeCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** A running container ends (its process exited, was OOM killed, was killed behind the agent's back). */
  exit(id: string, exitCode: number, reason?: string): void {
    const c = this.mustContainer(id);
    c.status = { ...c.status, state: 'exited', exitCode, reason: reason ?? (exitCode === 0 ? 'Completed' : 'Error'), finishedAt: new Date(this.now()) };
  }

  /** The running containers of a pod container name, newest first. */
  containersNamed(name: string, state?: ContainerStatus['state']): ContainerStatus[] {
    return [...this.containers.values()]
      .map((c) => c.status)
      .filter((c) => c.name === name && (state === undefined || c.state === state))
      .sort((a, b) => b.attempt - a.attempt);
  }

  private record(method: string, args: unknown[]): void {
    this.calls.push({ method, args });
    if (this.down) throw new AgentError(ErrorCode.RuntimeUnavailable, 'fake runtime is down');
    const queued = this.failures.get(method);
    const err = queued?.shift();
    if (err) throw err;
  }

  private mustSandbox(id: string): FakeSandbox {
    const s = this.sandboxes.get(id);
    if (!s) throw new AgentError(ErrorCode.RuntimeNotFound, `sandbox ${id} not found`);
    return s;
  }

  private mustContainer(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new AgentError(ErrorCode.RuntimeNotFound, `container ${id} not found`);
    return c;
  }

  async version(): Promise<RuntimeVersion> {
    this.record('version', []);
    return { runtimeName: 'fake', runtimeVersion: '1.0', runtimeApiVersion: 'v1' };
  }

  /** Where the fake says its images live; tests point it at a directory of their own. */
  imageFsPath = '/';

  async imageFilesystem(): Promise<string> {
    this.record('imageFilesystem', []);
    return this.imageFsPath;
  }

  async status(): Promise<RuntimeCondition[]> {
    this.calls.push({ method: 'status', args: [] });
    return this.down
      ? [{ type: 'RuntimeReady', status: false, reason: 'FakeDown', message: 'fake runtime is down' }]
      : [{ type: 'RuntimeReady', status: true, reason: '', message: '' }, { type: 'NetworkReady', status: true, reason: '', message: '' }];
  }

  async runSandbox(config: SandboxConfig): Promise<string> {
    this.record('runSandbox', [config]);
    const id = `sandbox-${this.nextId++}`;
    const labels = sandboxLabels(config.pod, config.labels);
    this.sandboxes.set(id, {
      config,
      status: {
        id,
        pod: { ...config.pod },
        state: 'ready',
        createdAt: new Date(this.now()),
        ip: config.hostNetwork ? '' : `10.244.0.${this.nextIp++}`,
        netnsPath: `/proc/fake/${id}/ns/net`,
        labels,
        annotations: { ...config.annotations },
      },
    });
    return id;
  }

  async stopSandbox(id: string): Promise<void> {
    this.record('stopSandbox', [id]);
    const s = this.sandboxes.get(id);
    if (!s) return;
    for (const c of this.containers.values()) {
      if (c.status.sandboxId === id && c.status.state === 'running') this.exit(c.status.id, 137);
    }
    s.status = { ...s.status, state: 'notready', ip: '', netnsPath: '' };
  }

  async removeSandbox(id: string): Promise<void> {
    this.record('removeSandbox', [id]);
    for (const [cid, c] of this.containers) if (c.status.sandboxId === id) this.containers.delete(cid);
    this.sandboxes.delete(id);
  }

  async sandboxStatus(id: string): Promise<SandboxStatus> {
    this.record('sandboxStatus', [id]);
    return { ...this.mustSandbox(id).status };
  }

  async listSandboxes(filter: ListFilter = {}): Promise<SandboxStatus[]> {
    this.record('listSandboxes', [filter]);
    return [...this.sandboxes.values()].map((s) => ({ ...s.status })).filter((s) => matches(s.labels, filter.labels));
  }

  async createContainer(sandboxId: string, config: ContainerConfig, sandbox: SandboxConfig): Promise<string> {
    this.record('createContainer', [sandboxId, config, sandbox]);
    const sb = this.mustSandbox(sandboxId);
    if (!this.images.has(config.image)) throw new AgentError(ErrorCode.ContainerCreate, `image "${config.image}" not present`);
    const id = `container-${this.nextId++}`;
    this.containers.set(id, {
      config,
      status: {
        id,
        sandboxId,
        name: config.name,
        attempt: config.attempt,
        state: 'created',
        image: config.image,
        imageRef: this.images.get(config.image)?.id ?? '',
        createdAt: new Date(this.now()),
        labels: containerLabels(sandboxId, config.name, sb.config.pod, config.labels),
        annotations: { ...config.annotations, [Annotations.containerAttempt]: String(config.attempt) },
      },
    });
    return id;
  }

  async startContainer(id: string): Promise<void> {
    this.record('startContainer', [id]);
    const c = this.mustContainer(id);
    if (c.status.state !== 'created') throw new AgentError(ErrorCode.ContainerStart, `container ${id} is ${c.status.state}, not created`);
    c.status = { ...c.status, state: 'running', startedAt: new Date(this.now()) };
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    this.record('stopContainer', [id, timeoutSeconds]);
    const c = this.containers.get(id);
    if (c?.status.state === 'running') this.exit(id, 137);
  }

  async removeContainer(id: string): Promise<void> {
    this.record('removeContainer', [id]);
    this.containers.delete(id);
  }

  async listContainers(filter: ListFilter = {}): Promise<ContainerStatus[]> {
    this.record('listContainers', [filter]);
    return [...this.containers.values()]
      .map((c) => ({ ...c.status }))
      .filter((c) => matches(c.labels, filter.labels) && (filter.sandboxId === undefined || c.sandboxId === filter.sandboxId));
  }

  async listSummaries(): Promise<RuntimeObjectSummary[]> {
    this.record('listSummaries', []);
    return [
      ...[...this.sandboxes.values()].map((s) => ({ id: s.status.id, kind: 'sandbox' as const, state: s.status.state, labels: s.status.labels, annotations: s.status.annotations })),
      ...[...this.containers.values()].map((c) => ({ id: c.status.id, kind: 'container' as const, state: c.status.state, labels: c.status.labels, annotations: c.status.annotations })),
    ];
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    this.record('containerStatus', [id]);
    return { ...this.mustContainer(id).status };
  }

  async execSync(id: string, command: string[], timeoutSeconds: number): Promise<ExecResult> {
    this.record('execSync', [id, command, timeoutSeconds]);
    if (this.mustContainer(id).status.state !== 'running') throw new AgentError(ErrorCode.RuntimeCall, `container ${id} is not running`);
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...this.exec(id, command) };
  }

  /** A session whose output and exit code are execSync's answer for the command. */
  async execStreaming(id: string, request: ExecStreamRequest): Promise<StreamingExec> {
    this.record('execStreaming', [id, request.command]);
    if (this.mustContainer(id).status.state !== 'running') throw new AgentError(ErrorCode.RuntimeCall, `container ${id} is not running`);
    const answer = { exitCode: 0, stdout: '', stderr: '', ...this.exec(id, request.command) };
    const stdout = Readable.from(answer.stdout ? [Buffer.from(answer.stdout)] : []);
    const stderr = Readable.from(answer.stderr ? [Buffer.from(answer.stderr)] : []);
    return { kind: 'session', start: async () => ({ stdout, stderr, resize: async () => undefined, exited: Promise.resolve(answer.exitCode), close: () => undefined }) };
  }

  async attachStreaming(id: string, _request: AttachStreamRequest): Promise<StreamingExec> {
    this.record('attachStreaming', [id]);
    if (this.mustContainer(id).status.state !== 'running') throw new AgentError(ErrorCode.RuntimeCall, `container ${id} is not running`);
    return { kind: 'session', start: async () => ({ stdout: Readable.from([]), resize: async () => undefined, exited: Promise.resolve(0), close: () => undefined }) };
  }

  async logs(id: string, _options?: LogOptions): Promise<string> {
    this.record('logs', [id]);
    this.mustContainer(id);
    return '';
  }

  async pullImage(image: string): Promise<string> {
    this.record('pullImage', [image]);
    const refused = this.unpullable.get(image);
    if (refused !== undefined) throw new AgentError(ErrorCode.ImagePull, `pulling ${image}: ${refused}`, { reason: 'ErrImagePull' });
    this.addImage(image);
    return this.images.get(image)?.id ?? '';
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    this.record('imageStatus', [image]);
    return this.images.get(image);
  }

  async listImages(): Promise<ImageInfo[]> {
    this.record('listImages', []);
    return [...this.images.values()];
  }

  async removeImage(image: string): Promise<void> {
    this.record('removeImage', [image]);
    this.images.delete(image);
  }

  async close(): Promise<void> {}
}

function matches(labels: Record<string, string>, wanted: Record<string, string> | undefined): boolean {
  return Object.entries(wanted ?? {}).every(([k, v]) => labels[k] === v);
}
