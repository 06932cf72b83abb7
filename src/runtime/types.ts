/**
 * The runtime seam: a CRI-shaped interface in the agent's own types. Backends (Docker through
 * dockerode today, containerd's CRI later) live behind it and never leak their client types.
 * It grows method by method as the agent needs them (sandboxes and containers come with pods).
 */
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

export interface Runtime {
  /** Fails with ERR_RUNTIME_UNAVAILABLE when the runtime does not answer. */
  version(): Promise<RuntimeVersion>;
  /** Whether the runtime can run containers now; never throws (an unreachable runtime is a condition). */
  status(): Promise<RuntimeCondition[]>;
  close(): Promise<void>;
}

/** "docker://20.10.24": the form Node.status.nodeInfo.containerRuntimeVersion takes. */
export function formatRuntimeVersion(version: RuntimeVersion): string {
  return `${version.runtimeName}://${version.runtimeVersion}`;
}
