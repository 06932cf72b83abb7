/**
 * Errors the agent raises on purpose. Each carries a stable `code` (never reworded, safe to match
 * on in tests and alerts), a message for humans that names the fix where there is one, and, when
 * the error ends up on a Kubernetes object, the `reason` the kubelet would use there.
 */
export const ErrorCode = {
  ConfigInvalid: 'ERR_CONFIG_INVALID',
  ConfigUnreadable: 'ERR_CONFIG_UNREADABLE',
  KubeconfigInvalid: 'ERR_KUBECONFIG_INVALID',
  ApiserverUnreachable: 'ERR_APISERVER_UNREACHABLE',
  ApiserverForbidden: 'ERR_APISERVER_FORBIDDEN',
  ApiserverUnauthorized: 'ERR_APISERVER_UNAUTHORIZED',
  ApiserverConflict: 'ERR_APISERVER_CONFLICT',
  ApiserverError: 'ERR_APISERVER',
  RuntimeUnavailable: 'ERR_RUNTIME_UNAVAILABLE',
  /** Not found in the runtime (sandbox, container or image). */
  RuntimeNotFound: 'ERR_RUNTIME_NOT_FOUND',
  /** The runtime answered, with an error of its own (a CRI call that failed for its reasons). */
  RuntimeCall: 'ERR_RUNTIME_CALL',
  SandboxCreate: 'ERR_SANDBOX_CREATE', // FailedCreatePodSandBox
  ContainerCreate: 'ERR_CONTAINER_CREATE', // CreateContainerError
  ContainerStart: 'ERR_CONTAINER_START', // RunContainerError
  ImagePull: 'ERR_IMAGE_PULL', // ErrImagePull
  ImageNeverPull: 'ERR_IMAGE_NEVER_PULL', // ErrImageNeverPull
  VolumeMount: 'ERR_VOLUME_MOUNT', // FailedMount
  ConfigReference: 'ERR_CONFIG_REFERENCE', // CreateContainerConfigError
  /** A container's configuration cannot be made safely (a subPath out of its volume, ...). */
  ContainerConfig: 'ERR_CONTAINER_CONFIG', // CreateContainerConfigError
  NetworkSetUp: 'ERR_NETWORK_SETUP', // FailedCreatePodSandBox (network)
  NotImplemented: 'ERR_NOT_IMPLEMENTED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class AgentError extends Error {
  readonly code: ErrorCode;
  /** The Kubernetes reason this maps to when reported on an object (Event, condition). */
  readonly reason: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; reason?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.code = code;
    this.reason = options.reason;
  }
}

export function isAgentError(err: unknown, code?: ErrorCode): err is AgentError {
  return err instanceof AgentError && (code === undefined || err.code === code);
}

/** A short, single-line description of any thrown value, for logs and CLI messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
