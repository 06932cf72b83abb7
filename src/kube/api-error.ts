/**
 * Sorts whatever a Kubernetes API call threw into the few cases the agent acts on differently.
 * client-node throws `ApiException` (with `code` and a Status body) for HTTP errors and the
 * fetch layer's errors (with `code` such as ECONNREFUSED) when the apiserver is out of reach.
 */
export type ApiErrorKind =
  | 'unreachable'
  | 'unauthorized'
  | 'forbidden'
  | 'notFound'
  | 'alreadyExists'
  | 'conflict'
  | 'gone'
  | 'invalid'
  | 'tooManyRequests'
  | 'serverError'
  | 'other';

export interface ClassifiedApiError {
  kind: ApiErrorKind;
  status: number | undefined;
  /** The apiserver's own message (Status.message) when there is one, else the error's. */
  message: string;
}

const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

export function classifyApiError(err: unknown): ClassifiedApiError {
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown; cause?: unknown; errno?: unknown; type?: unknown };
  const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const statusMessage = messageFromBody(e.body);
  const message = statusMessage ?? (typeof e.message === 'string' ? e.message : String(err));
  if (status === undefined) {
    const code = typeof e.code === 'string' ? e.code : typeof (e.cause as { code?: unknown })?.code === 'string' ? (e.cause as { code: string }).code : undefined;
    if ((code !== undefined && networkCodes.has(code)) || e.type === 'system' || e.type === 'request-timeout' || /socket hang up|network|fetch failed/i.test(message)) {
      return { kind: 'unreachable', status: undefined, message: code && !message.includes(code) ? `${message} (${code})` : message };
    }
    return { kind: 'other', status: undefined, message };
  }
  const byStatus: Record<number, ApiErrorKind> = { 401: 'unauthorized', 403: 'forbidden', 404: 'notFound', 409: 'conflict', 410: 'gone', 422: 'invalid', 429: 'tooManyRequests' };
  let kind: ApiErrorKind = byStatus[status] ?? (status >= 500 ? 'serverError' : 'other');
  // 409 means two things: AlreadyExists on create, Conflict on a stale resourceVersion.
  if (status === 409 && reasonFromBody(e.body) === 'AlreadyExists') kind = 'alreadyExists';
  return { kind, status, message };
}

export function isApiErrorKind(err: unknown, kind: ApiErrorKind): boolean {
  return classifyApiError(err).kind === kind;
}

function parseBody(body: unknown): Record<string, unknown> | undefined {
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
  return body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : undefined;
}

function messageFromBody(body: unknown): string | undefined {
  const message = parseBody(body)?.['message'];
  return typeof message === 'string' ? message : undefined;
}

function reasonFromBody(body: unknown): string | undefined {
  const reason = parseBody(body)?.['reason'];
  return typeof reason === 'string' ? reason : undefined;
}
