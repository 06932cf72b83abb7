import Docker from 'dockerode';
import { AgentError, ErrorCode, describeError } from '../../errors.ts';
import type { Runtime, RuntimeCondition, RuntimeVersion } from '../types.ts';

/** The Docker backend of the runtime seam, through dockerode on the engine's unix socket. */
export class DockerRuntime implements Runtime {
  private readonly docker: Docker;
  private readonly endpoint: string;

  constructor(options: { endpoint: string; timeoutMs: number }) {
    this.endpoint = options.endpoint;
    this.docker = new Docker({ socketPath: socketPathOf(options.endpoint), timeout: options.timeoutMs });
  }

  async version(): Promise<RuntimeVersion> {
    try {
      const v = await this.docker.version();
      return { runtimeName: 'docker', runtimeVersion: v.Version, runtimeApiVersion: 'v1' };
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  async status(): Promise<RuntimeCondition[]> {
    try {
      await this.docker.ping();
      return [{ type: 'RuntimeReady', status: true, reason: '', message: '' }];
    } catch (err) {
      return [{ type: 'RuntimeReady', status: false, reason: 'DockerDaemonNotReady', message: this.unavailable(err).message }];
    }
  }

  async close(): Promise<void> {
    // dockerode keeps no connection open between calls.
  }

  private unavailable(err: unknown): AgentError {
    return new AgentError(
      ErrorCode.RuntimeUnavailable,
      `docker at ${this.endpoint} is not answering: ${describeError(err)}. Fix: start dockerd (scripts/start-runtimes.sh) or set runtime.endpoint`,
      { cause: err },
    );
  }
}

export function socketPathOf(endpoint: string): string {
  return endpoint.replace(/^unix:\/\//, '');
}
