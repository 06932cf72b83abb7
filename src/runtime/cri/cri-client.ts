import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { AgentError, ErrorCode } from '../../errors.ts';
import type { ImageServiceCalls, RuntimeServiceCalls } from './cri-messages.ts';
import { socketPathOfEndpoint } from '../endpoint.ts';

/**
 * A CRI client over one gRPC channel to the runtime's unix socket: `runtime.v1.RuntimeService`
 * and `runtime.v1.ImageService`, from api.proto in this folder. Every call has a deadline; failures
 * come back as AgentErrors with stable codes (criError). The channel reconnects on its own when the
 * runtime restarts, with a backoff capped low (grpc-js would otherwise wait up to two minutes
 * between attempts), and calls fail fast while it is down rather than queue.
 */

const protoPath = join(dirname(fileURLToPath(import.meta.url)), 'api.proto');

/** Options that make the decoded messages match cri-messages.ts. */
const loaderOptions: protoLoader.Options = { keepCase: false, longs: String, enums: String, defaults: true, arrays: true, objects: true, oneofs: true };

/** kubelet's CRI client limit: lists of a full node and exec output up to this size get through. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Reconnect attempts start this soon after a failure and back off up to the cap. */
const RECONNECT_INITIAL_MS = 250;
const RECONNECT_MAX_MS = 4000;

type Unary = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response?: unknown) => void) => grpc.ClientUnaryCall;
type ServiceClient = grpc.Client & Record<string, Unary>;
type ServiceCtor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => ServiceClient;

let services: { runtime: ServiceCtor; image: ServiceCtor } | undefined;

function loadServices(): { runtime: ServiceCtor; image: ServiceCtor } {
  if (!services) {
    const definition = protoLoader.loadSync(protoPath, loaderOptions);
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: { RuntimeService: ServiceCtor; ImageService: ServiceCtor } } };
    services = { runtime: pkg.runtime.v1.RuntimeService, image: pkg.runtime.v1.ImageService };
  }
  return services;
}

export interface CriClientOptions {
  endpoint: string;
  /** Deadline of every call that does not name its own (runtimeRequestTimeout). */
  timeoutMs: number;
}

export class CriClient {
  readonly endpoint: string;
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly runtimeClient: ServiceClient;
  private readonly imageClient: ServiceClient;

  constructor(options: CriClientOptions) {
    this.endpoint = options.endpoint;
    this.socketPath = socketPathOfEndpoint(options.endpoint);
    this.timeoutMs = options.timeoutMs;
    const { runtime, image } = loadServices();
    const channelOptions: grpc.ClientOptions = {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.initial_reconnect_backoff_ms': RECONNECT_INITIAL_MS,
      'grpc.max_reconnect_backoff_ms': RECONNECT_MAX_MS,
    };
    const address = `unix://${this.socketPath}`;
    this.runtimeClient = new runtime(address, grpc.credentials.createInsecure(), channelOptions);
    // Both services over the one connection.
    this.imageClient = new image(address, grpc.credentials.createInsecure(), { ...channelOptions, channelOverride: this.runtimeClient.getChannel() });
  }

  runtime<M extends keyof RuntimeServiceCalls>(method: M, request: RuntimeServiceCalls[M][0], timeoutMs?: number): Promise<RuntimeServiceCalls[M][1]> {
    return this.unary(this.runtimeClient, 'RuntimeService', method, request, timeoutMs) as Promise<RuntimeServiceCalls[M][1]>;
  }

  image<M extends keyof ImageServiceCalls>(method: M, request: ImageServiceCalls[M][0], timeoutMs?: number): Promise<ImageServiceCalls[M][1]> {
    return this.unary(this.imageClient, 'ImageService', method, request, timeoutMs) as Promise<ImageServiceCalls[M][1]>;
  }

  close(): void {
    this.imageClient.close();
    this.runtimeClient.close();
  }

  private unary(client: ServiceClient, service: string, method: string, request: object, timeoutMs = this.timeoutMs): Promise<unknown> {
    const call = client[method];
    if (typeof call !== 'function') return Promise.reject(new Error(`api.proto has no ${service}.${method}`));
    return new Promise((resolve, reject) => {
      call.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err) {
          void this.describe(err, `${service}/${method}`).then(reject, reject);
        } else {
          resolve(response);
        }
      });
    });
  }

  /** The AgentError for a failed call, naming the missing socket when that is the cause. */
  private async describe(err: grpc.ServiceError, call: string): Promise<AgentError> {
    let socket: SocketState = 'unknown';
    if (err.code === grpc.status.UNAVAILABLE) {
      socket = await stat(this.socketPath).then((s) => (s.isSocket() ? 'present' : 'not-a-socket'), () => 'missing' as const);
    }
    return criError({ code: err.code, details: err.details || err.message }, { endpoint: this.endpoint, socketPath: this.socketPath, call, socket });
  }
}

export type SocketState = 'present' | 'missing' | 'not-a-socket' | 'unknown';

/**
 * What a gRPC failure means for the agent, as a stable error code and a message naming the fix.
 * Pure, so every branch is tested with plain values.
 */
export function criError(
  err: { code: grpc.status; details: string },
  ctx: { endpoint: string; socketPath: string; call: string; socket: SocketState },
): AgentError {
  const cause = { grpcCode: err.code, details: err.details };
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      if (ctx.socket === 'missing') {
        return new AgentError(ErrorCode.RuntimeUnavailable, `container runtime is not running: no socket at ${ctx.socketPath}. Fix: start containerd (scripts/start-runtimes.sh, or systemctl start containerd) or set runtime.endpoint (--container-runtime-endpoint)`, { cause });
      }
      if (ctx.socket === 'not-a-socket') {
        return new AgentError(ErrorCode.RuntimeUnavailable, `${ctx.socketPath} is not a socket; runtime.endpoint must name the containerd socket (unix:///run/containerd/containerd.sock)`, { cause });
      }
      return new AgentError(ErrorCode.RuntimeUnavailable, `container runtime at ${ctx.endpoint} is not answering (${ctx.call}: ${err.details}). Fix: check that containerd runs and serves CRI (scripts/start-runtimes.sh)`, { cause });
    case grpc.status.DEADLINE_EXCEEDED:
      return new AgentError(ErrorCode.RuntimeUnavailable, `container runtime at ${ctx.endpoint} did not answer ${ctx.call} in time: ${err.details}`, { cause });
    case grpc.status.UNIMPLEMENTED:
      return new AgentError(
        ErrorCode.RuntimeUnavailable,
        `container runtime at ${ctx.endpoint} does not serve ${ctx.call} of CRI runtime.v1 (${err.details}). It may speak only the older v1alpha2 API: use containerd 1.6 or newer with its CRI plugin enabled (not in disabled_plugins)`,
        { cause, reason: 'RuntimeApiVersionUnsupported' },
      );
    case grpc.status.NOT_FOUND:
      return new AgentError(ErrorCode.RuntimeNotFound, `${ctx.call}: ${err.details}`, { cause });
    default:
      return new AgentError(ErrorCode.RuntimeCall, `${ctx.call}: ${err.details}`, { cause });
  }
}
