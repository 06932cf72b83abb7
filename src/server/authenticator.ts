import type { TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import { LruCache } from '../util/lru.ts';

/**
 * Who is asking, as the kubelet's delegating authenticator decides it: a client certificate
 * signed by the client CA (its CN is the user, its O entries the groups, as everywhere in
 * Kubernetes); else a bearer token the apiserver vouches for through a TokenReview, remembered
 * for cacheTTL (both answers: a flood of bad tokens must not become a flood of reviews); else
 * anonymous, only when allowed.
 */

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

/** The apiserver's TokenReview: the user behind a token, or undefined when it is not valid. */
export type TokenReviewer = (token: string) => Promise<UserInfo | undefined>;

export type AuthResult = { ok: true; user: UserInfo; method: 'x509' | 'token' | 'anonymous' } | { ok: false; why: string };

export interface AuthenticatorOptions {
  /** Client certificates are trusted only when a client CA is configured. */
  x509: boolean;
  /** Undefined: tokens are not accepted (no apiserver, or the webhook is off). */
  reviewToken: TokenReviewer | undefined;
  anonymous: boolean;
  cacheTTLMs: number;
  now?: () => number;
}

/** Bounds the token cache: distinct tokens beyond this push the oldest out. */
const TOKEN_CACHE_SIZE = 1024;

export class Authenticator {
  private readonly options: AuthenticatorOptions;
  private readonly tokens = new LruCache<string, { user: UserInfo | undefined; until: number }>(TOKEN_CACHE_SIZE);
  readonly stats = { x509: 0, token: 0, anonymous: 0, rejected: 0, reviews: 0 };

  constructor(options: AuthenticatorOptions) {
    this.options = options;
  }

  async authenticate(req: IncomingMessage): Promise<AuthResult> {
    const socket = req.socket as TLSSocket;
    if (this.options.x509 && socket.authorized) {
      const cert = socket.getPeerCertificate();
      const cn = first(cert.subject?.CN);
      if (cn) {
        this.stats.x509++;
        return { ok: true, user: { username: cn, groups: [...all(cert.subject?.O), 'system:authenticated'] }, method: 'x509' };
      }
    }
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    if (token) {
      if (!this.options.reviewToken) return this.reject('bearer tokens are not accepted here (no apiserver to review them)');
      const user = await this.review(token);
      if (!user) return this.reject('the token is not valid (TokenReview)');
      this.stats.token++;
      return { ok: true, user, method: 'token' };
    }
    if (this.options.anonymous) {
      this.stats.anonymous++;
      return { ok: true, user: ANONYMOUS, method: 'anonymous' };
    }
    return this.reject(socket.authorizationError ? `the client certificate is not trusted (${String(socket.authorizationError)})` : 'no client certificate and no bearer token');
  }

  private async review(token: string): Promise<UserInfo | undefined> {
    const now = (this.options.now ?? Date.now)();
    const cached = this.tokens.get(token);
    if (cached && cached.until > now) return cached.user;
    this.stats.reviews++;
    const user = await this.options.reviewToken!(token);
    this.tokens.set(token, { user, until: now + this.options.cacheTTLMs });
    return user;
  }

  private reject(why: string): AuthResult {
    this.stats.rejected++;
    return { ok: false, why };
  }
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
const all = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
