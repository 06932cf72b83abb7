import { ErrorCode } from '../errors.ts';
import { classifyApiError, type ApiErrorKind } from './api-error.ts';

/** The stable code logged with an apiserver failure, so alerts can match on it. */
export function apiErrorCode(err: unknown): ErrorCode {
  const byKind: Partial<Record<ApiErrorKind, ErrorCode>> = {
    unreachable: ErrorCode.ApiserverUnreachable,
    unauthorized: ErrorCode.ApiserverUnauthorized,
    forbidden: ErrorCode.ApiserverForbidden,
    conflict: ErrorCode.ApiserverConflict,
  };
  return byKind[classifyApiError(err).kind] ?? ErrorCode.ApiserverError;
}

/**
 * One line an operator can act on, for an apiserver call that failed: what happened and the fix.
 * `server` is the apiserver URL; `identity` the node the agent speaks for.
 */
export function explainApiError(err: unknown, action: string, context: { server: string; nodeName: string }): string {
  const e = classifyApiError(err);
  switch (e.kind) {
    case 'unreachable':
      return `cannot ${action}: the apiserver at ${context.server} is unreachable (${e.message}). Fix: start the control plane, or correct the server URL in the kubeconfig`;
    case 'unauthorized':
      return `cannot ${action}: the apiserver at ${context.server} rejected the agent's credentials (401). Fix: issue a new client certificate for system:node:${context.nodeName}, signed by the cluster CA, and put it in the kubeconfig`;
    case 'forbidden':
      return `cannot ${action}: the apiserver refused (403: ${e.message}). Fix: the kubeconfig must identify this node as user system:node:${context.nodeName} in group system:nodes, which the Node authorizer requires`;
    default:
      return `cannot ${action}: ${e.status ? `HTTP ${e.status}: ` : ''}${e.message}`;
  }
}
