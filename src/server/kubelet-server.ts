import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { describeError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Authenticator, UserInfo } from './authenticator.ts';
import type { Authorizer } from './authorizer.ts';
import { HttpError, sendError, writeRawResponse } from './http-util.ts';
import { forbiddenMessage, requestAttributes, type RequestAttributes } from './request-attributes.ts';

/**
 * The kubelet API on port 10250, over TLS: every request is authenticated (client certificate,
 * bearer token, or refused with 401), authorized for its verb and subresource (403 otherwise),
 * then handed to the handler of its first path segment (/healthz, /pods, /containerLogs, ...),
 * each a small function of its own in handlers/. Both refusals are logged with who and what,
 * never with the token. The apiserver reaches this server with its kubelet client certificate
 * for `kubectl logs`; so can anyone the cluster's RBAC lets in.
 */

export interface HandlerContext {
  path: string;
  query: URLSearchParams;
  user: UserInfo;
  /** Aborts when the client goes away (ends a follow). */
  signal: AbortSignal;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, ctx: HandlerContext) => Promise<void>;

/**
 * A request that asks to switch protocols (exec, attach over SPDY): Node hands over the raw socket
 * and any bytes past the headers instead of a response object. The handler owns the socket.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, ctx: HandlerContext) => Promise<void>;

export interface KubeletServerOptions {
  address: string;
  port: number;
  cert: Buffer;
  key: Buffer;
  /** The CA client certificates must be signed by; none: certificates identify nobody. */
  clientCA: Buffer | undefined;
  nodeName: string;
  authenticator: Authenticator;
  authorizer: Authorizer;
  /** By first path segment: "/healthz" serves /healthz and /healthz/... */
  handlers: Record<string, Handler>;
  /** By first path segment, for upgrade requests; a segment without one refuses the upgrade. */
  upgradeHandlers?: Record<string, UpgradeHandler>;
  log: Logger;
}

type Admission = { ok: true; user: UserInfo } | { ok: false; code: 401 | 403; message: string };

export class KubeletServer {
  private readonly options: KubeletServerOptions;
  private server: Server | undefined;
  readonly stats = { requests: 0, unauthorized: 0, forbidden: 0, errors: 0 };

  constructor(options: KubeletServerOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    const o = this.options;
    // requestCert without rejecting: a client with no (or an untrusted) certificate may still
    // bring a token, and deserves a 401 rather than a TLS alert.
    const server = createServer({ cert: o.cert, key: o.key, ...(o.clientCA ? { ca: o.clientCA } : {}), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.stats.errors++;
        o.log.error({ path: req.url, err: describeError(err) }, 'kubelet API request failed');
        sendError(res, 500, describeError(err));
      });
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => undefined);
      this.handleUpgrade(req, socket, head).catch((err: unknown) => {
        this.stats.errors++;
        o.log.error({ path: req.url, err: describeError(err) }, 'kubelet API upgrade request failed');
        if (socket.writable) writeRawResponse(socket, 500, {}, describeError(err));
        else socket.destroy();
      });
    });
    // Idle keep-alive connections must not pin the process at shutdown.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Authentication, then authorization; both refusals are logged with who and what, never the token. */
  private async admit(req: IncomingMessage, path: string): Promise<Admission> {
    const o = this.options;
    this.stats.requests++;
    const authn = await o.authenticator.authenticate(req);
    if (!authn.ok) {
      this.stats.unauthorized++;
      o.log.warn({ path, remote: req.socket.remoteAddress, why: authn.why }, 'kubelet API: unauthorized request (401)');
      return { ok: false, code: 401, message: 'Unauthorized' };
    }
    const attributes: RequestAttributes = requestAttributes(req.method ?? 'GET', path, o.nodeName);
    const authz = await o.authorizer.authorize(authn.user, attributes);
    if (!authz.allowed) {
      this.stats.forbidden++;
      o.log.warn({ path, user: authn.user.username, verb: attributes.verb, subresource: attributes.subresource, reason: authz.reason }, 'kubelet API: forbidden request (403)');
      return { ok: false, code: 403, message: forbiddenMessage(authn.user.username, attributes) };
    }
    return { ok: true, user: authn.user };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = this.options;
    const url = new URL(req.url ?? '/', 'https://node');
    const path = url.pathname;
    const admission = await this.admit(req, path);
    if (!admission.ok) {
      sendError(res, admission.code, admission.message);
      return;
    }
    const segment = `/${path.split('/')[1] ?? ''}`;
    const handler = Object.hasOwn(o.handlers, segment) ? o.handlers[segment] : undefined;
    if (!handler) {
      sendError(res, 404, `${path} is not served here`);
      return;
    }
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    try {
      await handler(req, res, { path, query: url.searchParams, user: admission.user, signal: gone.signal });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      sendError(res, err.code, err.message);
    }
  }

  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://node');
    const path = url.pathname;
    const admission = await this.admit(req, path);
    if (!admission.ok) {
      writeRawResponse(socket, admission.code, {}, admission.message);
      return;
    }
    const handlers = this.options.upgradeHandlers ?? {};
    const segment = `/${path.split('/')[1] ?? ''}`;
    const handler = Object.hasOwn(handlers, segment) ? handlers[segment] : undefined;
    if (!handler) {
      writeRawResponse(socket, 400, {}, `${path} does not upgrade; exec and attach do`);
      return;
    }
    const gone = new AbortController();
    socket.once('close', () => gone.abort());
    try {
      await handler(req, socket, head, { path, query: url.searchParams, user: admission.user, signal: gone.signal });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (socket.writable) writeRawResponse(socket, err.code, {}, err.message);
    }
  }
}
