import type { LogFormat, LogLevel } from '../log/logger.ts';

/** docker: dockerode to dockerd; containerd: CRI runtime.v1 over gRPC to containerd's CRI plugin. */
export const RuntimeTypes = ['docker', 'containerd'] as const;
export type RuntimeType = (typeof RuntimeTypes)[number];

export const NetworkModes = ['host-gw', 'vxlan', 'none'] as const;
export type NetworkMode = (typeof NetworkModes)[number];

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/**
 * The agent's validated configuration. Field names follow KubeletConfiguration where one exists,
 * so an operator's kubelet knowledge carries over. Durations are milliseconds here; the file
 * holds Go-style strings ("10s").
 */
export interface AgentConfig {
  nodeName: string;
  /** The node's InternalIP: the address other nodes and the control plane reach it on. */
  nodeIP: string;
  /** The Hostname address reported on the Node (the machine's hostname by default). */
  hostname: string;
  /** Path of the kubeconfig; undefined in standalone mode. */
  kubeconfig: string | undefined;
  standalone: boolean;
  runtime: { type: RuntimeType; endpoint: string; requestTimeoutMs: number };
  /** Pod CIDR to use when the control plane assigns none (and to register with, when creating the Node). */
  podCIDR: string | undefined;
  clusterCIDR: string | undefined;
  /** mtu 0: follow the MTU of the interface holding nodeIP (minus the VXLAN overhead in vxlan mode). */
  /**
   * disableGC: when runtimes other than the agent's share the conflist, the agent writes
   * `disableGC: true` into it and calls no CNI GC, so none of their addresses is taken back.
   */
  network: { mode: NetworkMode; mtu: number; vxlanPort: number; disableGC: boolean };
  /** Cluster DNS service IPs written into ClusterFirst pods' resolv.conf (clusterDNS). */
  clusterDNS: string[];
  clusterDomain: string;
  /** The node's resolver file, used for the Default DNS policy and appended searches. */
  resolvConf: string;
  directories: { root: string; logs: string; containerLogs: string; manifests: string; cniBin: string; cniConf: string };
  nodeLabels: Record<string, string>;
  registerWithTaints: Taint[];
  maxPods: number;
  /** The kubelet API (TLS): its port, reported in daemonEndpoints; 0 serves none. */
  port: number;
  /** The kubelet's `address`: where the API listens (all addresses by default). */
  address: string;
  /** The API's serving certificate; without one the agent makes a self-signed one under its root, as the kubelet does. */
  tlsCertFile: string | undefined;
  tlsPrivateKeyFile: string | undefined;
  /**
   * KubeletConfiguration's authentication: client certificates signed by clientCAFile; bearer
   * tokens checked with the apiserver's TokenReview (cached cacheTTL); anonymous requests
   * refused unless enabled (then they are system:anonymous, and still authorized).
   */
  authentication: { anonymous: boolean; webhook: { enabled: boolean; cacheTTLMs: number }; x509: { clientCAFile: string | undefined } };
  /** Webhook: every request is a SubjectAccessReview (cached); AlwaysAllow: any authenticated user may do anything. */
  authorization: { mode: 'Webhook' | 'AlwaysAllow'; webhook: { cacheAuthorizedTTLMs: number; cacheUnauthorizedTTLMs: number } };
  /** Where /healthz is served; port 0 turns it off. */
  healthz: { bindAddress: string; port: number };
  nodeStatusUpdateFrequencyMs: number;
  nodeStatusReportFrequencyMs: number;
  nodeLeaseDurationSeconds: number;
  /** Hard eviction thresholds, as strings ("100Mi", "10%"); they also shape allocatable. */
  evictionHard: { 'memory.available': string; 'nodefs.available': string; 'nodefs.inodesFree': string; 'imagefs.available': string; 'pid.available': string };
  systemReserved: { cpu?: string; memory?: string; 'ephemeral-storage'?: string };
  log: { format: LogFormat; level: LogLevel };
  /**
   * node-problem-detector's monitors, run inside the agent. kernelMonitor reads logPath
   * (/dev/kmsg, or a file of kmsg lines standing in for it) with the rules of rulesFile
   * (kernel-monitor.json's layout) or the built-in ones.
   */
  problemDetector: {
    kernelMonitor: { enabled: boolean; logPath: string; rulesFile: string | undefined };
    /** Files in custom-plugin-monitor.json's layout, one monitor each. */
    customPluginMonitors: string[];
  };
}

/** What a configuration file or the command line may say: every field optional, strings for durations. */
export type ConfigInput = Record<string, unknown>;
