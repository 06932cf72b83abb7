import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { V1Container, V1HTTPHeader } from '@kubernetes/client-node';
import type { HttpGetHandler } from './probe-spec.ts';
import { dialError, joinHostPort, probeAddress } from './probe-address.ts';
import { errorMessage, maxProbeOutputBytes, probeUserAgent, type ProbeOutcome } from './probe-outcome.ts';
import { timerDelayMs } from '../util/timer-delay.ts';

/**
 * The httpGet probe, as kubelet's prober does it (pkg/probe/http): GET with Node's own client,
 * no process per probe since a node runs hundreds of these a second. 200-399 is success.
 *
 * - A fresh connection each time (no agent, "Connection: close"): a probe must see whether the
 *   server accepts connections now, and keep-alive sockets to hundreds of pods would pile up.
 * - HTTPS does not verify the certificate: probes test liveness, not identity.
 * - Redirects are followed as Go's client does with kubelet's checker: only to the same host name
 *   (any port or scheme), and the 10th redirect is an error. A redirect elsewhere is not followed
 *   and counts as success with a warning ("Probe terminated redirects").
 * - timeoutSeconds covers everything: connecting, every redirect, and reading the body.
 */
export interface HttpGetOptions {
  podIP: string;
  container: V1Container;
  timeoutSeconds: number;
  /** Defaults to kube-probe/<agent major.minor>. */
  userAgent?: string;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 10;

/**
 * What one GET (with its redirects) came to: the final response, or why there was none. Shared by
 * the httpGet probe and the httpGet lifecycle hook, which judge it differently.
 */
export type HttpGetResult =
  | { kind: 'response'; status: number; body: string; url: string; redirectedElsewhere: boolean }
  | { kind: 'failed'; message: string }
  | { kind: 'unknown'; message: string };

export async function httpGetProbe(handler: Omit<HttpGetHandler, 'type'>, options: HttpGetOptions): Promise<ProbeOutcome> {
  const result = await httpGet(handler, options);
  if (result.kind === 'unknown') return { result: 'unknown', output: result.message };
  if (result.kind === 'failed') return { result: 'failure', output: result.message };
  return judge(result);
}

/** The GET itself, redirects and timeout included (see the comment at the top). */
export async function httpGet(handler: Omit<HttpGetHandler, 'type'>, options: HttpGetOptions): Promise<HttpGetResult> {
  const address = probeAddress(handler.host, options.podIP, handler.port, options.container);
  if (!address.ok) return { kind: 'unknown', message: address.message };
  const { headers, host: hostHeader } = probeHeaders(handler.httpHeaders, options.userAgent ?? probeUserAgent());

  let url: URL;
  try {
    url = probeUrl(handler.scheme, address.host, address.port, handler.path);
  } catch (err) {
    return { kind: 'failed', message: `invalid probe URL: ${errorMessage(err)}` };
  }
  const first = url;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timerDelayMs(options.timeoutSeconds));
  const phase = { headersReceived: false };
  try {
    let host = hostHeader;
    for (let redirect = 1; ; redirect++) {
      phase.headersReceived = false;
      const res = await getOnce(url, { ...headers, ...(host ? { host } : {}) }, deadline.signal, phase);
      const done = { kind: 'response', status: res.status, body: res.body, url: url.href } as const;
      if (!redirectStatuses.has(res.status) || !res.location) return { ...done, redirectedElsewhere: false };
      let next: URL;
      try {
        next = new URL(res.location, url);
      } catch {
        return { kind: 'failed', message: `Get ${JSON.stringify(url.href)}: failed to parse Location header ${JSON.stringify(res.location)}` };
      }
      // Kubelet's redirect checker compares host names only (not ports) with the first request's.
      if (next.hostname.toLowerCase() !== first.hostname.toLowerCase()) return { ...done, redirectedElsewhere: true };
      if (redirect >= maxRedirects) return { kind: 'failed', message: `Get ${JSON.stringify(next.href)}: stopped after ${maxRedirects} redirects` };
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        return { kind: 'failed', message: `Get ${JSON.stringify(next.href)}: unsupported protocol scheme ${JSON.stringify(next.protocol.replace(/:$/, ''))}` };
      }
      // Go keeps a custom Host header through a redirect only when the Location is relative.
      if (host && /^[a-z][a-z0-9+.-]*:|^\/\//i.test(res.location)) host = undefined;
      url = next;
    }
  } catch (err) {
    if (deadline.signal.aborted) {
      const when = phase.headersReceived ? 'Client.Timeout or context cancellation while reading body' : 'Client.Timeout exceeded while awaiting headers';
      return { kind: 'failed', message: `Get ${JSON.stringify(url.href)}: context deadline exceeded (${when})` };
    }
    return { kind: 'failed', message: `Get ${JSON.stringify(url.href)}: ${dialError(err, joinHostPort(bare(url.hostname), port(url)))}` };
  } finally {
    clearTimeout(timer);
  }
}

interface Response {
  status: number;
  location: string | undefined;
  body: string;
}

/** Kubelet's verdict on the last response (DoHTTPProbe). */
function judge(res: { status: number; body: string }): ProbeOutcome {
  if (res.status >= 200 && res.status < 300) return { result: 'success', output: res.body };
  if (res.status >= 300 && res.status < 400) return { result: 'success', output: `Probe terminated redirects, Response body: ${res.body}` };
  // The body is left out: kubelet does the same, it can hold anything (issue 99425).
  return { result: 'failure', output: `HTTP probe failed with statuscode: ${res.status}` };
}

/** One GET; settles with the status and at most 10 KiB of the body, then drops the connection. */
function getOnce(url: URL, headers: http.OutgoingHttpHeaders, signal: AbortSignal, phase: { headersReceived: boolean }): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const host = bare(url.hostname);
    const secure = url.protocol === 'https:';
    const req = (secure ? https : http).request({
      method: 'GET',
      host,
      port: port(url),
      path: `${url.pathname}${url.search}`,
      headers,
      signal,
      agent: false,
      ...(secure
        ? {
            rejectUnauthorized: false,
            // SNI names the URL's host as Go does, not the Host header; an IP is never a server name.
            servername: isIP(host) ? '' : host,
          }
        : {}),
    });
    req.on('error', reject);
    req.on('response', (res) => {
      phase.headersReceived = true;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).subarray(0, maxProbeOutputBytes).toString('utf8') });
        res.destroy();
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        // Enough to report; the rest of a large body is not read (kubelet's ReadAtMost).
        if (size >= maxProbeOutputBytes) done();
      });
      res.on('end', done);
      res.on('error', reject);
      // A connection that closes mid-body without an error still settles the promise.
      res.on('close', () => reject(new Error('connection closed before the response body was complete')));
    });
    req.end();
  });
}

/**
 * The probe's headers, as kubelet builds them: the user's (repeated names keep every value), then
 * User-Agent and "Accept: *\/*" unless given. An empty Accept or User-Agent means none at all. A
 * Host header sets the request's host (virtual hosting) rather than being a header of its own.
 */
export function probeHeaders(list: readonly V1HTTPHeader[], userAgent: string): { headers: Record<string, string | string[]>; host?: string } {
  const byName = new Map<string, { name: string; values: string[] }>();
  for (const { name, value } of list) {
    const key = name.toLowerCase();
    const entry = byName.get(key);
    if (entry) entry.values.push(value);
    else byName.set(key, { name, values: [value] });
  }
  if (!byName.has('user-agent')) byName.set('user-agent', { name: 'User-Agent', values: [userAgent] });
  if (!byName.has('accept')) byName.set('accept', { name: 'Accept', values: ['*/*'] });
  for (const key of ['user-agent', 'accept']) if (byName.get(key)?.values.every((v) => v === '')) byName.delete(key);
  const host = byName.get('host')?.values[0];
  byName.delete('host');
  // The probe's own connection policy, whatever the user asked.
  byName.set('connection', { name: 'Connection', values: ['close'] });
  const headers: Record<string, string | string[]> = {};
  for (const { name, values } of byName.values()) headers[name] = values.length === 1 ? values[0]! : values;
  return { headers, ...(host ? { host } : {}) };
}

/** scheme://host:port + path, where the path may carry a query; a fragment is dropped. */
export function probeUrl(scheme: 'HTTP' | 'HTTPS', host: string, portNumber: number, path: string): URL {
  const url = new URL(`${scheme.toLowerCase()}://${joinHostPort(host, portNumber)}/`);
  const withoutFragment = path.split('#')[0] ?? '';
  const q = withoutFragment.indexOf('?');
  const pathname = q < 0 ? withoutFragment : withoutFragment.slice(0, q);
  // Setting the parts (rather than resolving `path` against the base) cannot change the host,
  // even for a path like "//elsewhere/x", and escapes what must be escaped.
  url.pathname = pathname.startsWith('/') ? pathname : `/${pathname}`;
  if (q >= 0) url.search = withoutFragment.slice(q);
  return url;
}

function bare(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1');
}

function port(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}
