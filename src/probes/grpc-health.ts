import { Client, Metadata, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { GrpcHandler } from './probe-spec.ts';
import { joinHostPort } from './probe-address.ts';
import { errorMessage, probeUserAgent, type ProbeOutcome } from './probe-outcome.ts';

/**
 * The grpc probe: one call of the standard health checking protocol,
 * grpc.health.v1.Health/Check, on an insecure channel to the pod IP, deadline timeoutSeconds
 * (connecting included). SERVING is success; any other status, an error or the deadline is a
 * failure (kubelet's pkg/probe/grpc).
 *
 * The two messages have one field each, so they are encoded here by hand rather than through a
 * .proto file and a protobuf library at run time:
 *
 *   message HealthCheckRequest  { string service = 1; }
 *   message HealthCheckResponse { ServingStatus status = 1; }   // enum, a varint
 */
export interface GrpcHealthOptions {
  podIP: string;
  timeoutSeconds: number;
  userAgent?: string;
}

export const healthCheckMethod = '/grpc.health.v1.Health/Check';
export const servingStatusNames = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
const serving = 1;

export async function grpcHealthProbe(handler: Omit<GrpcHandler, 'type'>, options: GrpcHealthOptions): Promise<ProbeOutcome> {
  const port: unknown = handler.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return { result: 'unknown', output: `invalid grpc port ${JSON.stringify(port)}: must be a number` };
  if (!options.podIP) return { result: 'unknown', output: 'the pod has no IP yet' };
  const address = joinHostPort(options.podIP, port);
  const client = new Client(address, credentials.createInsecure(), {
    'grpc.primary_user_agent': options.userAgent ?? probeUserAgent(),
    // A connection of this probe's own, closed after it (kubelet dials anew each time); the
    // global subchannel pool would otherwise keep one open per pod behind the agent's back.
    'grpc.use_local_subchannel_pool': 1,
    'grpc.enable_retries': 0,
    'grpc.service_config_disable_resolution': 1,
  });
  try {
    const statusNumber = await new Promise<number>((resolve, reject) => {
      client.makeUnaryRequest(
        healthCheckMethod,
        encodeHealthCheckRequest,
        decodeHealthCheckResponse,
        handler.service,
        new Metadata(),
        { deadline: Date.now() + options.timeoutSeconds * 1000 },
        (err: ServiceError | null, value?: number) => (err ? reject(err) : resolve(value ?? 0)),
      );
    });
    if (statusNumber === serving) return { result: 'success', output: 'service healthy' };
    return { result: 'failure', output: `service unhealthy (responded with ${JSON.stringify(servingStatusName(statusNumber))})` };
  } catch (err) {
    const code = (err as Partial<ServiceError>).code;
    if (code === GrpcStatus.DEADLINE_EXCEEDED) return { result: 'failure', output: `timeout: health rpc did not complete within ${options.timeoutSeconds}s` };
    if (code === GrpcStatus.UNIMPLEMENTED) {
      return { result: 'failure', output: `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ${(err as ServiceError).details}` };
    }
    // grpc-js appends an empty "Resolution note:" when name resolution had nothing to add.
    return { result: 'failure', output: `error: health rpc probe failed: ${errorMessage(err).replace(/\s*Resolution note:\s*$/, '')}` };
  } finally {
    client.close();
  }
}

export function servingStatusName(n: number): string {
  return servingStatusNames[n] ?? String(n);
}

/** HealthCheckRequest: field 1 (wire type 2, length-delimited) holds the service name; proto3 leaves out an empty one. */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (!service) return Buffer.alloc(0);
  const text = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([(1 << 3) | 2]), encodeVarint(text.length), text]);
}

/**
 * HealthCheckResponse's status (field 1, wire type 0); absent means 0, UNKNOWN. Other fields a
 * newer server might add are skipped, as any protobuf reader must. Throwing here makes grpc-js
 * fail the call (INTERNAL), which the probe reports as a failure.
 */
export function decodeHealthCheckResponse(bytes: Uint8Array): number {
  let status = 0;
  let i = 0;
  const varint = (): number => {
    let value = 0;
    for (let n = 0, mult = 1; n < 10; n++, mult *= 128) {
      const b = bytes[i++];
      if (b === undefined) throw new Error('HealthCheckResponse: truncated varint');
      value += (b & 0x7f) * mult;
      if (b < 0x80) return value;
    }
    throw new Error('HealthCheckResponse: varint too long');
  };
  while (i < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (wireType === 0) {
      const value = varint();
      if (field === 1) status = value; // the last one wins, as protobuf says
    } else if (wireType === 1) i += 8;
    else if (wireType === 2) i += varint();
    else if (wireType === 5) i += 4;
    else throw new Error(`HealthCheckResponse: unsupported wire type ${wireType}`);
    if (i > bytes.length) throw new Error('HealthCheckResponse: truncated field');
  }
  return status;
}

function encodeVarint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
