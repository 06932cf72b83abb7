/**
 * The CRI messages of api.proto as @grpc/proto-loader hands them over with the options in
 * cri-client.ts: field names in camelCase, int64 as decimal strings (nanosecond timestamps do not
 * fit a double), enums by name, and every field present (proto3 defaults filled in). Requests may
 * leave fields out; responses always carry them.
 */

export type Int64 = string;

export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface CriRuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface StatusResponse {
  status: { conditions: CriRuntimeCondition[] } | null;
  info: Record<string, string>;
}

export interface DNSConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface PortMapping {
  protocol: Protocol;
  containerPort: number;
  hostPort: number;
  hostIp: string;
}

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  targetId?: string;
}

export interface Int64Value {
  value: Int64;
}

export interface SecurityProfile {
  profileType: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostRef?: string;
}

export interface LinuxSandboxSecurityContext {
  namespaceOptions?: NamespaceOption;
  runAsUser?: Int64Value;
  runAsGroup?: Int64Value;
  readonlyRootfs?: boolean;
  supplementalGroups?: Int64[];
  privileged?: boolean;
  /** The deprecated string form ("runtime/default", "unconfined", "localhost/<path>"), sent beside `seccomp` as kubelet does for older runtimes. */
  seccompProfilePath?: string;
  seccomp?: SecurityProfile;
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname: string;
  logDirectory: string;
  dnsConfig?: DNSConfig;
  portMappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  linux: { cgroupParent: string; securityContext: LinuxSandboxSecurityContext; sysctls?: Record<string, string> };
}

export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: PodSandboxState;
  createdAt: Int64;
  network: { ip: string; additionalIps: { ip: string }[] } | null;
  linux: { namespaces: { options: NamespaceOption | null } | null } | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

export interface PodSandboxStatusResponse {
  status: PodSandboxStatus | null;
  info: Record<string, string>;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: PodSandboxState;
  createdAt: Int64;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface PodSandboxFilter {
  id?: string;
  state?: { state: PodSandboxState };
  labelSelector?: Record<string, string>;
}

export interface ImageSpec {
  image: string;
  annotations?: Record<string, string>;
  userSpecifiedImage?: string;
}

export interface CriMount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  selinuxRelabel?: boolean;
  propagation?: 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';
}

export interface LinuxContainerResources {
  cpuPeriod?: Int64;
  cpuQuota?: Int64;
  cpuShares?: Int64;
  memoryLimitInBytes?: Int64;
  oomScoreAdj?: Int64;
  memorySwapLimitInBytes?: Int64;
}

export interface LinuxContainerSecurityContext {
  capabilities?: { addCapabilities: string[]; dropCapabilities: string[] };
  privileged?: boolean;
  namespaceOptions?: NamespaceOption;
  runAsUser?: Int64Value;
  runAsGroup?: Int64Value;
  readonlyRootfs?: boolean;
  supplementalGroups?: Int64[];
  noNewPrivs?: boolean;
  seccompProfilePath?: string;
  seccomp?: SecurityProfile;
}

export interface CriContainerConfig {
  metadata: { name: string; attempt: number };
  image: ImageSpec;
  command: string[];
  args: string[];
  workingDir: string;
  envs: { key: string; value: string }[];
  mounts: CriMount[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  linux: { resources: LinuxContainerResources; securityContext: LinuxContainerSecurityContext };
}

export type CriContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface CriContainer {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number } | null;
  image: ImageSpec | null;
  imageRef: string;
  state: CriContainerState;
  createdAt: Int64;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ContainerFilter {
  id?: string;
  state?: { state: CriContainerState };
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

export interface CriContainerStatus {
  id: string;
  metadata: { name: string; attempt: number } | null;
  state: CriContainerState;
  createdAt: Int64;
  startedAt: Int64;
  finishedAt: Int64;
  exitCode: number;
  image: ImageSpec | null;
  imageRef: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  mounts: CriMount[];
  logPath: string;
}

export interface ExecSyncResponse {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export interface CriImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: Int64;
  uid: Int64Value | null;
  username: string;
  pinned: boolean;
}

export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

/** Every call the agent makes, request and response, by service and method name. */
export interface RuntimeServiceCalls {
  Version: [{ version: string }, VersionResponse];
  Status: [{ verbose?: boolean }, StatusResponse];
  RunPodSandbox: [{ config: PodSandboxConfig; runtimeHandler?: string }, { podSandboxId: string }];
  StopPodSandbox: [{ podSandboxId: string }, object];
  RemovePodSandbox: [{ podSandboxId: string }, object];
  PodSandboxStatus: [{ podSandboxId: string; verbose?: boolean }, PodSandboxStatusResponse];
  ListPodSandbox: [{ filter?: PodSandboxFilter }, { items: PodSandbox[] }];
  CreateContainer: [{ podSandboxId: string; config: CriContainerConfig; sandboxConfig: PodSandboxConfig }, { containerId: string }];
  StartContainer: [{ containerId: string }, object];
  StopContainer: [{ containerId: string; timeout: Int64 }, object];
  RemoveContainer: [{ containerId: string }, object];
  ListContainers: [{ filter?: ContainerFilter }, { containers: CriContainer[] }];
  ContainerStatus: [{ containerId: string; verbose?: boolean }, { status: CriContainerStatus | null; info: Record<string, string> }];
  ReopenContainerLog: [{ containerId: string }, object];
  ExecSync: [{ containerId: string; cmd: string[]; timeout: Int64 }, ExecSyncResponse];
  Attach: [{ containerId: string; stdin: boolean; tty: boolean; stdout: boolean; stderr: boolean }, { url: string }];
  Exec: [{ containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }, { url: string }];
}

export interface ImageServiceCalls {
  ListImages: [{ filter?: { image?: ImageSpec } }, { images: CriImage[] }];
  ImageStatus: [{ image: ImageSpec; verbose?: boolean }, { image: CriImage | null; info: Record<string, string> }];
  PullImage: [{ image: ImageSpec; auth?: AuthConfig; sandboxConfig?: PodSandboxConfig }, { imageRef: string }];
  RemoveImage: [{ image: ImageSpec }, object];
  ImageFsInfo: [object, { imageFilesystems: { fsId: { mountpoint: string } | null }[] }];
}
