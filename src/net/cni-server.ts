import { chmod, mkdir, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { type ForwardRequest, type ForwardResponse, placeOf } from '../../cni/forward.ts';
import type { CniOutput } from '../../cni/types.ts';
import type { Logger } from '../log/logger.ts';

/**
 * The agent's end of the exec'd plugin's fast path (cni/forward.ts): a unix socket, root only,
 * where each connection carries one CNI call (the plugin's environment and stdin) and gets back
 * what the plugin would have printed and its exit code. Calls run through `run`, the plugin's own
 * `runCni` with the agent's long-lived netlink socket, exactly as the Docker backend's in-process
 * calls do.
 *
 * The socket file is a path, so a caller in another network namespace could reach it: calls from
 * a caller that does not stand where the agent does (cni/forward.ts, Place) are declined and the
 * plugin runs them itself, where it was exec'd.
 */

export interface CniServerOptions {
  path: string;
  run: (env: Record<string, string>, stdin: string) => Promise<CniOutput>;
  log: Logger;
}

/** A network configuration with a prevResult and valid-attachments for a full node stays far below this. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export interface CniServerStats {
  served: number;
  declined: number;
  failed: number;
}

export class CniServer {
  readonly stats: CniServerStats = { served: 0, declined: 0, failed: 0 };
  private readonly options: CniServerOptions;
  private server: Server | undefined;

  constructor(options: CniServerOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    const { path } = this.options;
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    // A socket file left by an agent that died is in the way of listen(); nobody answers on it.
    await unlink(path).catch(() => undefined);
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.options.log.error({ err: err.message, socket: path }, 'CNI socket failed'));
    await chmod(path, 0o600);
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.options.path).catch(() => undefined);
  }

  private accept(socket: Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    socket.setTimeout(30_000, () => socket.destroy());
    socket.on('error', () => undefined); // the plugin went away; nothing to answer
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        socket.destroy();
        return;
      }
      chunks.push(chunk);
    });
    socket.on('end', () => {
      socket.setTimeout(0);
      this.handle(Buffer.concat(chunks).toString('utf8'))
        .then((response) => socket.end(JSON.stringify(response)))
        .catch((err: unknown) => {
          this.stats.failed++;
          this.options.log.error({ err: err instanceof Error ? err.message : String(err) }, 'forwarded CNI call failed');
          socket.destroy();
        });
    });
  }

  private async handle(text: string): Promise<ForwardResponse> {
    const request = JSON.parse(text) as ForwardRequest;
    const env = request.env ?? {};
    const theirs = request.place ?? { netns: '', podNetns: '' };
    const ours = placeOf(env['CNI_NETNS']);
    if (theirs.netns !== ours.netns || theirs.podNetns !== ours.podNetns) {
      this.stats.declined++;
      return { declined: `the caller stands elsewhere (${JSON.stringify(theirs)}) than the agent (${JSON.stringify(ours)})` };
    }
    const started = performance.now();
    const output = await this.options.run(env, String(request.stdin ?? ''));
    this.stats.served++;
    this.options.log.debug(
      { command: env['CNI_COMMAND'], container: env['CNI_CONTAINERID']?.slice(0, 12), exitCode: output.exitCode, ms: Math.round(performance.now() - started) },
      'CNI call from the exec\'d plugin',
    );
    return { output };
  }
}
