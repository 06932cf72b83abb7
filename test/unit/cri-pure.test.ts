import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { criError } from '../../src/runtime/cri/cri-client.ts';
import { socketPathOfEndpoint } from '../../src/runtime/endpoint.ts';
import { criContainerConfig, isOwned, nanosToDate, podSandboxConfig, toContainerStatus, toSandboxStatus } from '../../src/runtime/cri/cri-convert.ts';
import type { CriContainerStatus, PodSandboxStatus } from '../../src/runtime/cri/cri-messages.ts';
import { formatCriLog, parseCriLog, parseCriLogRecord } from '../../src/runtime/cri/cri-log.ts';
import { rotatedName, rotatedToDelete } from '../../src/runtime/cri/log-rotation.ts';
import { renderContainerdConfig } from '../../src/lab/containerd.ts';
import { podCgroupParent, podPortMappings, sandboxSecurity } from '../../src/pods/sandbox-config.ts';
import { buildContainerConfig } from '../../src/pods/container-config.ts';
import { ErrorCode } from '../../src/errors.ts';
import type { SandboxConfig } from '../../src/runtime/types.ts';

const owner = { nodeName: 'worker-1', rootDir: '/var/lib/node-agent' };
const sandbox: SandboxConfig = {
  pod: { name: 'web', namespace: 'shop', uid: 'u-1', attempt: 2 },
  hostname: 'web',
  hostNetwork: false,
  shareProcessNamespace: true,
  labels: { app: 'web' },
  annotations: { note: 'x' },
  logDirectory: '/var/log/pods/shop_web_u-1',
  portMappings: [{ protocol: 'UDP', containerPort: 53, hostPort: 0, hostIP: '' }],
  cgroupParent: '/kubepods/burstable/podu-1',
  security: { runAsUser: 1000, supplementalGroups: [5, 6], privileged: false, hostPID: false, hostIPC: false, sysctls: {} },
  dnsConfig: { servers: ['10.96.0.10'], searches: ['shop.svc.cluster.local'], options: ['ndots:5'] },
};

describe('CRI messages from the agent\'s types', () => {
  it('PodSandboxConfig carries metadata, hostname, DNS, ports, log directory, cgroup parent and the security context', () => {
    const c = podSandboxConfig(sandbox, owner);
    expect(c.metadata).toEqual({ name: 'web', uid: 'u-1', namespace: 'shop', attempt: 2 });
    expect(c).toMatchObject({ hostname: 'web', logDirectory: '/var/log/pods/shop_web_u-1', dnsConfig: sandbox.dnsConfig });
    expect(c.portMappings).toEqual([{ protocol: 'UDP', containerPort: 53, hostPort: 0, hostIp: '' }]);
    expect(c.linux.cgroupParent).toBe('/kubepods/burstable/podu-1');
    expect(c.linux.securityContext).toEqual({
      namespaceOptions: { network: 'POD', pid: 'POD', ipc: 'POD' },
      runAsUser: { value: '1000' },
      supplementalGroups: ['5', '6'],
      privileged: false,
    });
    expect(isOwned(c.labels, owner)).toBe(true);
    expect(c.labels).toMatchObject({ app: 'web', 'io.kubernetes.pod.uid': 'u-1', 'io.kubernetes.docker.type': 'podsandbox' });
  });

  it('a host-network sandbox shares the node namespace and sends no hostname (runc refuses one there)', () => {
    const c = podSandboxConfig({ ...sandbox, hostNetwork: true, shareProcessNamespace: false }, owner);
    expect(c.hostname).toBe('');
    expect(c.linux.securityContext.namespaceOptions).toEqual({ network: 'NODE', pid: 'CONTAINER', ipc: 'POD' });
  });

  it('ContainerConfig: command and args as Kubernetes means them, resources, security, the relative log path', () => {
    const p = { metadata: { name: 'web', namespace: 'shop', uid: 'u-1' }, spec: { containers: [] } };
    const spec = { name: 'app', image: 'localhost/busybox:1', args: ['-c', 'echo $(X)'], resources: { requests: { cpu: '250m' }, limits: { cpu: '500m', memory: '64Mi' } }, securityContext: { readOnlyRootFilesystem: true, capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } } };
    const config = buildContainerConfig(p, spec, 3, [{ name: 'X', value: 'y' }], [{ hostPath: '/h', containerPath: '/c', readOnly: true }], sandbox);
    const c = criContainerConfig('sb-1', config, sandbox, owner);
    expect(c.command).toEqual([]); // the image's ENTRYPOINT stays
    expect(c.args).toEqual(['-c', 'echo y']);
    expect(c.metadata).toEqual({ name: 'app', attempt: 3 });
    expect(c.logPath).toBe('app/3.log');
    expect(c.envs).toEqual([{ key: 'X', value: 'y' }]);
    expect(c.mounts).toEqual([{ containerPath: '/c', hostPath: '/h', readonly: true }]);
    expect(c.linux.resources).toEqual({ cpuShares: '256', cpuQuota: '50000', cpuPeriod: '100000', memoryLimitInBytes: String(64 * 1024 * 1024), memorySwapLimitInBytes: String(64 * 1024 * 1024) });
    expect(c.linux.securityContext).toMatchObject({ readonlyRootfs: true, capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] }, namespaceOptions: { network: 'POD', pid: 'POD', ipc: 'POD' } });
    expect(c.labels).toMatchObject({ 'io.kubernetes.sandbox.id': 'sb-1', 'io.kubernetes.container.name': 'app', 'node-agent.node': 'worker-1' });
  });

  it('ownership needs all three labels: another node, another root or no label is not ours', () => {
    const ours = { 'node-agent.managed': 'true', 'node-agent.node': 'worker-1', 'node-agent.root': '/var/lib/node-agent' };
    expect(isOwned(ours, owner)).toBe(true);
    expect(isOwned({ ...ours, 'node-agent.node': 'worker-2' }, owner)).toBe(false);
    expect(isOwned({ ...ours, 'node-agent.root': '/other' }, owner)).toBe(false);
    expect(isOwned({}, owner)).toBe(false);
  });
});

describe('the agent\'s types from CRI messages', () => {
  it('nanosecond int64 times become Dates; 0 is "never"', () => {
    expect(nanosToDate('1796302313388380124')?.toISOString()).toBe('2026-12-03T12:51:53.388Z');
    expect(nanosToDate('0')).toBeUndefined();
  });

  it('an exited container keeps its exit code, the runtime\'s reason, times and log path', () => {
    const s: CriContainerStatus = {
      id: 'c1', metadata: { name: 'app', attempt: 1 }, state: 'CONTAINER_EXITED', createdAt: '1796302313308757531', startedAt: '1796302313388380124', finishedAt: '1796302316395662685',
      exitCode: 137, image: { image: 'localhost/busybox:1' }, imageRef: 'sha256:70', reason: 'OOMKilled', message: '', labels: { 'io.kubernetes.sandbox.id': 'sb' }, annotations: {}, mounts: [], logPath: '/logs/app/1.log',
    };
    expect(toContainerStatus(s)).toMatchObject({ id: 'c1', sandboxId: 'sb', name: 'app', attempt: 1, state: 'exited', exitCode: 137, reason: 'OOMKilled', imageRef: 'sha256:70', logPath: '/logs/app/1.log' });
    expect(toContainerStatus({ ...s, reason: '', exitCode: 0 }).reason).toBe('Completed');
    const running = toContainerStatus({ ...s, state: 'CONTAINER_RUNNING', finishedAt: '0', exitCode: 0, reason: '' });
    expect(running.state).toBe('running');
    expect(running.exitCode).toBeUndefined();
    expect(running.finishedAt).toBeUndefined();
  });

  it('a sandbox: ready with its IP, or not ready with no netns to enter', () => {
    const s: PodSandboxStatus = {
      id: 's1', metadata: { name: 'web', uid: 'u-1', namespace: 'shop', attempt: 1 }, state: 'SANDBOX_READY', createdAt: '1796302313116807366',
      network: { ip: '10.244.1.7', additionalIps: [] }, linux: null, labels: {}, annotations: {}, runtimeHandler: '',
    };
    expect(toSandboxStatus(s, '/proc/42/ns/net')).toMatchObject({ state: 'ready', ip: '10.244.1.7', netnsPath: '/proc/42/ns/net', pod: { name: 'web', uid: 'u-1', namespace: 'shop', attempt: 1 } });
    expect(toSandboxStatus({ ...s, state: 'SANDBOX_NOTREADY' }, '/proc/42/ns/net')).toMatchObject({ state: 'notready', netnsPath: '' });
  });
});

describe('CRI errors', () => {
  const ctx = { endpoint: 'unix:///run/containerd/containerd.sock', socketPath: '/run/containerd/containerd.sock', call: 'RuntimeService/Version' };
  it('a missing socket says so and how to fix it', () => {
    const e = criError({ code: grpc.status.UNAVAILABLE, details: 'No connection established' }, { ...ctx, socket: 'missing' });
    expect(e.code).toBe(ErrorCode.RuntimeUnavailable);
    expect(e.message).toContain('no socket at /run/containerd/containerd.sock');
    expect(e.message).toContain('Fix: start containerd');
  });
  it('a socket that does not answer, or too late, is unavailable; an older API is named', () => {
    expect(criError({ code: grpc.status.UNAVAILABLE, details: 'connection refused' }, { ...ctx, socket: 'present' }).message).toContain('is not answering');
    expect(criError({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' }, { ...ctx, socket: 'unknown' }).code).toBe(ErrorCode.RuntimeUnavailable);
    const old = criError({ code: grpc.status.UNIMPLEMENTED, details: 'unknown service runtime.v1.RuntimeService' }, { ...ctx, socket: 'unknown' });
    expect(old.message).toContain('v1alpha2');
    expect(old.reason).toBe('RuntimeApiVersionUnsupported');
  });
  it('not found is RuntimeNotFound; anything else is the runtime\'s own answer', () => {
    expect(criError({ code: grpc.status.NOT_FOUND, details: 'container "x" not found' }, { ...ctx, socket: 'unknown' }).code).toBe(ErrorCode.RuntimeNotFound);
    expect(criError({ code: grpc.status.UNKNOWN, details: 'failed to create shim task' }, { ...ctx, socket: 'unknown' })).toMatchObject({ code: ErrorCode.RuntimeCall, message: 'RuntimeService/Version: failed to create shim task' });
  });
  it('endpoints are unix sockets, with or without the scheme', () => {
    expect(socketPathOfEndpoint('unix:///run/containerd/containerd.sock')).toBe('/run/containerd/containerd.sock');
    expect(socketPathOfEndpoint('/run/x.sock')).toBe('/run/x.sock');
    expect(() => socketPathOfEndpoint('tcp://1.2.3.4:1')).toThrow(/not a unix socket/);
  });
});

describe('CRI log files', () => {
  const text = [
    '2026-12-03T12:51:53.100000000Z stdout F hello',
    '2026-12-03T12:51:53.200000000Z stderr P par',
    '2026-12-03T12:51:53.300000000Z stdout F world',
    '2026-12-03T12:51:53.400000000Z stderr F tial',
    'garbage line',
    '2026-12-03T12:51:54.000000000Z stdout F',
    '2026-12-03T12:51:55.000000000Z stdout F last one',
    '',
  ].join('\n');

  it('parses records; an empty line has no content; bad lines are skipped', () => {
    expect(parseCriLogRecord('2026-12-03T12:51:53.1Z stdout F a b c')).toMatchObject({ stream: 'stdout', partial: false, content: 'a b c' });
    expect(parseCriLogRecord('2026-12-03T12:51:54Z stdout F')).toMatchObject({ content: '' });
    expect(parseCriLogRecord('2026-12-03T12:51:54Z stdin F x')).toBeUndefined();
    expect(parseCriLogRecord('garbage line')).toBeUndefined();
  });

  it('joins partial records of one stream, in order of the first part', () => {
    expect(parseCriLog(text).map((l) => `${l.stream}:${l.content}`)).toEqual(['stdout:hello', 'stderr:partial', 'stdout:world', 'stdout:', 'stdout:last one']);
  });

  it('formats as kubectl logs shows it: tailLines, since, timestamps', () => {
    expect(formatCriLog(text)).toBe('hello\npartial\nworld\n\nlast one\n');
    expect(formatCriLog(text, { tailLines: 2 })).toBe('\nlast one\n');
    expect(formatCriLog(text, { tailLines: 0 })).toBe('');
    expect(formatCriLog(text, { since: new Date('2026-12-03T12:51:54Z') })).toBe('\nlast one\n');
    expect(formatCriLog(text, { tailLines: 1, timestamps: true })).toBe('2026-12-03T12:51:55.000000000Z last one\n');
  });

  it('rotation names files kubelet\'s way and keeps maxFiles - 1 rotated ones, deleting the oldest', () => {
    expect(rotatedName('/l/c/0.log', new Date('2026-12-03T09:08:07Z'))).toBe('/l/c/0.log.20261203-090807');
    const siblings = ['0.log', '0.log.20261203-090807', '0.log.20261203-090700', '0.log.20261203-091000', '1.log.20261203-090000', '0.log.tmp'];
    expect(rotatedToDelete('/l/c/0.log', siblings, 3)).toEqual(['0.log.20261203-090700']);
    expect(rotatedToDelete('/l/c/0.log', siblings, 1)).toEqual(['0.log.20261203-090700', '0.log.20261203-090807', '0.log.20261203-091000']);
  });
});

describe('pod-level sandbox settings', () => {
  const base = { metadata: { uid: 'abc' }, spec: { containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP', hostPort: 5353, hostIP: '127.0.0.1' }] }] } };
  it('the cgroup parent follows the QoS class with kubelet\'s cgroupfs names', () => {
    expect(podCgroupParent(base)).toBe('/kubepods/besteffort/podabc');
    const limited = (requests: Record<string, string>) => ({ ...base, spec: { containers: [{ name: 'a', image: 'x', resources: { requests, limits: { cpu: '1', memory: '1Gi' } } }] } });
    expect(podCgroupParent(limited({ cpu: '1', memory: '1Gi' }))).toBe('/kubepods/podabc');
    expect(podCgroupParent(limited({ cpu: '500m', memory: '1Gi' }))).toBe('/kubepods/burstable/podabc');
  });
  it('every declared port is a mapping; the pod security context and privileged containers reach the sandbox', () => {
    expect(podPortMappings(base)).toEqual([
      { protocol: 'TCP', containerPort: 80, hostPort: 0, hostIP: '' },
      { protocol: 'UDP', containerPort: 53, hostPort: 5353, hostIP: '127.0.0.1' },
    ]);
    expect(sandboxSecurity({ spec: { securityContext: { runAsUser: 5, runAsGroup: 6 }, containers: [{ name: 'a', securityContext: { privileged: true } }] } })).toEqual({ runAsUser: 5, runAsGroup: 6, privileged: true, hostPID: false, hostIPC: false, sysctls: {} });
  });
});

describe('the containerd configuration the project installs', () => {
  const template = readFileSync(join(import.meta.dirname, '../../systemd/containerd-config.toml'), 'utf8');
  const settings = { root: '/var/lib/containerd', state: '/run/containerd', address: '/run/containerd/containerd.sock', cniBin: '/opt/cni/bin', cniConf: '/etc/cni/net.d', restrictOomScoreAdj: true };
  it('fills every field: sandbox image, CNI directories, oom_score_adj, cgroupfs', () => {
    const text = renderContainerdConfig(template, settings);
    expect(text).not.toMatch(/@[A-Z_]+@/);
    expect(text).toMatch(/sandbox_image = "localhost\/pause:1"/);
    expect(text).toMatch(/restrict_oom_score_adj = true/);
    expect(text).toMatch(/bin_dir = "\/opt\/cni\/bin"/);
    expect(text).toMatch(/conf_dir = "\/etc\/cni\/net.d"/);
    expect(text).toMatch(/SystemdCgroup = false/);
    expect(text).toMatch(/Root = "\/run\/containerd\/runc"/);
    expect(renderContainerdConfig(template, { ...settings, restrictOomScoreAdj: false })).toMatch(/restrict_oom_score_adj = false/);
  });
  it('refuses a path that would break out of its TOML string', () => {
    expect(() => renderContainerdConfig(template, { ...settings, root: '/x"\nevil = 1' })).toThrow(/TOML string/);
  });
});
