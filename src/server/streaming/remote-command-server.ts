import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { writeRawResponse } from '../http-util.ts';
import { commandStatus, expectedStreams, negotiateProtocol, PROTOCOL_HEADER, readTerminalSizes, RemoteCommandError, type CommandOutcome, type StreamOptions, type StreamType, type TerminalSize } from './remote-command.ts';
import { RstStatus } from './spdy-frames.ts';
import { SpdySession, type SpdyStream } from './spdy-session.ts';

/**
 * The I/O half of the remote command protocol: upgrade the connection to SPDY/3.1, wait for the
 * client to open the streams the options call for, and hand them to the caller as plain Node
 * streams; when the command ends, write its status on the error stream and close everything.
 * What kubelet's remotecommand.ServeExec does before and after calling the runtime.
 */

export interface RemoteCommandStreams {
  protocol: string;
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Terminal sizes as the client's window changes (tty only). */
  onResize(listener: (size: TerminalSize) => void): void;
  /** Resolves when the client goes away before the command ends. */
  clientGone: Promise<void>;
  /** Writes the outcome on the error stream, ends the output streams, then the connection. */
  finish(outcome: CommandOutcome, command: string[]): Promise<void>;
}

export interface UpgradeOptions {
  /** Kubelet waits 30 s (DefaultStreamCreationTimeout) for the client's streams. */
  streamCreationTimeoutMs?: number;
  /** streamingConnectionIdleTimeout: 4 h by default in kubelet. */
  idleTimeoutMs?: number;
}

/** True for a request asking to switch to SPDY (the apiserver's kubelet client does). */
export function isSpdyUpgrade(req: IncomingMessage): boolean {
  return /(^|,)\s*spdy\/3\.1\s*(,|$)/i.test(String(req.headers.upgrade ?? '')) && /upgrade/i.test(String(req.headers.connection ?? ''));
}

export async function acceptRemoteCommand(req: IncomingMessage, socket: Duplex, head: Buffer, options: StreamOptions, upgrade: UpgradeOptions = {}): Promise<RemoteCommandStreams> {
  if (!isSpdyUpgrade(req)) {
    const websocket = /websocket/i.test(String(req.headers.upgrade ?? ''));
    throw new RemoteCommandError(400, websocket
      ? 'unable to upgrade: this node streams over SPDY/3.1 only; kube-apiserver translates kubectl\'s WebSocket to SPDY (feature TranslateStreamCloseWebsocketRequests, on by default)'
      : 'unable to upgrade: missing upgrade headers in request (Connection: Upgrade, Upgrade: SPDY/3.1)');
  }
  const protocol = negotiateProtocol(req.headers[PROTOCOL_HEADER]);
  const wanted = new Set<StreamType>(expectedStreams(options));
  const streams = new Map<StreamType, SpdyStream>();
  let allArrived: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (allArrived = resolve));
  let gone: () => void = () => undefined;
  const clientGone = new Promise<void>((resolve) => (gone = resolve));

  const session = new SpdySession(socket, {
    maxStreams: 8,
    onStream: (stream) => {
      const type = stream.header('streamtype') as StreamType | undefined;
      if (!type || !wanted.has(type) || streams.has(type)) {
        // A stream this request did not ask for (or a second of a kind): refused, as kubelet does.
        session.reset(stream.id, RstStatus.RefusedStream);
        return;
      }
      streams.set(type, stream);
      if (streams.size === wanted.size) allArrived();
    },
    onClose: () => gone(),
  });
  // kubelet's streamingConnectionIdleTimeout: a connection silent this long is dropped.
  if ('setTimeout' in socket && typeof socket.setTimeout === 'function') (socket as Socket).setTimeout(upgrade.idleTimeoutMs ?? 4 * 3600_000, () => socket.destroy());
  writeRawResponse(socket, 101, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocol });
  session.feed(head);

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), upgrade.streamCreationTimeoutMs ?? 30_000)));
  const result = await Promise.race([arrived.then(() => 'ok' as const), timedOut, clientGone.then(() => 'gone' as const)]);
  clearTimeout(timer);
  if (result !== 'ok') {
    await session.shutdown();
    socket.destroy();
    throw new RemoteCommandError(result === 'timeout' ? 408 : 499, result === 'timeout' ? 'timed out waiting for client to create streams' : 'the client went away before opening its streams');
  }

  const error = streams.get('error')!;
  // Nothing comes from the client on the error stream; its reading side is drained and dropped.
  error.resume();
  const resize = streams.get('resize');
  const resizeListeners: ((size: TerminalSize) => void)[] = [];
  if (resize) {
    let buffered = '';
    resize.setEncoding('utf8');
    resize.on('data', (chunk: string) => {
      const { sizes, rest } = readTerminalSizes(buffered + chunk);
      buffered = rest;
      for (const size of sizes) for (const l of resizeListeners) l(size);
    });
    resize.on('error', () => undefined);
  }
  for (const s of streams.values()) s.on('error', () => undefined);
  const stdout = streams.get('stdout');
  const stderr = streams.get('stderr');
  const stdin = streams.get('stdin');
  return {
    protocol,
    ...(stdin ? { stdin } : {}),
    ...(stdout ? { stdout } : {}),
    ...(stderr ? { stderr } : {}),
    onResize: (listener) => resizeListeners.push(listener),
    clientGone,
    finish: async (outcome, command) => {
      const end = (s: Writable | undefined) => new Promise<void>((resolve) => {
        if (!s || s.writableEnded || s.destroyed) return resolve();
        s.end(() => resolve());
        s.once('close', () => resolve());
      });
      // Output first, then the status: the client reads its streams to the end, then the error stream.
      await end(stdout);
      await end(stderr);
      await new Promise<void>((resolve) => {
        if (error.destroyed) return resolve();
        error.end(JSON.stringify(commandStatus(outcome, command)), () => resolve());
        error.once('close', () => resolve());
      });
      await session.shutdown();
    },
  };
}
