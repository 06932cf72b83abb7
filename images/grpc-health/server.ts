/**
 * A gRPC server speaking the standard health checking protocol (grpc.health.v1.Health/Check),
 * for the tests of the agent's grpc probes: it runs in a pod (image localhost/grpc-health:1) and
 * answers about the server as a whole ("") and about one named service ("node-agent.test").
 *
 * What it answers is driven by files, so a test can flip it from outside the pod's process:
 * the server is SERVING while /tmp/serving exists and NOT_SERVING otherwise, and any other
 * service name gets NOT_FOUND, as the protocol says. /tmp/serving is created at start.
 *
 * The two messages have one field each (string service = 1; enum status = 1), encoded by hand.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';

const port = Number(process.env['GRPC_PORT'] ?? 9090);
const servingFile = '/tmp/serving';
const knownServices = new Set(['', 'node-agent.test']);
const SERVING = 1;
const NOT_SERVING = 2;

/** HealthCheckRequest as an object: grpc-js takes a falsy message ('') for no message at all. */
interface HealthCheckRequest {
  service: string;
}

function decodeRequest(buf: Buffer): HealthCheckRequest {
  return { service: decodeService(buf) };
}

function decodeService(buf: Buffer): string {
  // Field 1, wire type 2 (length-delimited): tag 0x0a, a varint length, the bytes.
  let i = 0;
  while (i < buf.length) {
    const tag = buf[i++] ?? 0;
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[i++] ?? 0;
      len |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    if (tag === 0x0a) return buf.subarray(i, i + len).toString('utf8');
    i += len;
  }
  return '';
}

function encodeStatus(value: number): Buffer {
  return Buffer.from([0x08, value]);
}

const service = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: (r: HealthCheckRequest) => Buffer.from(r.service),
    requestDeserialize: decodeRequest,
    responseSerialize: encodeStatus,
    responseDeserialize: (b: Buffer) => b[1] ?? 0,
  },
};

const server = new Server();
server.addService(service, {
  Check: (call: ServerUnaryCall<HealthCheckRequest, number>, callback: sendUnaryData<number>) => {
    if (!knownServices.has(call.request.service)) {
      callback({ code: status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
      return;
    }
    callback(null, existsSync(servingFile) ? SERVING : NOT_SERVING);
  },
});
writeFileSync(servingFile, '');
server.bindAsync(`0.0.0.0:${port}`, ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`cannot listen on ${port}: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`grpc health server on :${port}\n`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
