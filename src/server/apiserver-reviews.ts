import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { AccessReviewer } from './authorizer.ts';
import type { TokenReviewer, UserInfo } from './authenticator.ts';

/**
 * TokenReview and SubjectAccessReview against the apiserver, with the agent's own node
 * credentials (the Node authorizer lets nodes create both, for exactly this). An error reaching
 * the apiserver is thrown, so the request fails (500) rather than being let in or cached as a no.
 */

export function apiserverTokenReviewer(kc: KubeConfig): TokenReviewer {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return async (token) => {
    const review = await api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
    const s = review.status;
    if (!s?.authenticated || !s.user?.username) return undefined;
    const user: UserInfo = { username: s.user.username, groups: s.user.groups ?? [] };
    if (s.user.uid) user.uid = s.user.uid;
    if (s.user.extra) user.extra = s.user.extra;
    return user;
  };
}

export function apiserverAccessReviewer(kc: KubeConfig): AccessReviewer {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return async (user, a) => {
    const review = await api.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          groups: user.groups,
          ...(user.uid ? { uid: user.uid } : {}),
          ...(user.extra ? { extra: user.extra } : {}),
          resourceAttributes: { verb: a.verb, resource: a.resource, subresource: a.subresource, name: a.name },
        },
      },
    });
    return { allowed: review.status?.allowed === true, reason: review.status?.reason ?? review.status?.evaluationError ?? '' };
  };
}
