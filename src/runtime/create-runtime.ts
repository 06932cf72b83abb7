import type { AgentConfig } from '../config/types.ts';
import { DockerRuntime } from './docker/docker-runtime.ts';
import type { PodNetwork } from '../net/pod-network.ts';
import type { Runtime } from './types.ts';

/** The registry of runtime backends, keyed by `runtime.type`. */
export function createRuntime(config: AgentConfig['runtime'], nodeName: string, rootDir?: string, network?: PodNetwork): Runtime {
  switch (config.type) {
    case 'docker':
      return new DockerRuntime({ endpoint: config.endpoint, timeoutMs: config.requestTimeoutMs, nodeName, ...(rootDir ? { rootDir } : {}), ...(network ? { network } : {}) });
  }
}
