/**
 * The runtime seam: a CRI-shaped interface in the agent's own types, mirroring
 * runtime.v1.RuntimeService / ImageService (RunPodSandbox, CreateContainer, ...). Backends
 * (Docker through dockerode, containerd through its CRI over gRPC) live behind it and never leak
 * their client types. Every object a backend creates carries the labels in `labels.ts`, so the agent
 * finds and adopts its own work and never touches anything else.
 */
import type { Readable, Writable } from 'node:stream';

export interface RuntimeVersion {
  /** Runtime name as the Node reports it, e.g. "docker" or "containerd". */
  runtimeName: string;
  runtimeVersion: string;
  /** The CRI API version the backend speaks, e.g. "v1". */
  runtimeApiVersion: string;
}

export interface RuntimeCondition {
  type: 'RuntimeReady' | 'NetworkReady';
  status: boolean;
  reason: string;
  message: string;
}

/** Which pod a sandbox or container belongs to (CRI's PodSandboxMetadata). */
export interface PodRef {
  name: string;
  namespace: string;
  uid: string;
  /** Sandbox attempt: 0 for the first sandbox of this pod uid, +1 each time it is recreated. */
  attempt: number;
}

export interface PortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  containerPort: number;
  /** 0 when the port is only declared, not published on the node. */
  hostPort: number;
  hostIP: string;
}

/** The pod-level Linux security context (CRI's LinuxSandboxSecurityContext). */
export interface SandboxSecurity {
  runAsUser?: number;
  runAsGroup?: number;
  supplementalGroups?: number[];
  /** Any container of the pod is privileged (the sandbox must be too, as kubelet decides). */
  privileged: boolean;
  /** hostPID / hostIPC: the pod's containers share the node's PID / IPC namespace. */
  hostPID: boolean;
  hostIPC: boolean;
  /** Pod sysctls (already admitted: safe, or allowed by allowedUnsafeSysctls), set in the sandbox's namespaces. */
  sysctls: Record<string, string>;
}

export interface SandboxConfig {
  pod: PodRef;
  hostname: string;
  /** Host network: the sandbox shares the node's network namespace. */
  hostNetwork: boolean;
  /** Share one PID namespace among the pod's containers (shareProcessNamespace). */
  shareProcessNamespace: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Directory holding this pod's container logs (<logs>/<ns>_<name>_<uid>). */
  logDirectory: string;
  /** Every declared container port; those with a hostPort are published on the node. */
  portMappings: PortMapping[];
  /** The pod's cgroup (kubelet's cgroupfs naming, /kubepods/<qos>/pod<uid>); '' leaves it to the runtime. */
  cgroupParent: string;
  security: SandboxSecurity;
  /** /etc/resolv.conf and /etc/hosts contents the backend mounts into every container, if given. */
  dnsConfig?: { servers: string[]; searches: string[]; options: string[] };
}

export type SandboxState = 'ready' | 'notready';

export interface SandboxStatus {
  id: string;
  pod: PodRef;
  state: SandboxState;
  createdAt: Date;
  /** Pod IP, once the network is wired (empty for host network and before CNI). */
  ip: string;
  /** Network namespace path of the sandbox (e.g. /proc/<pid>/ns/net), for CNI. */
  netnsPath: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface Resources {
  /** CPU shares from the cpu request (kubelet: milliCPU * 1024 / 1000, at least 2). */
  cpuShares?: number;
  /** CFS quota/period from the cpu limit. */
  cpuQuota?: number;
  cpuPeriod?: number;
  memoryLimitBytes?: number;
}

/**
 * A seccomp profile as Kubernetes names it. Kubelet's default for an unset profile is Unconfined
 * (unless its seccompDefault is on); Localhost names a file below <root-dir>/seccomp.
 */
export type SeccompProfile = { type: 'RuntimeDefault' } | { type: 'Unconfined' } | { type: 'Localhost'; localhostProfile: string };

export interface SecurityConfig {
  runAsUser?: number;
  runAsGroup?: number;
  supplementalGroups?: number[];
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  readOnlyRootFilesystem: boolean;
  /** allowPrivilegeEscalation: false, as the no_new_privs bit. */
  noNewPrivileges: boolean;
  seccomp: SeccompProfile;
}

export interface ContainerConfig {
  /** Container name inside the pod, and its restart attempt (0, 1, ...). */
  name: string;
  attempt: number;
  image: string;
  /** Overrides of the image's ENTRYPOINT / CMD (Kubernetes command / args); undefined keeps the image's. */
  command?: string[];
  args?: string[];
  workingDir?: string;
  env: { name: string; value: string }[];
  mounts: Mount[];
  resources: Resources;
  security: SecurityConfig;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Log file path relative to the sandbox's logDirectory, e.g. "app/0.log". */
  logPath: string;
  /** Keep stdin open / allocate a tty (stdin, tty in the spec). */
  stdin: boolean;
  tty: boolean;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerStatus {
  id: string;
  /** Sandbox the container belongs to. */
  sandboxId: string;
  name: string;
  attempt: number;
  state: ContainerState;
  image: string;
  /** Resolved image reference, e.g. docker-pullable://... or the image id (sha256:...). */
  imageRef: string;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
  /** Runtime's reason for exit: "OOMKilled", "Error", "Completed". */
  reason?: string;
  message?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Absolute path of the container's log file, if the runtime keeps one. */
  logPath?: string;
}

/**
 * The most of each exec stream (stdout, stderr) a runtime keeps for execSync, read as it streams:
 * kubelet keeps 10 KiB of a probe's output, and probes and hooks are what execSync serves.
 */
export const maxExecOutputBytes = 10 * 1024;

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** True when the command was still running at the timeout (it is then killed). */
  timedOut: boolean;
}

/** A command to run in a container with its streams attached: `kubectl exec`. */
export interface ExecStreamRequest {
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** Streams to attach to a container's main process: `kubectl attach`, `kubectl run -it`. */
export type AttachStreamRequest = Omit<ExecStreamRequest, 'command'>;

/**
 * A command running in a container with its streams open, for runtimes that stream through the
 * agent (Docker). With a tty, stderr is folded into stdout and there is none.
 */
export interface ExecSession {
  stdin?: Writable;
  stdout?: Readable;
  stderr?: Readable;
  resize(width: number, height: number): Promise<void>;
  /** The exit code, once the command has ended and its output has been read. */
  exited: Promise<number>;
  /** Drops the streams (the client went away); the command may run on, as with kubelet. */
  close(): void;
}

/**
 * Where an exec is served: a CRI runtime answers with its own streaming server's URL, which the
 * agent proxies to (as kubelet does); Docker gives the streams to the agent, which serves them.
 * The session starts only once the client's streams are open (and its terminal size known), so a
 * client that never comes leaves no process behind.
 */
export type StreamingExec = { kind: 'url'; url: string } | { kind: 'session'; start: () => Promise<ExecSession> };

export interface ImageInfo {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  sizeBytes: number;
  /**
   * The user the image runs as, as CRI's Image reports it: a numeric uid, or else a user name.
   * Neither means root. kubelet's runAsNonRoot check reads it.
   */
  uid?: number;
  username?: string;
}

export interface LogOptions {
  tailLines?: number;
  /** Only lines after this time. */
  since?: Date;
  timestamps?: boolean;
}

/** Filters for listing: by labels (exact match), and for containers by sandbox. */
export interface ListFilter {
  labels?: Record<string, string>;
  sandboxId?: string;
}

/** What one cheap list call tells about an object: enough to notice a change (CRI's ListContainers). */
export interface RuntimeObjectSummary {
  id: string;
  kind: 'sandbox' | 'container';
  state: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Runtime {
  /** Fails with ERR_RUNTIME_UNAVAILABLE when the runtime does not answer. */
  version(): Promise<RuntimeVersion>;
  /** Whether the runtime can run containers now; never throws (an unreachable runtime is a condition). */
  status(): Promise<RuntimeCondition[]>;
  /**
   * A directory on the filesystem that holds the runtime's images (Docker's root directory,
   * containerd's snapshotter), for kubelet's imagefs.available signal. Fails with
   * ERR_RUNTIME_UNAVAILABLE when the runtime does not answer.
   */
  imageFilesystem(): Promise<string>;
  /**
   * CNI GC for backends that wire pod networks themselves: releases addresses and interfaces of
   * sandboxes that no longer exist, and checks those of running sandboxes. A sandbox whose network
   * is not what set-up made (the agent died half-way) reads as not ready from then on, so its pod
   * worker replaces it.
   */
  collectNetwork?(): Promise<{ released: number; broken: { sandboxId: string; problem: string }[] }>;

  runSandbox(config: SandboxConfig): Promise<string>;
  /** Stops every container of the sandbox and the sandbox itself; idempotent. */
  stopSandbox(id: string): Promise<void>;
  /** Removes the sandbox and its containers; idempotent (a missing sandbox is fine). */
  removeSandbox(id: string): Promise<void>;
  sandboxStatus(id: string): Promise<SandboxStatus>;
  listSandboxes(filter?: ListFilter): Promise<SandboxStatus[]>;

  createContainer(sandboxId: string, config: ContainerConfig, sandbox: SandboxConfig): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** Signals the container to stop (its image's stop signal, else SIGTERM), SIGKILL after timeoutSeconds. */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  listContainers(filter?: ListFilter): Promise<ContainerStatus[]>;
  /** Every sandbox and container of this agent, from one list call without per-object inspection. */
  listSummaries(): Promise<RuntimeObjectSummary[]>;
  containerStatus(id: string): Promise<ContainerStatus>;
  execSync(id: string, command: string[], timeoutSeconds: number): Promise<ExecResult>;
  /** Starts a command with attached streams (kubectl exec); fails like execSync for a container that is gone. */
  execStreaming(id: string, request: ExecStreamRequest): Promise<StreamingExec>;
  /** Attaches to the container's own process; the session ends when the process does (or the client goes). */
  attachStreaming(id: string, request: AttachStreamRequest): Promise<StreamingExec>;
  /** The container's log as text (both streams, in order). */
  logs(id: string, options?: LogOptions): Promise<string>;

  pullImage(image: string): Promise<string>;
  /** Undefined when the image is not present. */
  imageStatus(image: string): Promise<ImageInfo | undefined>;
  listImages(): Promise<ImageInfo[]>;
  /**
   * Removes the image; a missing one is fine. With CRI the image goes with every tag it has (the
   * runtime removes by image id, as kubelet's image GC does); Docker untags `image` only.
   */
  removeImage(image: string): Promise<void>;

  close(): Promise<void>;
}

/** "docker://20.10.24": the form Node.status.nodeInfo.containerRuntimeVersion takes. */
export function formatRuntimeVersion(version: RuntimeVersion): string {
  return `${version.runtimeName}://${version.runtimeVersion}`;
}
