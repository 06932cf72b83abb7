import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { RemoteCommandError } from './remote-command.ts';

/**
 * Hands an upgrade request on to a CRI runtime's streaming server (containerd's answers Exec
 * with a one-time URL on its own port) and splices the two connections once it is sent: the
 * runtime does the SPDY or WebSocket handshake and the streams itself, as behind kubelet's
 * proxy. Only the streaming headers travel; the client's credentials stay here.
 */
const FORWARDED = ['connection', 'upgrade', 'x-stream-protocol-version', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions'];

export async function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: string): Promise<void> {
  const url = new URL(target);
  if (url.protocol !== 'http:') throw new RemoteCommandError(500, `the runtime's streaming URL ${url.protocol}// is not served here (only http:, as containerd's default)`);
  const upstream = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) });
  await new Promise<void>((resolve, reject) => {
    upstream.once('connect', resolve);
    upstream.once('error', (err) => reject(new RemoteCommandError(500, `cannot reach the runtime's streaming server at ${url.host}: ${err.message}`)));
  });
  const lines = [`${req.method ?? 'POST'} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const name of FORWARDED) {
    const value = req.headers[name];
    if (value !== undefined) lines.push(`${name}: ${Array.isArray(value) ? value.join(', ') : value}`);
  }
  upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (head.length) upstream.write(head);
  upstream.on('error', () => socket.destroy());
  socket.on('error', () => upstream.destroy());
  upstream.pipe(socket);
  socket.pipe(upstream);
  await new Promise<void>((resolve) => {
    // The runtime ending flushes what it sent; the client going away leaves nothing to send to.
    upstream.once('close', () => {
      socket.end();
      resolve();
    });
    socket.once('close', () => upstream.destroy());
  });
}
