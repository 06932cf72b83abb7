import type { V1Container } from '@kubernetes/client-node';

/**
 * Where an httpGet or tcpSocket probe connects: the handler's host, else the pod IP; the port by
 * number or by the name of one of the container's ports (kubelet's ResolveContainerPort). An
 * address that cannot be had is the prober's problem, not the container's: the caller reports it
 * as 'unknown', as kubelet reports a probe that errored.
 */
export type ProbeAddress = { ok: true; host: string; port: number } | { ok: false; message: string };

export function probeAddress(host: string | undefined, podIP: string, port: number | string, container: V1Container): ProbeAddress {
  const resolved = resolvePort(port, container);
  if (resolved === undefined) return { ok: false, message: `port ${JSON.stringify(port)} is not a number or a named port of container ${JSON.stringify(container.name)}` };
  if (!Number.isInteger(resolved) || resolved < 1 || resolved > 65535) return { ok: false, message: `invalid port number: ${resolved}` };
  const target = host || podIP;
  // Kubelet would dial ":port" (the node itself) here; the agent waits for the pod to have an IP.
  if (!target) return { ok: false, message: 'the pod has no IP yet' };
  return { ok: true, host: target, port: resolved };
}

/** "host:port", with IPv6 literals bracketed (Go's net.JoinHostPort). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A socket error in the words of Go's net package ("dial tcp 10.1.2.3:8080: connect: connection
 * refused"), which is what users see in kubelet's Unhealthy events and search for.
 */
export function dialError(err: unknown, hostPort: string): string {
  const code = (err as { code?: unknown }).code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connect: connection refused',
    EHOSTUNREACH: 'connect: no route to host',
    ENETUNREACH: 'connect: network is unreachable',
    ETIMEDOUT: 'i/o timeout',
  };
  const text = typeof code === 'string' ? known[code] : undefined;
  // Anything else (a reset mid-response, a TLS error) happened after the dial: Node's words then.
  return text ? `dial tcp ${hostPort}: ${text}` : err instanceof Error ? err.message : String(err);
}

/** A port given by number, numeric string, or the name of one of the container's ports. */
export function resolvePort(port: number | string | undefined, container: V1Container): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined) return undefined;
  if (/^[0-9]+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}
