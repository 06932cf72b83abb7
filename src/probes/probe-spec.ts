import type { V1Container, V1HTTPGetAction, V1HTTPHeader, V1Probe } from '@kubernetes/client-node';

/**
 * A container probe in the agent's own terms: the Kubernetes fields with the apiserver's defaults
 * applied, and the one handler the probe runs. Pure; the prober manager schedules these and the
 * mechanisms in this directory run them.
 */
export type ProbeKind = 'liveness' | 'readiness' | 'startup';
export const probeKinds: readonly ProbeKind[] = ['startup', 'liveness', 'readiness'];

export interface ExecHandler {
  type: 'exec';
  command: string[];
}
export interface HttpGetHandler {
  type: 'httpGet';
  /** Unset: the pod IP. */
  host?: string;
  scheme: 'HTTP' | 'HTTPS';
  path: string;
  /** A number, or the name of one of the container's ports. */
  port: number | string;
  httpHeaders: V1HTTPHeader[];
}
export interface TcpSocketHandler {
  type: 'tcpSocket';
  host?: string;
  port: number | string;
}
export interface GrpcHandler {
  type: 'grpc';
  port: number;
  /** The service name sent in HealthCheckRequest; '' asks about the server as a whole. */
  service: string;
}
/**
 * No handler at all. The apiserver never lets one through, but a static pod can hold anything;
 * kubelet then reports the probe as errored on each run (never a failure), and so does the agent.
 */
export interface MissingHandler {
  type: 'missing';
}
export type ProbeHandler = ExecHandler | HttpGetHandler | TcpSocketHandler | GrpcHandler | MissingHandler;

export interface ProbeSpec {
  kind: ProbeKind;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
  /** Grace period for the kill a failed liveness or startup probe causes; overrides the pod's. */
  terminationGracePeriodSeconds?: number;
  handler: ProbeHandler;
}

export const probeDefaults = {
  initialDelaySeconds: 0,
  periodSeconds: 10,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
} as const;

/**
 * The probe with the apiserver's defaulting (SetDefaults_Probe: an unset or zero period, timeout or
 * threshold takes its default). Values validation would reject are made safe rather than trusted
 * (a negative period would spin the scheduler); `validateProbe` is where they are reported.
 */
export function normalizeProbe(kind: ProbeKind, probe: V1Probe): ProbeSpec {
  const positive = (v: number | undefined, d: number) => (typeof v === 'number' && Number.isFinite(v) && v >= 1 ? Math.floor(v) : d);
  const delay = probe.initialDelaySeconds;
  const grace = probe.terminationGracePeriodSeconds;
  return {
    kind,
    initialDelaySeconds: typeof delay === 'number' && Number.isFinite(delay) && delay > 0 ? Math.floor(delay) : 0,
    periodSeconds: positive(probe.periodSeconds, probeDefaults.periodSeconds),
    timeoutSeconds: positive(probe.timeoutSeconds, probeDefaults.timeoutSeconds),
    successThreshold: positive(probe.successThreshold, probeDefaults.successThreshold),
    failureThreshold: positive(probe.failureThreshold, probeDefaults.failureThreshold),
    // Readiness never kills, so a grace period on it means nothing (validation rejects it).
    ...(kind !== 'readiness' && typeof grace === 'number' && grace > 0 ? { terminationGracePeriodSeconds: grace } : {}),
    handler: handlerOf(probe),
  };
}

/** The handler kubelet would run: it looks at exec, httpGet, tcpSocket, grpc in that order. */
function handlerOf(probe: V1Probe): ProbeHandler {
  if (probe.exec) return { type: 'exec', command: probe.exec.command ?? [] };
  if (probe.httpGet) return httpGetHandlerOf(probe.httpGet);
  if (probe.tcpSocket) return { type: 'tcpSocket', ...(probe.tcpSocket.host ? { host: probe.tcpSocket.host } : {}), port: probe.tcpSocket.port };
  if (probe.grpc) return { type: 'grpc', port: probe.grpc.port, service: probe.grpc.service ?? '' };
  return { type: 'missing' };
}

/** An httpGet action (of a probe or a lifecycle hook) with its defaults: scheme HTTP, path "/". */
export function httpGetHandlerOf(get: V1HTTPGetAction): HttpGetHandler {
  return {
    type: 'httpGet',
    ...(get.host ? { host: get.host } : {}),
    scheme: get.scheme?.toUpperCase() === 'HTTPS' ? 'HTTPS' : 'HTTP',
    path: get.path || '/',
    port: get.port,
    httpHeaders: get.httpHeaders ?? [],
  };
}

/**
 * The apiserver's checks of one probe (validateLivenessProbe / validateReadinessProbe /
 * validateStartupProbe), as "field: message" strings; empty when valid. Fields are checked after
 * defaulting, as the apiserver does, so 0 or unset is fine and only negatives fail. One check is
 * the agent's own: a named port must exist in the container, which kubelet finds out only when
 * the probe runs (and then reports it as errored forever).
 */
export function validateProbe(kind: ProbeKind, probe: V1Probe, container: V1Container): string[] {
  const errors: string[] = [];
  const at = `${kind}Probe`;
  const invalid = (field: string, value: unknown, message: string) => errors.push(`${at}.${field}: Invalid value: ${JSON.stringify(value)}: ${message}`);
  const checkPort = (field: string, port: unknown) => {
    if (port === undefined || port === null || port === '') errors.push(`${at}.${field}: Required value`);
    else {
      const message = portError(port, container);
      if (message) invalid(field, port, message);
    }
  };

  for (const field of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    const value: unknown = probe[field];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value)) invalid(field, value, 'must be an integer');
    else if (value < 0) invalid(field, value, 'must be greater than or equal to 0');
  }
  const grace: unknown = probe.terminationGracePeriodSeconds;
  if (grace !== undefined) {
    if (kind === 'readiness') invalid('terminationGracePeriodSeconds', grace, 'must not be set for readinessProbes');
    else if (typeof grace !== 'number' || !Number.isInteger(grace) || grace <= 0) invalid('terminationGracePeriodSeconds', grace, 'must be greater than 0');
  }
  // Liveness and startup act on the first success (the container is alive / has started), so a
  // success threshold above 1 would only delay that; the apiserver insists on exactly 1.
  const success = probe.successThreshold || probeDefaults.successThreshold;
  if (kind !== 'readiness' && success !== 1) invalid('successThreshold', probe.successThreshold, 'must be 1');

  const handlers = (['exec', 'httpGet', 'tcpSocket', 'grpc'] as const).filter((h) => probe[h] !== undefined && probe[h] !== null);
  if (handlers.length === 0) errors.push(`${at}: Required value: must specify a handler type`);
  for (const extra of handlers.slice(1)) errors.push(`${at}.${extra}: Forbidden: may not specify more than 1 handler type`);
  const [handler] = handlers;
  if (handler === 'exec' && !probe.exec?.command?.length) errors.push(`${at}.exec.command: Required value`);
  if (handler === 'httpGet' && probe.httpGet) {
    const get = probe.httpGet;
    checkPort('httpGet.port', get.port);
    if (get.scheme !== undefined && get.scheme !== 'HTTP' && get.scheme !== 'HTTPS') {
      errors.push(`${at}.httpGet.scheme: Unsupported value: ${JSON.stringify(get.scheme)}: supported values: "HTTP", "HTTPS"`);
    }
    for (const header of get.httpHeaders ?? []) {
      if (!/^[-A-Za-z0-9]+$/.test(header.name)) invalid('httpGet.httpHeaders', header.name, "a valid HTTP header must consist of alphanumeric characters or '-'");
    }
  }
  if (handler === 'tcpSocket' && probe.tcpSocket) checkPort('tcpSocket.port', probe.tcpSocket.port);
  if (handler === 'grpc' && probe.grpc) {
    // GRPCAction.port is an int32, never a name: gRPC probes have no named-port lookup.
    const port: unknown = probe.grpc.port;
    if (port === undefined) errors.push(`${at}.grpc.port: Required value`);
    else if (typeof port !== 'number' || !Number.isInteger(port)) invalid('grpc.port', port, 'must be a number');
    else if (port < 1 || port > 65535) invalid('grpc.port', port, 'must be between 1 and 65535, inclusive');
  }
  return errors;
}

/** ValidatePortNumOrName, plus the named port's existence in the container; undefined when fine. */
function portError(port: unknown, container: V1Container): string | undefined {
  if (typeof port === 'number') return Number.isInteger(port) && port >= 1 && port <= 65535 ? undefined : 'must be between 1 and 65535, inclusive';
  if (typeof port !== 'string') return 'must be a port number or name';
  const nameError = portNameError(port);
  if (nameError) return nameError;
  return container.ports?.some((p) => p.name === port) ? undefined : `no port named ${JSON.stringify(port)} in container ${JSON.stringify(container.name)}`;
}

/** IsValidPortName: an IANA service name (what `ports[].name` must be). A numeric string is not one. */
function portNameError(name: string): string | undefined {
  if (name.length > 15) return 'must be no more than 15 characters';
  if (!/^[-a-z0-9]+$/.test(name)) return 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)';
  if (!/[a-z]/.test(name)) return 'must contain at least one letter (a-z)';
  if (name.includes('--')) return 'must not contain consecutive hyphens';
  if (name.startsWith('-') || name.endsWith('-')) return 'must not begin or end with a hyphen';
  return undefined;
}
