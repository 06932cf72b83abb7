import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { generatePodStatus, type StatusContext } from '../../src/pods/pod-status.ts';
import { qosClass } from '../../src/pods/qos.ts';
import type { ContainerStatus, SandboxStatus } from '../../src/runtime/types.ts';

const T0 = new Date('2026-11-25T10:00:00Z');
const sandbox: SandboxStatus = { id: 'sb', pod: { name: 'p', namespace: 'd', uid: 'u', attempt: 0 }, state: 'ready', createdAt: T0, ip: '', netnsPath: '', labels: {}, annotations: {} };
function ctr(name: string, state: ContainerStatus['state'], extra: Partial<ContainerStatus> = {}): ContainerStatus {
  return { id: `${name}${extra.attempt ?? 0}`, sandboxId: 'sb', name, attempt: 0, state, image: 'img', imageRef: 'docker://sha256:1', createdAt: T0, startedAt: T0, labels: {}, annotations: {}, ...extra };
}
function pod(spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return { metadata: { name: 'p', namespace: 'd', uid: 'u' }, spec: { containers: [{ name: 'a', image: 'img' }, { name: 'b', image: 'img' }], ...spec } };
}
const ctx = (over: Partial<StatusContext> = {}): StatusContext => ({
  now: new Date('2026-11-25T10:00:05Z'), hostIP: '192.168.56.11', podIP: '10.244.1.5', runtimeName: 'docker', waiting: new Map(), previous: undefined, ...over,
});

describe('generatePodStatus', () => {
  it('a running pod: phase, every condition, container statuses, IPs, QoS', () => {
    const s = generatePodStatus(pod(), { sandboxes: [sandbox], containers: [ctr('a', 'running'), ctr('b', 'running')] }, ctx());
    expect(s.phase).toBe('Running');
    expect(s.conditions.map((c) => `${c.type}=${c.status}`)).toEqual(['PodReadyToStartContainers=True', 'Initialized=True', 'ContainersReady=True', 'Ready=True', 'PodScheduled=True']);
    expect(s.containerStatuses[0]).toEqual({
      name: 'a', image: 'img', imageID: 'docker://sha256:1', containerID: 'docker://a0', restartCount: 0, ready: true, started: true,
      state: { running: { startedAt: '2026-11-25T10:00:00Z' } }, lastState: {},
    });
    expect(s).toMatchObject({ hostIP: '192.168.56.11', hostIPs: [{ ip: '192.168.56.11' }], podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }], qosClass: 'BestEffort', startTime: '2026-11-25T10:00:05Z' });
  });

  it('probes decide started and ready; a container is ready only once started; readiness gates', () => {
    const probes = (started: Record<string, boolean>, ready: Record<string, boolean>) => ({ started: (n: string) => started[n], ready: (n: string) => ready[n] });
    const observed = { sandboxes: [sandbox], containers: [ctr('a', 'running'), ctr('b', 'running')] };
    // a: startup probe not passed yet (readiness would say yes: still not ready); b: no probes.
    const s = generatePodStatus(pod(), observed, ctx({ probes: probes({ a: false }, { a: true }) }));
    expect(s.containerStatuses.map((c) => [c.name, c.started, c.ready])).toEqual([['a', false, false], ['b', true, true]]);
    expect(s.conditions.find((x) => x.type === 'ContainersReady')).toMatchObject({ status: 'False', message: 'containers with unready status: [a]' });
    const ok = generatePodStatus(pod(), observed, ctx({ probes: probes({ a: true }, { a: true, b: true }) }));
    expect(ok.conditions.find((x) => x.type === 'Ready')?.status).toBe('True');
    // A readiness gate holds Ready back until its condition is True (set by someone else).
    const gated = pod({ readinessGates: [{ conditionType: 'example.com/lb' }] });
    const noGate = generatePodStatus(gated, observed, ctx());
    expect(noGate.conditions.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ReadinessGatesNotReady', message: 'corresponding condition of pod readiness gate "example.com/lb" does not exist.' });
    const falseGate = generatePodStatus(gated, observed, ctx({ previous: { conditions: [{ type: 'example.com/lb', status: 'False' }] } }));
    expect(falseGate.conditions.find((x) => x.type === 'Ready')?.message).toBe('the status of pod readiness gate "example.com/lb" is not "True", but False');
    const trueGate = generatePodStatus(gated, observed, ctx({ previous: { conditions: [{ type: 'example.com/lb', status: 'True' }] } }));
    expect(trueGate.conditions.find((x) => x.type === 'Ready')?.status).toBe('True');
  });

  it('a crash-looping container waits with CrashLoopBackOff and shows the last run', () => {
    const c = ctr('a', 'exited', { attempt: 3, exitCode: 137, reason: 'Error', finishedAt: new Date('2026-11-25T10:00:03Z') });
    const waiting = new Map([['a', { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=a' }]]);
    const s = generatePodStatus(pod(), { sandboxes: [sandbox], containers: [c, ctr('b', 'running')] }, ctx({ waiting }));
    const a = s.containerStatuses[0]!;
    expect(a.state).toEqual({ waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=a' } });
    expect(a.lastState.terminated).toMatchObject({ exitCode: 137, reason: 'Error', containerID: 'docker://a3' });
    expect(a.restartCount).toBe(3);
    expect(s.phase).toBe('Running');
    expect(s.conditions.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [a]' });
  });

  it('phases by restart policy once containers exit', () => {
    const exited = (code: number) => ({ sandboxes: [sandbox], containers: [ctr('a', 'exited', { exitCode: code }), ctr('b', 'exited', { exitCode: 0 })] });
    expect(generatePodStatus(pod({ restartPolicy: 'Never' }), exited(0), ctx()).phase).toBe('Succeeded');
    expect(generatePodStatus(pod({ restartPolicy: 'Never' }), exited(1), ctx()).phase).toBe('Failed');
    expect(generatePodStatus(pod({ restartPolicy: 'OnFailure' }), exited(0), ctx()).phase).toBe('Succeeded');
    const done = generatePodStatus(pod({ restartPolicy: 'Never' }), exited(0), ctx());
    expect(done.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
    expect(done.containerStatuses[0]!.state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('pending while init containers run, with their statuses', () => {
    const p = pod({ initContainers: [{ name: 'init', image: 'img' }] });
    const s = generatePodStatus(p, { sandboxes: [sandbox], containers: [ctr('init', 'running')] }, ctx());
    expect(s.phase).toBe('Pending');
    expect(s.initContainerStatuses?.[0]?.state.running).toBeDefined();
    expect(s.containerStatuses[0]!.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(s.conditions.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [init]' });
  });

  it('keeps PodScheduled, startTime and unchanged transition times from the apiserver', () => {
    const previous = {
      startTime: '2026-11-25T09:00:00Z',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-25T08:59:59Z' },
        { type: 'Ready', status: 'True', lastTransitionTime: '2026-11-25T09:00:10Z' },
      ],
    };
    const s = generatePodStatus(pod(), { sandboxes: [sandbox], containers: [ctr('a', 'running'), ctr('b', 'running')] }, ctx({ previous }));
    expect(s.startTime).toBe('2026-11-25T09:00:00Z');
    expect(s.conditions.find((c) => c.type === 'PodScheduled')?.lastTransitionTime).toBe('2026-11-25T08:59:59Z');
    expect(s.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('2026-11-25T09:00:10Z');
  });

  it('a waiting reason from the worker shows on a container that never ran', () => {
    const waiting = new Map([['b', { reason: 'ErrImagePull', message: 'pull failed' }]]);
    const s = generatePodStatus(pod(), { sandboxes: [sandbox], containers: [ctr('a', 'running')] }, ctx({ waiting }));
    expect(s.containerStatuses[1]!.state).toEqual({ waiting: { reason: 'ErrImagePull', message: 'pull failed' } });
    expect(s.phase).toBe('Pending');
  });
});

describe('qosClass', () => {
  const withResources = (resources: object) => pod({ containers: [{ name: 'a', image: 'i', resources }] });
  it('BestEffort, Burstable, Guaranteed', () => {
    expect(qosClass(pod())).toBe('BestEffort');
    expect(qosClass(withResources({ requests: { memory: '64Mi' } }))).toBe('Burstable');
    expect(qosClass(withResources({ limits: { cpu: '500m', memory: '64Mi' } }))).toBe('Guaranteed');
    expect(qosClass(withResources({ limits: { cpu: '1', memory: '64Mi' }, requests: { cpu: '1000m', memory: '64Mi' } }))).toBe('Guaranteed');
    expect(qosClass(withResources({ limits: { cpu: '1', memory: '64Mi' }, requests: { cpu: '500m' } }))).toBe('Burstable');
  });
});
