/**
 * The shapes of the CNI specification (1.0 / 1.1) this plugin reads and writes, and its errors.
 * https://github.com/containernetworking/cni/blob/main/SPEC.md
 */

export const PLUGIN_TYPE = 'node-agent-bridge';
export const SUPPORTED_VERSIONS = ['1.0.0', '1.1.0'] as const;
export const CURRENT_VERSION = '1.1.0';

export const Commands = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof Commands)[number];

/** Error codes 1-99 are the spec's; 100 and up are this plugin's own. */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  /** ADD for a container/interface that already holds an allocation: the runtime must DEL first. */
  AlreadyAttached: 100,
  /** The pod subnet has no free address left. */
  RangeFull: 101,
  /** CHECK found the attachment not as ADD left it. */
  CheckFailed: 102,
  /** A kernel (netlink or ip) operation failed. */
  KernelFailure: 103,
} as const;
export type CniCode = (typeof CniCode)[keyof typeof CniCode];

export class CniError extends Error {
  readonly cniCode: CniCode;
  readonly details: string | undefined;
  constructor(code: CniCode, msg: string, details?: string) {
    super(msg);
    this.name = 'CniError';
    this.cniCode = code;
    this.details = details;
  }
}

export interface DnsConfig {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** The network configuration this plugin accepts on stdin (one entry of a conflist). */
export interface BridgeNetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** Bridge on the node that pods attach to. */
  bridge: string;
  /** The node's pod CIDR, e.g. 10.244.1.0/24. */
  subnet: string;
  /** Gateway on the bridge; the first address of the subnet unless given. */
  gateway: string;
  /** MTU of the pod interfaces and the bridge. */
  mtu: number;
  /** Where allocations live: one directory per network name under it. */
  dataDir: string;
  dns: DnsConfig;
  /** Result of the ADD this CHECK is about (CHECK only). */
  prevResult: CniResult | undefined;
  /** GC only: the attachments the runtime still knows. */
  validAttachments: Attachment[] | undefined;
  /**
   * Whose attachments these are, when one plugin configuration serves several callers on a node:
   * recorded with each allocation on ADD, and GC takes back only allocations of its own owner, so
   * one runtime's GC cannot free another's addresses. The agent's Docker backend, which calls the
   * plugin in-process, sets it; callers that exec the plugin from the conflist (containerd's CRI)
   * leave it empty, which is an owner too.
   */
  owner: string;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: CniRoute[];
  dns: DnsConfig;
}

/** The CNI_* environment of one invocation, validated for the command at hand. */
export interface CniEnv {
  command: Command;
  containerID: string;
  netns: string;
  ifname: string;
  args: Record<string, string>;
  path: string;
}

export interface CniOutput {
  /** Process exit code: 0 on success, 1 on any error. */
  exitCode: number;
  /** What goes to stdout: a result, version info, an error object, or nothing. */
  stdout: string;
}

/** The cniVersion the caller's configuration asks for (for the answer's own version), or the current one. */
export function cniVersionOf(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v ? v : CURRENT_VERSION;
  } catch {
    return CURRENT_VERSION;
  }
}

export function errorJson(version: string, err: CniError): string {
  return JSON.stringify({
    cniVersion: version,
    code: err.cniCode,
    msg: err.message,
    ...(err.details ? { details: err.details } : {}),
  });
}
