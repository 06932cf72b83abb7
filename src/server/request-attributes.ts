/**
 * What a request to the kubelet API asks to do, in RBAC's terms, as the kubelet's authorizer
 * builds it: the verb from the HTTP method, resource `nodes` named after this node, and a
 * subresource from the path (stats, metrics, log, spec; everything else, logs and exec of pods
 * included, is `proxy`). A user allowed nodes/proxy may read every pod's logs and run commands in
 * them: the API's most powerful right, which only the apiserver's client should hold.
 */

export interface RequestAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  name: string;
  /** The path as asked, for the log line and the Forbidden message. */
  path: string;
}

const VERBS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** The first path segment that has a subresource of its own; the rest are proxy. */
const SUBRESOURCES: [prefix: string, subresource: string][] = [
  ['/stats', 'stats'],
  ['/metrics', 'metrics'],
  ['/logs', 'log'],
  ['/spec', 'spec'],
  ['/checkpoint', 'checkpoint'],
  ['/configz', 'configz'],
  ['/healthz', 'healthz'],
];

export function requestAttributes(method: string, path: string, nodeName: string): RequestAttributes {
  let subresource = 'proxy';
  for (const [prefix, sub] of SUBRESOURCES) {
    if (path === prefix || path.startsWith(`${prefix}/`)) {
      subresource = sub;
      break;
    }
  }
  return { verb: VERBS[method.toUpperCase()] ?? method.toLowerCase(), resource: 'nodes', subresource, name: nodeName, path };
}

/** The kubelet's 403 body, word for word in shape: who, and what they may not do. */
export function forbiddenMessage(user: string, a: RequestAttributes): string {
  return `Forbidden (user=${user}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource})`;
}
