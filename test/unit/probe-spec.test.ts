import { describe, expect, it } from 'vitest';
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { normalizeProbe, validateProbe } from '../../src/probes/probe-spec.ts';
import { probeUserAgent, truncateOutput } from '../../src/probes/probe-outcome.ts';

const container: V1Container = { name: 'app', image: 'x', ports: [{ name: 'http', containerPort: 8080 }, { name: 'grpc', containerPort: 9090 }] };
const http = (extra: Partial<V1Probe> = {}): V1Probe => ({ httpGet: { port: 'http', path: '/healthz' }, ...extra });

describe('normalizeProbe', () => {
  it('applies the Kubernetes defaults', () => {
    expect(normalizeProbe('liveness', { tcpSocket: { port: 80 } })).toEqual({
      kind: 'liveness',
      initialDelaySeconds: 0,
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
      handler: { type: 'tcpSocket', port: 80 },
    });
  });

  it('keeps given values, and treats 0 as unset like the apiserver defaulting', () => {
    const spec = normalizeProbe('readiness', { exec: { command: ['true'] }, initialDelaySeconds: 5, periodSeconds: 0, timeoutSeconds: 3, successThreshold: 2, failureThreshold: 0 });
    expect(spec).toMatchObject({ initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 3, successThreshold: 2, failureThreshold: 3 });
    expect(spec.handler).toEqual({ type: 'exec', command: ['true'] });
  });

  it('never yields a period or timeout the scheduler cannot use, whatever the input', () => {
    const spec = normalizeProbe('liveness', { tcpSocket: { port: 1 }, periodSeconds: -5, timeoutSeconds: -1, initialDelaySeconds: -3, failureThreshold: -2 });
    expect(spec).toMatchObject({ periodSeconds: 10, timeoutSeconds: 1, initialDelaySeconds: 0, failureThreshold: 3 });
  });

  it('defaults httpGet scheme and path, keeps host, headers, named port', () => {
    const spec = normalizeProbe('startup', { httpGet: { port: 'http', host: 'h', httpHeaders: [{ name: 'X', value: 'y' }] } });
    expect(spec.handler).toEqual({ type: 'httpGet', host: 'h', scheme: 'HTTP', path: '/', port: 'http', httpHeaders: [{ name: 'X', value: 'y' }] });
    expect(normalizeProbe('startup', { httpGet: { port: 1, scheme: 'HTTPS', path: '/x' } }).handler).toMatchObject({ scheme: 'HTTPS', path: '/x' });
  });

  it('grpc service defaults to the empty name (the whole server)', () => {
    expect(normalizeProbe('readiness', { grpc: { port: 9090 } }).handler).toEqual({ type: 'grpc', port: 9090, service: '' });
    expect(normalizeProbe('readiness', { grpc: { port: 9090, service: 'db' } }).handler).toEqual({ type: 'grpc', port: 9090, service: 'db' });
  });

  it('terminationGracePeriodSeconds is kept for liveness and startup, dropped for readiness', () => {
    expect(normalizeProbe('liveness', { ...http(), terminationGracePeriodSeconds: 7 }).terminationGracePeriodSeconds).toBe(7);
    expect(normalizeProbe('startup', { ...http(), terminationGracePeriodSeconds: 7 }).terminationGracePeriodSeconds).toBe(7);
    expect(normalizeProbe('readiness', { ...http(), terminationGracePeriodSeconds: 7 })).not.toHaveProperty('terminationGracePeriodSeconds');
    expect(normalizeProbe('liveness', http())).not.toHaveProperty('terminationGracePeriodSeconds');
  });

  it('picks the handler in kubelet order and marks a missing one', () => {
    expect(normalizeProbe('liveness', { exec: { command: ['a'] }, tcpSocket: { port: 1 } }).handler.type).toBe('exec');
    expect(normalizeProbe('liveness', {}).handler).toEqual({ type: 'missing' });
  });
});

describe('validateProbe', () => {
  it('accepts well-formed probes of every handler', () => {
    expect(validateProbe('liveness', http(), container)).toEqual([]);
    expect(validateProbe('readiness', { exec: { command: ['cat', '/tmp/ok'] }, successThreshold: 3 }, container)).toEqual([]);
    expect(validateProbe('startup', { tcpSocket: { port: 8080 }, failureThreshold: 30, periodSeconds: 10 }, container)).toEqual([]);
    expect(validateProbe('readiness', { grpc: { port: 9090 } }, container)).toEqual([]);
  });

  it('successThreshold must be 1 for liveness and startup, not for readiness', () => {
    expect(validateProbe('liveness', http({ successThreshold: 2 }), container)).toEqual(['livenessProbe.successThreshold: Invalid value: 2: must be 1']);
    expect(validateProbe('startup', http({ successThreshold: 3 }), container)).toEqual(['startupProbe.successThreshold: Invalid value: 3: must be 1']);
    expect(validateProbe('readiness', http({ successThreshold: 3 }), container)).toEqual([]);
    // 0 is "unset": defaulted to 1.
    expect(validateProbe('liveness', http({ successThreshold: 0 }), container)).toEqual([]);
  });

  it('exactly one handler', () => {
    expect(validateProbe('liveness', {}, container)).toEqual(['livenessProbe: Required value: must specify a handler type']);
    expect(validateProbe('liveness', { exec: { command: ['x'] }, httpGet: { port: 80 }, grpc: { port: 1 } }, container)).toEqual([
      'livenessProbe.httpGet: Forbidden: may not specify more than 1 handler type',
      'livenessProbe.grpc: Forbidden: may not specify more than 1 handler type',
    ]);
  });

  it('rejects negative and non-integer timings', () => {
    const errors = validateProbe('readiness', http({ periodSeconds: -1, timeoutSeconds: -2, initialDelaySeconds: 1.5, failureThreshold: -1 }), container);
    expect(errors).toEqual([
      'readinessProbe.initialDelaySeconds: Invalid value: 1.5: must be an integer',
      'readinessProbe.timeoutSeconds: Invalid value: -2: must be greater than or equal to 0',
      'readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0',
      'readinessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0',
    ]);
  });

  it('a named port must exist in the container, and be a valid port name', () => {
    expect(validateProbe('liveness', { httpGet: { port: 'metrics' } }, container)).toEqual([
      'livenessProbe.httpGet.port: Invalid value: "metrics": no port named "metrics" in container "app"',
    ]);
    expect(validateProbe('liveness', { tcpSocket: { port: 'web' } }, { name: 'c', image: 'x' })).toEqual([
      'livenessProbe.tcpSocket.port: Invalid value: "web": no port named "web" in container "c"',
    ]);
    // A number written as a string is not a port name (the apiserver says the same).
    expect(validateProbe('liveness', { tcpSocket: { port: '8080' } }, container)).toEqual(['livenessProbe.tcpSocket.port: Invalid value: "8080": must contain at least one letter (a-z)']);
    expect(validateProbe('liveness', { tcpSocket: { port: 70000 } }, container)).toEqual(['livenessProbe.tcpSocket.port: Invalid value: 70000: must be between 1 and 65535, inclusive']);
  });

  it('grpc port must be a number', () => {
    expect(validateProbe('liveness', { grpc: { port: 'grpc' as unknown as number } }, container)).toEqual(['livenessProbe.grpc.port: Invalid value: "grpc": must be a number']);
    expect(validateProbe('liveness', { grpc: { port: 0 } }, container)).toEqual(['livenessProbe.grpc.port: Invalid value: 0: must be between 1 and 65535, inclusive']);
  });

  it('exec needs a command; httpGet a known scheme and valid header names', () => {
    expect(validateProbe('liveness', { exec: {} }, container)).toEqual(['livenessProbe.exec.command: Required value']);
    expect(validateProbe('liveness', { exec: { command: [] } }, container)).toEqual(['livenessProbe.exec.command: Required value']);
    expect(validateProbe('liveness', { httpGet: { port: 80, scheme: 'FTP' } }, container)).toEqual(['livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"']);
    expect(validateProbe('liveness', { httpGet: { port: 80, httpHeaders: [{ name: 'Bad Header', value: 'v' }] } }, container)).toHaveLength(1);
  });

  it('terminationGracePeriodSeconds: not on readiness, positive elsewhere', () => {
    expect(validateProbe('readiness', http({ terminationGracePeriodSeconds: 5 }), container)).toEqual([
      'readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes',
    ]);
    expect(validateProbe('liveness', http({ terminationGracePeriodSeconds: 0 }), container)).toEqual(['livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0']);
    expect(validateProbe('startup', http({ terminationGracePeriodSeconds: 5 }), container)).toEqual([]);
  });
});

describe('probe output helpers', () => {
  it('user agent is kube-probe/<major>.<minor>', () => {
    expect(probeUserAgent('v1.31.2')).toBe('kube-probe/1.31');
    expect(probeUserAgent()).toMatch(/^kube-probe\/\d+\.\d+$/);
  });

  it('truncates output to 10 KiB of UTF-8', () => {
    expect(truncateOutput('a'.repeat(20_000))).toHaveLength(10 * 1024);
    expect(truncateOutput('short')).toBe('short');
    const cut = truncateOutput('éa'.repeat(5_000));
    expect(Buffer.byteLength(cut)).toBe(10 * 1024 - 1);
    expect(cut).not.toContain('\uFFFD');
  });
});
