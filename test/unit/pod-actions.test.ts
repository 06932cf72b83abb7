import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { computePodActions, podFinished } from '../../src/pods/pod-actions.ts';
import { CrashBackoff } from '../../src/pods/crash-backoff.ts';
import { containerHash, imagePullPolicy } from '../../src/pods/pod-util.ts';
import type { ContainerStatus, SandboxStatus } from '../../src/runtime/types.ts';
import { Annotations } from '../../src/runtime/labels.ts';

const T0 = Date.parse('2026-11-25T10:00:00Z');
function pod(spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return { metadata: { name: 'p', namespace: 'default', uid: 'u1' }, spec: { containers: [{ name: 'app', image: 'localhost/busybox:1' }], ...spec } };
}
function sandbox(state: 'ready' | 'notready' = 'ready', attempt = 0, id = `sb${attempt}`): SandboxStatus {
  return { id, pod: { name: 'p', namespace: 'default', uid: 'u1', attempt }, state, createdAt: new Date(T0), ip: '', netnsPath: '', labels: {}, annotations: {} };
}
function ctr(name: string, state: ContainerStatus['state'], extra: Partial<ContainerStatus> = {}): ContainerStatus {
  return { id: `${name}-${extra.attempt ?? 0}`, sandboxId: 'sb0', name, attempt: 0, state, image: 'i', imageRef: 'r', createdAt: new Date(T0), labels: {}, annotations: {}, ...extra };
}
const ctx = (now = T0 + 1000, backoff = new CrashBackoff()) => ({ now, backoff });

describe('computePodActions', () => {
  it('a new pod: create the sandbox and start the app containers', () => {
    const a = computePodActions(pod(), { sandboxes: [], containers: [] }, ctx());
    expect(a).toMatchObject({ createSandbox: true, killPod: false, sandboxAttempt: 0 });
    expect(a.containersToStart).toEqual([expect.objectContaining({ name: 'app', attempt: 0, init: false })]);
  });

  it('init containers run first, one at a time, each to success', () => {
    const p = pod({ initContainers: [{ name: 'i1', image: 'x' }, { name: 'i2', image: 'x' }] });
    expect(computePodActions(p, { sandboxes: [], containers: [] }, ctx()).containersToStart.map((c) => c.name)).toEqual(['i1']);
    const running = computePodActions(p, { sandboxes: [sandbox()], containers: [ctr('i1', 'running')] }, ctx());
    expect(running.containersToStart).toEqual([]);
    const i1done = computePodActions(p, { sandboxes: [sandbox()], containers: [ctr('i1', 'exited', { exitCode: 0 })] }, ctx());
    expect(i1done.containersToStart.map((c) => c.name)).toEqual(['i2']);
    const all = computePodActions(p, { sandboxes: [sandbox()], containers: [ctr('i1', 'exited', { exitCode: 0 }), ctr('i2', 'exited', { exitCode: 0 })] }, ctx());
    expect(all.containersToStart.map((c) => c.name)).toEqual(['app']);
  });

  it('a failed init container is retried, except with restartPolicy Never where the pod is done', () => {
    const failed = { sandboxes: [sandbox()], containers: [ctr('i1', 'exited', { exitCode: 1, finishedAt: new Date(T0) })] };
    const p = pod({ initContainers: [{ name: 'i1', image: 'x' }] });
    expect(computePodActions(p, failed, ctx()).containersToStart).toEqual([expect.objectContaining({ name: 'i1', attempt: 1, init: true })]);
    const never = computePodActions({ ...p, spec: { ...p.spec!, restartPolicy: 'Never' } }, failed, ctx());
    expect(never.podDone).toBe(true);
    expect(never.containersToStart).toEqual([]);
  });

  it('restartPolicy decides restarts: Always restarts any exit, OnFailure only failures, Never none', () => {
    const exited = (code: number) => ({ sandboxes: [sandbox()], containers: [ctr('app', 'exited', { exitCode: code, finishedAt: new Date(T0) })] });
    expect(computePodActions(pod(), exited(0), ctx()).containersToStart).toHaveLength(1);
    expect(computePodActions(pod({ restartPolicy: 'OnFailure' }), exited(0), ctx())).toMatchObject({ podDone: true, containersToStart: [] });
    expect(computePodActions(pod({ restartPolicy: 'OnFailure' }), exited(2), ctx()).containersToStart).toHaveLength(1);
    expect(computePodActions(pod({ restartPolicy: 'Never' }), exited(2), ctx())).toMatchObject({ podDone: true, containersToStart: [] });
  });

  it('backs off between failures: immediately, then 10 s, 20 s, 40 s … capped at 300 s', () => {
    const backoff = new CrashBackoff();
    const key = CrashBackoff.key('u1', 'app');
    let finishedAt = T0;
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      const observed = { sandboxes: [sandbox()], containers: [ctr('app', 'exited', { exitCode: 1, attempt: i, finishedAt: new Date(finishedAt) })] };
      const a = computePodActions(pod(), observed, ctx(finishedAt + 1, backoff));
      if (a.containersToStart.length === 1) {
        waits.push(0);
      } else {
        expect(a.backingOff[0]?.message).toMatch(/^back-off \d+s restarting failed container=app/);
        waits.push(a.backingOff[0]!.remainingMs + 1);
      }
      backoff.next(key, finishedAt);
      finishedAt += waits[i]! + 1000; // it runs 1 s and fails again
    }
    expect(waits).toEqual([0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000]);
  });

  it('forgets the backoff after 10 minutes without a failure', () => {
    const backoff = new CrashBackoff();
    const key = CrashBackoff.key('u1', 'app');
    backoff.next(key, T0);
    backoff.next(key, T0 + 11_000);
    expect(backoff.inBackoff(key, T0 + 11_000 + 601_000, T0 + 11_000 + 601_001).waiting).toBe(false);
  });

  it('a dead sandbox means a new sandbox (next attempt) and every container anew', () => {
    const a = computePodActions(pod(), { sandboxes: [sandbox('notready')], containers: [ctr('app', 'running')] }, ctx());
    expect(a).toMatchObject({ createSandbox: true, killPod: true, sandboxAttempt: 1 });
    expect(a.containersToStart).toEqual([expect.objectContaining({ name: 'app', attempt: 1, reason: 'SandboxChanged' })]);
  });

  it('a running sandbox whose network never got finished is replaced, and stopped even once the pod is done', () => {
    const halfWired = { ...sandbox('notready'), netnsPath: '/proc/4242/ns/net' };
    expect(computePodActions(pod(), { sandboxes: [halfWired], containers: [] }, ctx())).toMatchObject({ createSandbox: true, killPod: true, sandboxAttempt: 1 });
    // restartPolicy Never after the app ran: no new sandbox, but the live one is not left running.
    const ran = { sandboxes: [halfWired], containers: [ctr('app', 'exited', { exitCode: 0 })] };
    expect(computePodActions(pod({ restartPolicy: 'Never' }), ran, ctx())).toMatchObject({ podDone: true, createSandbox: false, killPod: true });
    // An exited sandbox holds nothing: a finished pod does not stop it again at every sync.
    const exited = { sandboxes: [sandbox('notready')], containers: [ctr('app', 'exited', { exitCode: 0 })] };
    expect(computePodActions(pod({ restartPolicy: 'Never' }), exited, ctx()).killPod).toBe(false);
  });

  it('a failed liveness probe kills the container and restarts it at once, with the probe\'s grace', () => {
    const failedProbe = (name: string, id: string) => (name === 'app' && id === 'app-1' ? { kind: 'liveness' as const, gracePeriodSeconds: 3 } : undefined);
    // The attempt before it exited long ago: no backoff, so the restart is in the same sync.
    const observed = { sandboxes: [sandbox()], containers: [ctr('app', 'exited', { attempt: 0, exitCode: 137, finishedAt: new Date(T0 - 600_000) }), ctr('app', 'running', { attempt: 1 })] };
    const backoff = new CrashBackoff();
    backoff.next('u1/app', T0 - 600_000);
    const a = computePodActions(pod(), observed, { ...ctx(T0, backoff), failedProbe });
    expect(a.containersToKill).toEqual([{ id: 'app-1', name: 'app', reason: 'Container app failed liveness probe, will be restarted', gracePeriodSeconds: 3 }]);
    expect(a.containersToStart).toEqual([expect.objectContaining({ name: 'app', attempt: 2, reason: 'liveness probe failed' })]);
    // Another container id (the replacement) is not the one that failed.
    expect(computePodActions(pod(), { sandboxes: [sandbox()], containers: [ctr('app', 'running', { attempt: 2 })] }, { ...ctx(), failedProbe }).containersToKill).toEqual([]);
  });

  it('a failed startup probe under restartPolicy Never kills without a restart; a recent previous exit backs off', () => {
    const failedProbe = () => ({ kind: 'startup' as const });
    const never = computePodActions(pod({ restartPolicy: 'Never' }), { sandboxes: [sandbox()], containers: [ctr('app', 'running')] }, { ...ctx(), failedProbe });
    expect(never.containersToKill).toEqual([{ id: 'app-0', name: 'app', reason: 'Container app failed startup probe' }]);
    expect(never.containersToStart).toEqual([]);
    const backoff = new CrashBackoff();
    backoff.next('u1/app', T0);
    const recent = { sandboxes: [sandbox()], containers: [ctr('app', 'exited', { attempt: 0, exitCode: 1, finishedAt: new Date(T0) }), ctr('app', 'running', { attempt: 1 })] };
    const a = computePodActions(pod(), recent, { ...ctx(T0 + 2000, backoff), failedProbe });
    expect(a.containersToKill.map((k) => k.id)).toEqual(['app-1']);
    expect(a.containersToStart).toEqual([]);
    expect(a.backingOff).toEqual([expect.objectContaining({ name: 'app', remainingMs: 8000 })]);
  });

  it('a running container whose spec changed is replaced', () => {
    const p = pod();
    const same = ctr('app', 'running', { annotations: { [Annotations.containerHash]: containerHash(p.spec!.containers[0]!) } });
    expect(computePodActions(p, { sandboxes: [sandbox()], containers: [same] }, ctx()).containersToKill).toEqual([]);
    const changed = ctr('app', 'running', { annotations: { [Annotations.containerHash]: 'other' } });
    const a = computePodActions(p, { sandboxes: [sandbox()], containers: [changed] }, ctx());
    expect(a.containersToKill.map((k) => k.id)).toEqual(['app-0']);
    expect(a.containersToStart).toEqual([expect.objectContaining({ attempt: 1 })]);
  });

  it('keeps the two newest attempts of a container and removes older exited ones', () => {
    const containers = [0, 1, 2, 3].map((i) => ctr('app', i === 3 ? 'running' : 'exited', { attempt: i, exitCode: 1 }));
    expect(computePodActions(pod(), { sandboxes: [sandbox()], containers }, ctx()).containersToRemove.sort()).toEqual(['app-0', 'app-1']);
  });

  it('podFinished follows the restart policy', () => {
    const done = { sandboxes: [sandbox()], containers: [ctr('app', 'exited', { exitCode: 0 })] };
    expect(podFinished(pod(), done)).toBe(false);
    expect(podFinished(pod({ restartPolicy: 'OnFailure' }), done)).toBe(true);
    expect(podFinished(pod({ restartPolicy: 'Never' }), { sandboxes: [], containers: [] })).toBe(false);
  });
});

describe('imagePullPolicy defaults', () => {
  it('is Always for :latest or no tag, IfNotPresent for a tag or digest', () => {
    expect(imagePullPolicy({ name: 'a', image: 'busybox' })).toBe('Always');
    expect(imagePullPolicy({ name: 'a', image: 'busybox:latest' })).toBe('Always');
    expect(imagePullPolicy({ name: 'a', image: 'localhost:5000/busybox' })).toBe('Always');
    expect(imagePullPolicy({ name: 'a', image: 'localhost/busybox:1' })).toBe('IfNotPresent');
    expect(imagePullPolicy({ name: 'a', image: 'busybox@sha256:abc' })).toBe('IfNotPresent');
    expect(imagePullPolicy({ name: 'a', image: 'busybox', imagePullPolicy: 'Never' })).toBe('Never');
  });
});
