import type { V1Container } from '@kubernetes/client-node';
import type { Runtime } from '../runtime/types.ts';
import type { ProbeSpec } from './probe-spec.ts';
import { errorMessage, type ProbeOutcome } from './probe-outcome.ts';
import { execProbe } from './exec-probe.ts';
import { httpGetProbe } from './http-get.ts';
import { tcpSocketProbe } from './tcp-socket.ts';
import { grpcHealthProbe } from './grpc-health.ts';

/** What a probe runs against: the pod's address, the container (for named ports) and, for exec, the runtime. */
export interface ProbeRunTarget {
  podIP: string;
  container: V1Container;
  containerId: string;
  runtime: Pick<Runtime, 'execSync'>;
}

export interface RunProbeOptions {
  /** User-Agent of HTTP and gRPC probes; kube-probe/<agent major.minor> by default. */
  userAgent?: string;
}

/** Runs the probe's handler once. Never rejects: anything thrown is an 'unknown' outcome. */
export async function runProbe(spec: ProbeSpec, target: ProbeRunTarget, options: RunProbeOptions = {}): Promise<ProbeOutcome> {
  const { handler, timeoutSeconds } = spec;
  const ua = options.userAgent !== undefined ? { userAgent: options.userAgent } : {};
  try {
    switch (handler.type) {
      case 'exec':
        return await execProbe(handler, { containerId: target.containerId, runtime: target.runtime, timeoutSeconds });
      case 'httpGet':
        return await httpGetProbe(handler, { podIP: target.podIP, container: target.container, timeoutSeconds, ...ua });
      case 'tcpSocket':
        return await tcpSocketProbe(handler, { podIP: target.podIP, container: target.container, timeoutSeconds });
      case 'grpc':
        return await grpcHealthProbe(handler, { podIP: target.podIP, timeoutSeconds, ...ua });
      case 'missing':
        return { result: 'unknown', output: `missing probe handler for ${spec.kind} probe of container ${target.container.name}` };
    }
  } catch (err) {
    return { result: 'unknown', output: `${spec.kind} probe errored: ${errorMessage(err)}` };
  }
}
