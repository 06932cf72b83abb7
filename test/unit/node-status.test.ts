import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/validate.ts';
import type { AgentConfig } from '../../src/config/types.ts';
import { computeNodeStatus, runtimeReadiness, statusChanged, withPodNetwork, type StatusInputs } from '../../src/node/status-setters.ts';
import { conditionEvents } from '../../src/node/node-events.ts';
import { ImageFsLocator } from '../../src/node/image-fs.ts';
import { createLogger } from '../../src/log/logger.ts';

const silentLog = createLogger({ format: 'json', level: 'silent' as never });
import { labelReconcilePatch, initialNode } from '../../src/node/node-object.ts';

function config(extra: Record<string, unknown> = {}): AgentConfig {
  const result = validateConfig({ nodeName: 'worker-1', nodeIP: '192.168.56.11', kubeconfig: '/k', hostname: 'worker-1', ...extra });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.config;
}

const GiB = 2 ** 30;
function inputs(over: Partial<StatusInputs> = {}): StatusInputs {
  return {
    config: config(),
    agentVersion: 'v0.1.0',
    machine: { cpuCores: 2, memoryBytes: 8 * GiB, machineID: 'm', systemUUID: 'u', bootID: 'b', kernelVersion: '6.1.0', osImage: 'Debian GNU/Linux 12 (bookworm)', architecture: 'amd64' },
    usage: { memoryAvailableBytes: 4 * GiB, memoryTotalBytes: 8 * GiB, nodefsAvailableBytes: 50 * GiB, nodefsCapacityBytes: 100 * GiB, nodefsInodesFree: 5_000_000, nodefsInodes: 6_000_000, pidMax: 4_194_304, pidsInUse: 300 },
    runtimeVersion: 'docker://20.10.24',
    notReadyReasons: [],
    runtimeHealth: { healthy: true, runtimeName: 'docker', message: '' },
    now: new Date('2026-11-25T10:00:00.400Z'),
    ...over,
  };
}

describe('computeNodeStatus', () => {
  it('reports addresses, capacity, allocatable and node info as the kubelet does', () => {
    const status = computeNodeStatus(inputs(), undefined);
    expect(status.addresses).toEqual([{ type: 'InternalIP', address: '192.168.56.11' }, { type: 'Hostname', address: 'worker-1' }]);
    expect(status.capacity).toMatchObject({ cpu: '2', memory: `${8 * 1024 * 1024}Ki`, pods: '110', 'ephemeral-storage': `${100 * 1024 * 1024}Ki` });
    // Allocatable memory = capacity - the 100Mi hard eviction threshold; storage - 10%.
    expect(status.allocatable['memory']).toBe(`${8 * 1024 * 1024 - 100 * 1024}Ki`);
    expect(status.allocatable['ephemeral-storage']).toBe(String(90 * GiB));
    expect(status.nodeInfo).toMatchObject({ containerRuntimeVersion: 'docker://20.10.24', kubeletVersion: 'v0.1.0', operatingSystem: 'linux', architecture: 'amd64' });
    expect(status.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 10250 } });
  });

  it('subtracts systemReserved from allocatable', () => {
    const status = computeNodeStatus(inputs({ config: config({ systemReserved: { cpu: '500m', memory: '1Gi' } }) }), undefined);
    expect(status.allocatable['cpu']).toBe('1500m');
    expect(status.allocatable['memory']).toBe(`${7 * 1024 * 1024 - 100 * 1024}Ki`);
  });

  it('gives kubelet\'s four conditions with its reasons after the runtime problem condition, Ready last, times at whole seconds', () => {
    const status = computeNodeStatus(inputs(), undefined);
    expect(status.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['ContainerRuntimeUnhealthy', 'False', 'ContainerRuntimeIsHealthy'],
      ['MemoryPressure', 'False', 'KubeletHasSufficientMemory'],
      ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
      ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
      ['Ready', 'True', 'KubeletReady'],
    ]);
    expect(status.conditions[4]?.lastHeartbeatTime).toBe('2026-11-25T10:00:00Z');
  });

  it('turns pressure on below the eviction thresholds', () => {
    const status = computeNodeStatus(inputs({ usage: { ...inputs().usage, memoryAvailableBytes: 50 * 2 ** 20, nodefsAvailableBytes: 5 * GiB } }), undefined);
    expect(status.conditions.find((c) => c.type === 'MemoryPressure')).toMatchObject({ status: 'True', reason: 'KubeletHasInsufficientMemory' });
    expect(status.conditions.find((c) => c.type === 'DiskPressure')).toMatchObject({ status: 'True', reason: 'KubeletHasDiskPressure' });
  });

  it('DiskPressure also when free inodes fall under 5 %, not on a filesystem that counts none', () => {
    const disk = (usage: Partial<StatusInputs['usage']>) =>
      computeNodeStatus(inputs({ usage: { ...inputs().usage, ...usage } }), undefined).conditions.find((c) => c.type === 'DiskPressure')?.status;
    expect(disk({ nodefsInodesFree: 299_999 })).toBe('True');
    expect(disk({ nodefsInodesFree: 300_001 })).toBe('False');
    expect(disk({ nodefsInodesFree: 0, nodefsInodes: 0 })).toBe('False');
    const strict = inputs({ config: { ...config(), evictionHard: { ...config().evictionHard, 'nodefs.inodesFree': '1000000' } } });
    expect(computeNodeStatus({ ...strict, usage: { ...strict.usage, nodefsInodesFree: 999_999 } }, undefined).conditions.find((c) => c.type === 'DiskPressure')?.status).toBe('True');
  });

  it('DiskPressure when the image filesystem has under 15 % free, and not while the runtime has not named it', () => {
    const disk = (usage: Partial<StatusInputs['usage']>) =>
      computeNodeStatus(inputs({ usage: { ...inputs().usage, ...usage } }), undefined).conditions.find((c) => c.type === 'DiskPressure')?.status;
    expect(disk({ imagefsCapacityBytes: 100 * GiB, imagefsAvailableBytes: 14 * GiB })).toBe('True');
    expect(disk({ imagefsCapacityBytes: 100 * GiB, imagefsAvailableBytes: 16 * GiB })).toBe('False');
    expect(disk({})).toBe('False');
    const lenient = inputs({ config: { ...config(), evictionHard: { ...config().evictionHard, 'imagefs.available': '1Gi' } } });
    expect(computeNodeStatus({ ...lenient, usage: { ...lenient.usage, imagefsCapacityBytes: 100 * GiB, imagefsAvailableBytes: 2 * GiB } }, undefined).conditions.find((c) => c.type === 'DiskPressure')?.status).toBe('False');
  });

  it('is NotReady with the reasons when something is down', () => {
    const status = computeNodeStatus(inputs({ notReadyReasons: ['container runtime is down'] }), undefined);
    expect(status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'KubeletNotReady', message: 'container runtime is down' });
  });

  it('keeps lastTransitionTime while a condition holds and moves it when it flips', () => {
    const first = computeNodeStatus(inputs(), undefined);
    const later = computeNodeStatus(inputs({ now: new Date('2026-11-25T10:00:10Z') }), first);
    const ready = later.conditions.find((c) => c.type === 'Ready');
    expect(ready?.lastTransitionTime).toBe('2026-11-25T10:00:00Z');
    expect(ready?.lastHeartbeatTime).toBe('2026-11-25T10:00:10Z');
    const flipped = computeNodeStatus(inputs({ now: new Date('2026-11-25T10:00:20Z'), notReadyReasons: ['x'] }), later);
    expect(flipped.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('2026-11-25T10:00:20Z');
  });

  it('keeps the last runtime version while the runtime is away', () => {
    const first = computeNodeStatus(inputs(), undefined);
    expect(computeNodeStatus(inputs({ runtimeVersion: undefined }), first).nodeInfo.containerRuntimeVersion).toBe('docker://20.10.24');
  });
});

describe('statusChanged', () => {
  it('ignores heartbeat times but sees real changes', () => {
    const a = computeNodeStatus(inputs(), undefined);
    const b = computeNodeStatus(inputs({ now: new Date('2026-11-25T10:00:10Z') }), a);
    expect(statusChanged(a, b)).toBe(false);
    expect(statusChanged(a, computeNodeStatus(inputs({ notReadyReasons: ['x'] }), a))).toBe(true);
    expect(statusChanged(undefined, a)).toBe(true);
  });
});

describe('node object', () => {
  it('registers with the kubelet default labels, podCIDR and taints when configured', () => {
    const node = initialNode(config({ podCIDR: '10.244.7.0/24', registerWithTaints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] }), 'amd64');
    expect(node.metadata?.labels).toMatchObject({ 'kubernetes.io/hostname': 'worker-1', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' });
    expect(node.spec).toEqual({ podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24'], taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] });
    expect(initialNode(config(), 'amd64').spec).toEqual({});
  });

  it('reconciles only the labels that differ and leaves others alone', () => {
    const existing = { metadata: { labels: { 'kubernetes.io/os': 'linux', 'team': 'a' } } };
    expect(labelReconcilePatch(existing, { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': 'worker-1' })).toEqual({ metadata: { labels: { 'kubernetes.io/hostname': 'worker-1' } } });
    expect(labelReconcilePatch(existing, { 'kubernetes.io/os': 'linux' })).toBeUndefined();
  });
});

describe('conditionEvents', () => {
  it('emits the kubelet reasons for conditions that appear or flip, and nothing for steady ones', async () => {
    const { conditionEvents } = await import('../../src/node/node-events.ts');
    const first = computeNodeStatus(inputs(), undefined);
    expect(conditionEvents('worker-1', undefined, first).map((e) => e.reason)).toEqual([
      'NodeHasSufficientMemory', 'NodeHasNoDiskPressure', 'NodeHasSufficientPID', 'NodeReady',
    ]);
    expect(conditionEvents('worker-1', first, computeNodeStatus(inputs(), first))).toEqual([]);
    const down = computeNodeStatus(inputs({ notReadyReasons: ['runtime down'] }), first);
    expect(conditionEvents('worker-1', first, down)).toEqual([{ type: 'Warning', reason: 'NodeNotReady', message: 'Node worker-1 status is now: NodeNotReady' }]);
  });
});

describe('container runtime health', () => {
  const up = [{ type: 'RuntimeReady', status: true, reason: '', message: '' }, { type: 'NetworkReady', status: true, reason: '', message: '' }];
  it('the pod network not set up yet: NetworkReady=false NetworkPluginNotReady whatever the runtime says, and NotReady in kubelet\'s words', () => {
    const conditions = withPodNetwork(up, 'network plugin not ready: cni config uninitialized');
    expect(conditions.filter((c) => c.type === 'NetworkReady')).toEqual([{ type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'network plugin not ready: cni config uninitialized' }]);
    const r = runtimeReadiness(conditions, 'docker');
    expect(r.notReadyReasons).toEqual(['container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:network plugin not ready: cni config uninitialized']);
    // The runtime itself is fine: no ContainerRuntimeUnhealthy for a network still coming up.
    expect(r.health.healthy).toBe(true);
    const status = computeNodeStatus(inputs({ notReadyReasons: r.notReadyReasons, runtimeHealth: r.health }), undefined);
    expect(status.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'KubeletNotReady', message: r.notReadyReasons[0] });
    // Once it is set up, the runtime's own conditions stand.
    expect(withPodNetwork(up, undefined)).toEqual(up);
  });

  it('a healthy runtime: Ready, and ContainerRuntimeUnhealthy False with node-problem-detector\'s reason', () => {
    const r = runtimeReadiness(up, 'containerd');
    expect(r.notReadyReasons).toEqual([]);
    const status = computeNodeStatus(inputs({ runtimeHealth: r.health }), undefined);
    expect(status.conditions.find((c) => c.type === 'ContainerRuntimeUnhealthy')).toMatchObject({ status: 'False', reason: 'ContainerRuntimeIsHealthy', message: 'Container runtime on the node is functioning properly' });
  });

  it('a runtime that is down: NotReady in kubelet\'s words, ContainerdUnhealthy with the cause, and events both ways', () => {
    const down = runtimeReadiness([{ type: 'RuntimeReady', status: false, reason: 'ContainerdUnreachable', message: 'no socket at /run/containerd/containerd.sock' }], 'containerd');
    expect(down.notReadyReasons).toEqual(['container runtime not ready: RuntimeReady=false reason:ContainerdUnreachable message:no socket at /run/containerd/containerd.sock']);
    const healthy = computeNodeStatus(inputs(), undefined);
    const sick = computeNodeStatus(inputs({ notReadyReasons: down.notReadyReasons, runtimeHealth: down.health, now: new Date('2026-11-25T10:00:10Z') }), healthy);
    expect(sick.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'KubeletNotReady' });
    const problem = sick.conditions.find((c) => c.type === 'ContainerRuntimeUnhealthy');
    expect(problem).toMatchObject({ status: 'True', reason: 'ContainerdUnhealthy', lastTransitionTime: '2026-11-25T10:00:10Z' });
    expect(problem?.message).toContain('no socket at /run/containerd/containerd.sock');
    expect(conditionEvents('worker-1', healthy, sick)).toContainEqual({ type: 'Warning', reason: 'ContainerdUnhealthy', message: problem?.message });
    const back = computeNodeStatus(inputs({ now: new Date('2026-11-25T10:00:20Z') }), sick);
    expect(conditionEvents('worker-1', sick, back)).toContainEqual({ type: 'Normal', reason: 'ContainerRuntimeIsHealthy', message: 'Container runtime on the node is functioning properly' });
    // A first status that is healthy says nothing about the runtime.
    expect(conditionEvents('worker-1', undefined, healthy).map((e) => e.reason)).not.toContain('ContainerRuntimeIsHealthy');
  });

  it('no network plugin yet: NotReady with NetworkReady\'s reason, but the runtime itself is healthy', () => {
    const r = runtimeReadiness([up[0]!, { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'cni plugin not initialized' }], 'containerd');
    expect(r.notReadyReasons).toEqual(['container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:cni plugin not initialized']);
    expect(r.health.healthy).toBe(true);
    expect(runtimeReadiness([], 'docker').health).toMatchObject({ healthy: false });
  });
});

describe('image filesystem locator', () => {
  it('asks the runtime at most every refresh, and keeps the last answer while the runtime is away', async () => {
    let t = 0;
    let answer: string | Error = '/var/lib/docker';
    let asked = 0;
    const locator = new ImageFsLocator({ imageFilesystem: async () => { asked++; if (answer instanceof Error) throw answer; return answer; } }, silentLog, 60_000, () => t);
    expect(await locator.path()).toBe('/var/lib/docker');
    t = 30_000;
    expect(await locator.path()).toBe('/var/lib/docker');
    expect(asked).toBe(1);
    answer = new Error('docker is not answering');
    t = 61_000;
    expect(await locator.path()).toBe('/var/lib/docker');
    answer = '/srv/docker';
    // A failed ask is retried soon (10 s), not a whole refresh later.
    t = 72_000;
    expect(await locator.path()).toBe('/srv/docker');
    expect(asked).toBe(3);
  });
});
