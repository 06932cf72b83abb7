import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { execa } from 'execa';
import { ErrorCode } from '../../src/errors.ts';
import { CriClient } from '../../src/runtime/cri/cri-client.ts';
import { CriRuntime } from '../../src/runtime/cri/cri-runtime.ts';

// The CRI client over real gRPC on unix sockets, against servers that misbehave the way a node's
// runtime can: no socket at all, a file that is not one, a runtime that only speaks the old API,
// one that never answers, one that goes away and comes back. What the operator reads
// (`node-agent check`) is checked too.

const repo = resolve(import.meta.dirname, '../..');
const agent = join(repo, 'bin/node-agent');

/** A gRPC server on a unix socket serving only what `handlers` implements of runtime.v1.RuntimeService. */
async function criServer(socket: string, handlers: grpc.UntypedServiceImplementation): Promise<grpc.Server> {
  const server = new grpc.Server();
  if (Object.keys(handlers).length > 0) {
    const def = protoLoader.loadSync(join(repo, 'src/runtime/cri/api.proto'), { keepCase: false, longs: String, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: { service: grpc.ServiceDefinition } } } };
    server.addService(pkg.runtime.v1.RuntimeService.service, handlers);
  }
  await new Promise<void>((ok, fail) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? fail(err) : ok())));
  return server;
}

const version = (_call: unknown, callback: grpc.sendUnaryData<object>) => callback(null, { version: '0.1.0', runtimeName: 'fakecri', runtimeVersion: '9.9', runtimeApiVersion: 'v1' });

describe('CRI client on unix sockets', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'na-cri-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const check = (socket: string) =>
    execa(agent, ['check', '--standalone', '--runtime', 'containerd', '--runtime-endpoint', `unix://${socket}`, '--node-name', 'w1', '--node-ip', '127.0.0.1', '--root-dir', join(dir, 'root'), '--healthz-port', '0'], { reject: false, timeout: 30_000 });

  it('no socket: check names the missing socket and the fix; status reports the runtime down without throwing', async () => {
    const socket = join(dir, 'missing.sock');
    const r = await check(socket);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`FAIL runtime: container runtime is not running: no socket at ${socket}. Fix: start containerd`);
    const runtime = new CriRuntime({ endpoint: `unix://${socket}`, timeoutMs: 2000, nodeName: 'w1' });
    const [ready] = await runtime.status();
    expect(ready).toMatchObject({ type: 'RuntimeReady', status: false });
    expect(ready?.message).toContain('no socket at');
    await runtime.close();
  });

  it('a file that is not a socket, and a socket that only speaks the older API, are named as such', async () => {
    const file = join(dir, 'plain-file');
    await writeFile(file, 'x');
    expect((await check(file)).stdout).toContain(`FAIL runtime: ${file} is not a socket`);
    // A server with no runtime.v1 service: what a runtime that only has v1alpha2 answers.
    const socket = join(dir, 'old.sock');
    const server = await criServer(socket, {});
    try {
      const r = await check(socket);
      expect(r.exitCode).toBe(1);
      expect(r.stdout).toMatch(/FAIL runtime: .*does not serve RuntimeService\/Version of CRI runtime\.v1.*v1alpha2.*containerd 1\.6 or newer/);
    } finally {
      server.forceShutdown();
    }
  });

  it('every call has a deadline: a runtime that never answers fails the call in time', async () => {
    const socket = join(dir, 'hang.sock');
    const server = await criServer(socket, { Version: version, ListPodSandbox: () => undefined });
    const client = new CriClient({ endpoint: `unix://${socket}`, timeoutMs: 500 });
    try {
      expect((await client.runtime('Version', { version: 'v1' })).runtimeName).toBe('fakecri');
      const t0 = Date.now();
      await expect(client.runtime('ListPodSandbox', {})).rejects.toMatchObject({ code: ErrorCode.RuntimeUnavailable, message: expect.stringContaining('did not answer RuntimeService/ListPodSandbox in time') });
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it('reconnects by itself when the runtime goes away and comes back on the same socket', async () => {
    const socket = join(dir, 'restart.sock');
    let server = await criServer(socket, { Version: version });
    const client = new CriClient({ endpoint: `unix://${socket}`, timeoutMs: 1000 });
    try {
      await client.runtime('Version', { version: 'v1' });
      server.forceShutdown();
      await rm(socket, { force: true });
      await expect(client.runtime('Version', { version: 'v1' })).rejects.toMatchObject({ code: ErrorCode.RuntimeUnavailable });
      // Away for a while: the channel backs off between attempts, but never beyond a few seconds.
      await new Promise((r) => setTimeout(r, 6000));
      server = await criServer(socket, { Version: version });
      const back = Date.now();
      for (;;) {
        const ok = await client.runtime('Version', { version: 'v1' }).then(() => true, () => false);
        if (ok) break;
        if (Date.now() - back > 10_000) throw new Error('the client did not reconnect within 10 s');
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(Date.now() - back).toBeLessThan(6000);
    } finally {
      client.close();
      server.forceShutdown();
    }
  }, 30_000);
});
