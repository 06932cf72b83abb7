import type { V1Container, V1LifecycleHandler, V1Pod } from '@kubernetes/client-node';
import { execa } from 'execa';
import type { Runtime } from '../runtime/types.ts';

export type HandlerResult = { ok: true } | { ok: false; message: string };

/**
 * Runs a lifecycle handler (postStart, preStop; probes share the same mechanisms): `exec` inside
 * the container through the runtime, `httpGet` against the pod (success is 200-399), `sleep`.
 * Without a pod IP yet, httpGet to the pod goes through the pod's own network namespace.
 */
export async function runHandler(options: {
  handler: V1LifecycleHandler;
  pod: V1Pod;
  container: V1Container;
  containerId: string;
  runtime: Runtime;
  podIP: string;
  netnsPath: string;
  timeoutSeconds: number;
}): Promise<HandlerResult> {
  const { handler, runtime, containerId, timeoutSeconds } = options;
  if (handler.exec?.command) {
    const result = await runtime.execSync(containerId, handler.exec.command, timeoutSeconds);
    if (result.timedOut) return { ok: false, message: `command ${JSON.stringify(handler.exec.command)} timed out after ${timeoutSeconds}s` };
    if (result.exitCode !== 0) {
      const out = (result.stdout + result.stderr).trim().slice(0, 1024);
      return { ok: false, message: `command ${JSON.stringify(handler.exec.command)} exited with ${result.exitCode}: ${out}` };
    }
    return { ok: true };
  }
  if (handler.httpGet) {
    const get = handler.httpGet;
    const port = resolvePort(get.port, options.container);
    if (port === undefined) return { ok: false, message: `port ${String(get.port)} is not a number or a named port of container ${options.container.name}` };
    const scheme = (get.scheme ?? 'HTTP').toLowerCase();
    const path = get.path ?? '/';
    const headers = (get.httpHeaders ?? []).flatMap((h) => ['-H', `${h.name}: ${h.value}`]);
    const host = get.host ?? (options.podIP || '127.0.0.1');
    const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${path.startsWith('/') ? path : `/${path}`}`;
    const curl = ['curl', '-s', '-k', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', String(timeoutSeconds), ...headers, url];
    // Without a pod IP the pod is reachable only from inside its network namespace.
    const inPod = !get.host && !options.podIP && options.netnsPath;
    const result = await execa(inPod ? 'nsenter' : curl[0]!, inPod ? [`--net=${options.netnsPath}`, ...curl] : curl.slice(1), { reject: false, timeout: (timeoutSeconds + 2) * 1000 });
    const code = Number(result.stdout.trim());
    if (code >= 200 && code < 400) return { ok: true };
    return { ok: false, message: code > 0 ? `HTTP GET ${url} returned ${code}` : `HTTP GET ${url} failed: ${(result.stderr || `curl exit ${result.exitCode ?? '?'}`).trim()}` };
  }
  if (handler.sleep) {
    await new Promise((r) => setTimeout(r, Math.max(0, handler.sleep!.seconds) * 1000));
    return { ok: true };
  }
  return { ok: false, message: 'handler has no exec, httpGet or sleep action' };
}

/** A port given by number, numeric string, or the name of one of the container's ports. */
export function resolvePort(port: number | string | undefined, container: V1Container): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined) return undefined;
  if (/^[0-9]+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}
