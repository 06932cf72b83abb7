import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * An error as the kubelet answers it: the message as plain text (Go's http.Error), which the
 * apiserver hands on and kubectl prints as it is ("Error from server (BadRequest): <message>").
 */
export function sendError(res: ServerResponse, code: number, message: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }).end(`${message}\n`);
}

export function sendJson(res: ServerResponse, value: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

/** An error a handler throws to answer with this code and message. */
export class HttpError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

const STATUS_TEXT: Record<number, string> = { 101: 'Switching Protocols', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 501: 'Not Implemented' };

/**
 * An HTTP/1.1 response written straight on a socket, for requests that arrived as upgrades (exec,
 * attach): Node hands those over before any ServerResponse exists. A body ends the connection.
 */
export function writeRawResponse(socket: Duplex, code: number, headers: Record<string, string>, body?: string): void {
  const lines = [`HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? 'Error'}`];
  const all = body === undefined ? headers : { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close' };
  for (const [name, value] of Object.entries(all)) lines.push(`${name}: ${value.replace(/[\r\n]/g, ' ')}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`);
  if (body !== undefined) socket.end();
}
