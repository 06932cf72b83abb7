import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { V1Container } from '@kubernetes/client-node';
import { httpGetProbe } from '../../src/probes/http-get.ts';
import { tcpSocketProbe } from '../../src/probes/tcp-socket.ts';
import { grpcHealthProbe } from '../../src/probes/grpc-health.ts';
import { execProbe } from '../../src/probes/exec-probe.ts';
import { runProbe } from '../../src/probes/run-probe.ts';
import { normalizeProbe, type HttpGetHandler } from '../../src/probes/probe-spec.ts';
import type { ExecResult } from '../../src/runtime/types.ts';

// Real servers on 127.0.0.1 for each probe mechanism; nothing here needs root or a runtime.

const host = '127.0.0.1';
let dir: string;
let httpServer: http.Server;
let httpsServer: https.Server;
let tcpServer: net.Server;
let grpcServer: grpc.Server;
let bareGrpcServer: grpc.Server;
let httpPort: number;
let httpsPort: number;
let tcpPort: number;
let closedPort: number;
let grpcPort: number;
let bareGrpcPort: number;
let httpConnections = 0;
const grpcStatus = new Map<string, string>();
let grpcUserAgent = '';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port)));
}
function close(server: http.Server | net.Server): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function routes(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const chain = /^\/chain\/(\d+)$/.exec(url.pathname);
  if (chain) {
    const n = Number(chain[1]);
    if (n === 0) res.writeHead(200).end('end of chain');
    else res.writeHead(302, { location: `/chain/${n - 1}` }).end();
    return;
  }
  switch (url.pathname) {
    case '/ok':
      res.writeHead(200).end(`ok${url.search}`);
      return;
    case '/redirect':
      res.writeHead(302, { location: '/ok' }).end('moved');
      return;
    case '/redirect-other-host':
      // "localhost" is another host name than 127.0.0.1 even though it is the same server: not followed.
      res.writeHead(302, { location: `http://localhost:${httpPort}/error` }).end('elsewhere');
      return;
    case '/redirect-to-https':
      res.writeHead(301, { location: `https://${host}:${httpsPort}/ok` }).end();
      return;
    case '/redirect-echo':
      res.writeHead(307, { location: '/echo' }).end();
      return;
    case '/error':
      res.writeHead(500).end('oops');
      return;
    case '/slow': {
      const timer = setTimeout(() => res.writeHead(200).end('late'), 3_000);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    case '/slow-body':
      res.writeHead(200);
      res.write('partial');
      return; // never ends
    case '/big':
      res.writeHead(200).end('x'.repeat(50 * 1024));
      return;
    case '/echo':
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers));
      return;
    default:
      res.writeHead(404).end();
  }
}

const healthProto = `
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
`;

function bindGrpc(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'probe-mechanisms-'));
  httpServer = http.createServer(routes);
  httpServer.on('connection', () => httpConnections++);
  httpPort = await listen(httpServer);

  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=x', '-days', '1', '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
  httpsServer = https.createServer({ key: readFileSync(join(dir, 'k')), cert: readFileSync(join(dir, 'c')) }, (req, res) => {
    if (req.url === '/ok') res.writeHead(200).end('secure ok');
    else res.writeHead(503).end();
  });
  httpsPort = await listen(httpsServer);

  tcpServer = net.createServer((socket) => socket.on('error', () => {}));
  tcpPort = await listen(tcpServer);
  const spare = net.createServer();
  closedPort = await listen(spare);
  await close(spare);

  // The health service, encoded by protobufjs from the .proto: independent of the probe's own encoding.
  writeFileSync(join(dir, 'health.proto'), healthProto);
  const definition = protoLoader.loadSync(join(dir, 'health.proto'), { keepCase: true, enums: String, defaults: true });
  const health = (grpc.loadPackageDefinition(definition) as any).grpc.health.v1.Health;
  grpcServer = new grpc.Server();
  grpcServer.addService(health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      grpcUserAgent = String(call.metadata.get('user-agent')[0] ?? '');
      const service = call.request.service;
      if (service === 'slow') {
        setTimeout(() => callback(null, { status: 'SERVING' }), 3_000);
        return;
      }
      const status = grpcStatus.get(service);
      if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${JSON.stringify(service)}` });
      else callback(null, { status });
    },
  });
  grpcPort = await bindGrpc(grpcServer);
  bareGrpcServer = new grpc.Server(); // serves nothing: no health service
  bareGrpcPort = await bindGrpc(bareGrpcServer);
});

afterAll(async () => {
  await Promise.all([close(httpServer), close(httpsServer), close(tcpServer)]);
  grpcServer.forceShutdown();
  bareGrpcServer.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

const container = (): V1Container => ({ name: 'app', image: 'x', ports: [{ name: 'web', containerPort: httpPort }] });
function get(path: string, extra: Partial<HttpGetHandler> = {}, timeoutSeconds = 2) {
  return httpGetProbe({ scheme: 'HTTP', path, port: httpPort, httpHeaders: [], ...extra }, { podIP: host, container: container(), timeoutSeconds });
}

describe('httpGet probe', () => {
  it('200 is success, with the body as output', async () => {
    expect(await get('/ok')).toEqual({ result: 'success', output: 'ok' });
    expect(await get('/ok?x=1#frag')).toEqual({ result: 'success', output: 'ok?x=1' });
  });

  it('500 is failure, reported with the status code', async () => {
    expect(await get('/error')).toEqual({ result: 'failure', output: 'HTTP probe failed with statuscode: 500' });
    expect(await get('/missing')).toEqual({ result: 'failure', output: 'HTTP probe failed with statuscode: 404' });
  });

  it('follows a redirect to the same host', async () => {
    expect(await get('/redirect')).toEqual({ result: 'success', output: 'ok' });
  });

  it('follows up to 9 redirects; the 10th is an error', async () => {
    expect(await get('/chain/9')).toEqual({ result: 'success', output: 'end of chain' });
    const tenth = await get('/chain/10');
    expect(tenth.result).toBe('failure');
    expect(tenth.output).toContain('stopped after 10 redirects');
  });

  it('does not follow a redirect to another host: success with a warning', async () => {
    expect(await get('/redirect-other-host')).toEqual({ result: 'success', output: 'Probe terminated redirects, Response body: elsewhere' });
  });

  it('follows a redirect to the same host name on another port and scheme (HTTPS, self-signed)', async () => {
    expect(await get('/redirect-to-https')).toEqual({ result: 'success', output: 'secure ok' });
  });

  it('HTTPS does not verify the certificate', async () => {
    expect(await httpGetProbe({ scheme: 'HTTPS', path: '/ok', port: httpsPort, httpHeaders: [] }, { podIP: host, container: container(), timeoutSeconds: 2 })).toEqual({
      result: 'success',
      output: 'secure ok',
    });
  });

  it('times out a slow server within timeoutSeconds', async () => {
    const started = Date.now();
    const outcome = await get('/slow', {}, 1);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(outcome.result).toBe('failure');
    expect(outcome.output).toBe(`Get "http://${host}:${httpPort}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`);
  });

  it('a timeout of 2147484 s or more waits as long as the server takes (setTimeout would overflow to 1 ms)', async () => {
    expect(await get('/slow', {}, 2_147_484)).toEqual({ result: 'success', output: 'late' });
  });

  it('the timeout covers reading the body too', async () => {
    const outcome = await get('/slow-body', {}, 1);
    expect(outcome.result).toBe('failure');
    expect(outcome.output).toContain('while reading body');
  });

  it('reads at most 10 KiB of the body', async () => {
    const outcome = await get('/big');
    expect(outcome.result).toBe('success');
    expect(outcome.output).toHaveLength(10 * 1024);
  });

  it('sends kube-probe User-Agent, Accept */*, Connection: close; a new connection each time', async () => {
    const before = httpConnections;
    const headers = JSON.parse((await get('/echo')).output);
    expect(headers['user-agent']).toMatch(/^kube-probe\/\d+\.\d+$/);
    expect(headers.accept).toBe('*/*');
    expect(headers.connection).toBe('close');
    expect(headers.host).toBe(`${host}:${httpPort}`);
    await get('/ok');
    await get('/ok');
    expect(httpConnections - before).toBe(3);
  });

  it('user headers override the defaults; Host sets the virtual host; an empty Accept sends none', async () => {
    const headers = JSON.parse(
      (
        await get('/echo', {
          httpHeaders: [
            { name: 'Host', value: 'virtual.example' },
            { name: 'User-Agent', value: 'mine' },
            { name: 'Accept', value: '' },
            { name: 'X-Custom', value: 'a' },
            { name: 'X-Custom', value: 'b' },
          ],
        })
      ).output,
    );
    expect(headers).toMatchObject({ host: 'virtual.example', 'user-agent': 'mine', 'x-custom': 'a, b' });
    expect(headers).not.toHaveProperty('accept');
  });

  it('keeps a custom Host through a relative redirect', async () => {
    const headers = JSON.parse((await get('/redirect-echo', { httpHeaders: [{ name: 'Host', value: 'virtual.example' }] })).output);
    expect(headers.host).toBe('virtual.example');
  });

  it('resolves a named container port', async () => {
    expect(await get('/ok', { port: 'web' })).toEqual({ result: 'success', output: 'ok' });
  });

  it('connection refused is a failure', async () => {
    expect(await get('/ok', { port: closedPort })).toEqual({ result: 'failure', output: `Get "http://${host}:${closedPort}/ok": dial tcp ${host}:${closedPort}: connect: connection refused` });
  });

  it("an unknown named port or a pod without an IP is 'unknown', not a failure", async () => {
    expect((await get('/ok', { port: 'nope' })).result).toBe('unknown');
    const noIP = await httpGetProbe({ scheme: 'HTTP', path: '/ok', port: httpPort, httpHeaders: [] }, { podIP: '', container: container(), timeoutSeconds: 1 });
    expect(noIP).toEqual({ result: 'unknown', output: 'the pod has no IP yet' });
  });

  it('an explicit host wins over the pod IP', async () => {
    const outcome = await httpGetProbe({ host, scheme: 'HTTP', path: '/ok', port: httpPort, httpHeaders: [] }, { podIP: '192.0.2.1', container: container(), timeoutSeconds: 2 });
    expect(outcome).toEqual({ result: 'success', output: 'ok' });
  });
});

describe('tcpSocket probe', () => {
  it('success when the port accepts a connection', async () => {
    let accepted = 0;
    tcpServer.once('connection', () => accepted++);
    expect(await tcpSocketProbe({ port: tcpPort }, { podIP: host, container: container(), timeoutSeconds: 1 })).toEqual({ result: 'success', output: '' });
    expect(accepted).toBe(1);
  });

  it('failure when nothing listens', async () => {
    expect(await tcpSocketProbe({ port: closedPort }, { podIP: host, container: container(), timeoutSeconds: 1 })).toEqual({
      result: 'failure',
      output: `dial tcp ${host}:${closedPort}: connect: connection refused`,
    });
  });

  it('resolves a named port', async () => {
    expect((await tcpSocketProbe({ port: 'web' }, { podIP: host, container: container(), timeoutSeconds: 1 })).result).toBe('success');
  });
});

describe('grpc probe', () => {
  const check = (service = '', port = grpcPort, timeoutSeconds = 1) => grpcHealthProbe({ port, service }, { podIP: host, timeoutSeconds });

  it('SERVING is success; the probe follows the server as it flips', async () => {
    grpcStatus.set('', 'SERVING');
    expect(await check()).toEqual({ result: 'success', output: 'service healthy' });
    expect(grpcUserAgent).toMatch(/^kube-probe\/\d+\.\d+/);
    grpcStatus.set('', 'NOT_SERVING');
    expect(await check()).toEqual({ result: 'failure', output: 'service unhealthy (responded with "NOT_SERVING")' });
    grpcStatus.set('', 'SERVING');
    expect((await check()).result).toBe('success');
  });

  it('asks about the named service', async () => {
    grpcStatus.set('db', 'SERVICE_UNKNOWN');
    grpcStatus.set('cache', 'UNKNOWN');
    grpcStatus.set('web', 'SERVING');
    expect(await check('db')).toEqual({ result: 'failure', output: 'service unhealthy (responded with "SERVICE_UNKNOWN")' });
    expect(await check('cache')).toEqual({ result: 'failure', output: 'service unhealthy (responded with "UNKNOWN")' });
    expect((await check('web')).result).toBe('success');
    const notFound = await check('nope');
    expect(notFound.result).toBe('failure');
    expect(notFound.output).toContain('unknown service "nope"');
  });

  it('a server without the health service fails as not implementing the protocol', async () => {
    const outcome = await check('', bareGrpcPort);
    expect(outcome.result).toBe('failure');
    expect(outcome.output).toMatch(/^error: this server does not implement the grpc health protocol/);
  });

  it('the deadline is timeoutSeconds', async () => {
    const started = Date.now();
    expect(await check('slow', grpcPort, 1)).toEqual({ result: 'failure', output: 'timeout: health rpc did not complete within 1s' });
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('connection refused is a failure', async () => {
    const outcome = await check('', closedPort);
    expect(outcome.result).toBe('failure');
    expect(outcome.output).toMatch(/^error: health rpc probe failed: .*UNAVAILABLE/);
  });
});

describe('exec probe (through a fake runtime)', () => {
  const runtime = (result: Partial<ExecResult> | Error) => ({
    calls: [] as unknown[][],
    async execSync(id: string, command: string[], timeoutSeconds: number): Promise<ExecResult> {
      this.calls.push([id, command, timeoutSeconds]);
      if (result instanceof Error) throw result;
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...result };
    },
  });

  it('exit 0 is success; the command, container and timeout reach the runtime', async () => {
    const rt = runtime({ stdout: 'fine' });
    expect(await execProbe({ command: ['cat', '/tmp/healthy'] }, { containerId: 'c1', runtime: rt, timeoutSeconds: 4 })).toEqual({ result: 'success', output: 'fine' });
    expect(rt.calls).toEqual([['c1', ['cat', '/tmp/healthy'], 4]]);
  });

  it('a non-zero exit is a failure with the output, at most 10 KiB', async () => {
    expect(await execProbe({ command: ['cat', '/tmp/healthy'] }, { containerId: 'c1', runtime: runtime({ exitCode: 1, stderr: 'cat: /tmp/healthy: No such file' }), timeoutSeconds: 1 })).toEqual({
      result: 'failure',
      output: 'cat: /tmp/healthy: No such file',
    });
    const big = await execProbe({ command: ['x'] }, { containerId: 'c1', runtime: runtime({ exitCode: 2, stdout: 'y'.repeat(30_000) }), timeoutSeconds: 1 });
    expect(big.output).toHaveLength(10 * 1024);
    expect((await execProbe({ command: ['false'] }, { containerId: 'c1', runtime: runtime({ exitCode: 1 }), timeoutSeconds: 1 })).output).toBe('command ["false"] exited with code 1');
  });

  it('a timeout is a failure', async () => {
    expect(await execProbe({ command: ['sleep', '9'] }, { containerId: 'c1', runtime: runtime({ timedOut: true, exitCode: -1 }), timeoutSeconds: 1 })).toEqual({
      result: 'failure',
      output: 'command ["sleep","9"] timed out',
    });
  });

  it("an exec that cannot run (container gone) is 'unknown'", async () => {
    const outcome = await execProbe({ command: ['true'] }, { containerId: 'gone', runtime: runtime(new Error('no such container')), timeoutSeconds: 1 });
    expect(outcome.result).toBe('unknown');
    expect(outcome.output).toContain('no such container');
  });
});

describe('runProbe dispatch', () => {
  const exec = { async execSync(): Promise<ExecResult> { return { exitCode: 3, stdout: 'bad', stderr: '', timedOut: false }; } };
  const target = () => ({ podIP: host, container: container(), containerId: 'c1', runtime: exec });

  it('runs each handler kind from a Kubernetes probe', async () => {
    grpcStatus.set('', 'SERVING');
    expect(await runProbe(normalizeProbe('readiness', { httpGet: { port: 'web', path: '/error' } }), target())).toEqual({ result: 'failure', output: 'HTTP probe failed with statuscode: 500' });
    expect(await runProbe(normalizeProbe('readiness', { tcpSocket: { port: tcpPort } }), target())).toEqual({ result: 'success', output: '' });
    expect(await runProbe(normalizeProbe('liveness', { grpc: { port: grpcPort } }), target())).toEqual({ result: 'success', output: 'service healthy' });
    expect(await runProbe(normalizeProbe('liveness', { exec: { command: ['x'] } }), target())).toEqual({ result: 'failure', output: 'bad' });
    expect((await runProbe(normalizeProbe('liveness', {}), target())).result).toBe('unknown');
  });

  it('passes a custom User-Agent through', async () => {
    const headers = JSON.parse((await runProbe(normalizeProbe('readiness', { httpGet: { port: httpPort, path: '/echo' } }), target(), { userAgent: 'kube-probe/1.31' })).output);
    expect(headers['user-agent']).toBe('kube-probe/1.31');
  });
});
