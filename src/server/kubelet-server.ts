import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Authenticator, UserInfo } from './authenticator.ts';
import type { Authorizer } from './authorizer.ts';
import { HttpError, sendError } from './http-util.ts';
import { forbiddenMessage, requestAttributes } from './request-attributes.ts';

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
  log: Logger;
}

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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = this.options;
    this.stats.requests++;
    const url = new URL(req.url ?? '/', 'https://node');
    const path = url.pathname;
    const authn = await o.authenticator.authenticate(req);
    if (!authn.ok) {
      this.stats.unauthorized++;
      o.log.warn({ path, remote: req.socket.remoteAddress, why: authn.why }, 'kubelet API: unauthorized request (401)');
      sendError(res, 401, 'Unauthorized');
      return;
    }
    const attributes = requestAttributes(req.method ?? 'GET', path, o.nodeName);
    const authz = await o.authorizer.authorize(authn.user, attributes);
    if (!authz.allowed) {
      this.stats.forbidden++;
      o.log.warn({ path, user: authn.user.username, verb: attributes.verb, subresource: attributes.subresource, reason: authz.reason }, 'kubelet API: forbidden request (403)');
      sendError(res, 403, forbiddenMessage(authn.user.username, attributes));
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
      await handler(req, res, { path, query: url.searchParams, user: authn.user, signal: gone.signal });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      sendError(res, err.code, err.message);
    }
  }
}
