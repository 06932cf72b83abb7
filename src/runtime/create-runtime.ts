import type { AgentConfig } from '../config/types.ts';
import type { Logger } from '../log/logger.ts';
import type { PodNetwork } from '../net/pod-network.ts';
import { CriRuntime } from './cri/cri-runtime.ts';
import { DockerRuntime } from './docker/docker-runtime.ts';
import type { Runtime } from './types.ts';

export interface CreateRuntimeOptions {
  nodeName: string;
  rootDir?: string;
  /** The node's pod network (the CNI plugin's code in-process), when pods get one. */
  network?: PodNetwork;
  log?: Logger;
}

/**
 * The registry of runtime backends, keyed by `runtime.type`. Docker sandboxes are wired by the
 * agent (the network runs in-process, as dockershim did); containerd's CRI plugin calls the CNI
 * plugin itself, so its backend uses the network only to collect addresses left behind.
 */
export function createRuntime(config: AgentConfig['runtime'], options: CreateRuntimeOptions): Runtime {
  const { nodeName, rootDir, network, log } = options;
  switch (config.type) {
    case 'docker':
      return new DockerRuntime({ endpoint: config.endpoint, timeoutMs: config.requestTimeoutMs, nodeName, ...(rootDir ? { rootDir } : {}), ...(network ? { network } : {}) });
    case 'containerd':
      return new CriRuntime({ endpoint: config.endpoint, timeoutMs: config.requestTimeoutMs, nodeName, ...(rootDir ? { rootDir } : {}), ...(network ? { network } : {}), ...(log ? { log } : {}) });
  }
}
