import type { ServerResponse } from 'node:http';

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
