import { LruCache } from '../util/lru.ts';
import type { UserInfo } from './authenticator.ts';
import type { RequestAttributes } from './request-attributes.ts';

/**
 * May this user do this? The kubelet's webhook mode: a SubjectAccessReview to the apiserver,
 * whose RBAC decides (system:kubelet-api-admin allows everything, a token of a service account
 * with no binding nothing). Answers are remembered, allowed ones for cacheAuthorizedTTL and
 * denied ones for cacheUnauthorizedTTL, in a bounded cache. AlwaysAllow trusts anyone who
 * authenticated.
 */

export type AccessReviewer = (user: UserInfo, attributes: RequestAttributes) => Promise<{ allowed: boolean; reason: string }>;

export interface AuthorizerOptions {
  mode: 'Webhook' | 'AlwaysAllow';
  /** Undefined in Webhook mode: nothing can be reviewed (standalone), so nothing is allowed. */
  review: AccessReviewer | undefined;
  allowedTTLMs: number;
  deniedTTLMs: number;
  now?: () => number;
}

const DECISION_CACHE_SIZE = 4096;

export class Authorizer {
  private readonly options: AuthorizerOptions;
  private readonly decisions = new LruCache<string, { allowed: boolean; reason: string; until: number }>(DECISION_CACHE_SIZE);
  readonly stats = { allowed: 0, denied: 0, reviews: 0 };

  constructor(options: AuthorizerOptions) {
    this.options = options;
  }

  async authorize(user: UserInfo, a: RequestAttributes): Promise<{ allowed: boolean; reason: string }> {
    const decision = await this.decide(user, a);
    if (decision.allowed) this.stats.allowed++;
    else this.stats.denied++;
    return decision;
  }

  private async decide(user: UserInfo, a: RequestAttributes): Promise<{ allowed: boolean; reason: string }> {
    if (this.options.mode === 'AlwaysAllow') return { allowed: true, reason: 'AlwaysAllow' };
    if (!this.options.review) return { allowed: false, reason: 'no apiserver to ask (standalone mode)' };
    const key = JSON.stringify([user.username, [...user.groups].sort(), a.verb, a.subresource]);
    const now = (this.options.now ?? Date.now)();
    const cached = this.decisions.get(key);
    if (cached && cached.until > now) return cached;
    this.stats.reviews++;
    const answer = await this.options.review(user, a);
    this.decisions.set(key, { ...answer, until: now + (answer.allowed ? this.options.allowedTTLMs : this.options.deniedTTLMs) });
    return answer;
  }
}
