import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { AgentError, ErrorCode } from '../../src/errors.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { PodManager } from '../../src/pods/pod-manager.ts';
import { PodStatusSync } from '../../src/pods/pod-status-sync.ts';
import { PodSyncer } from '../../src/pods/pod-worker.ts';
import { ProbeManager } from '../../src/probes/probe-manager.ts';
import type { ProbeOutcome } from '../../src/probes/probe-outcome.ts';
import { FakeClock } from '../fakes/fake-clock.ts';
import { FakeRuntime } from '../fakes/fake-runtime.ts';
import { fakeNodeSettings } from '../fakes/syncer-settings.ts';

// The pod syncer and the pod workers on a fake runtime and a fake clock, as kubelet tests its
// kuberuntime manager: what the agent asks the runtime for, and the status it reports, for
// restarts, backoff, probe kills and adoption after an agent restart. No root, no daemon.

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'na-syncer-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function pod(name: string, containers: V1Container[], spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { nodeName: 'n1', dnsPolicy: 'Default', terminationGracePeriodSeconds: 5, containers, ...spec },
  };
}

const app = (extra: Partial<V1Container> = {}): V1Container => ({ name: 'c', image: 'localhost/busybox:1', command: ['sleep', '3600'], ...extra });

/** A syncer on the fake runtime; `probeResults` answers every probe run of a kind (success by default). */
function harness(shared?: { runtime: FakeRuntime; clock: FakeClock }, extra: { networkNotReady?: () => string | undefined } = {}) {
  const clock = shared?.clock ?? new FakeClock();
  const runtime = shared?.runtime ?? new FakeRuntime({ now: () => clock.now() });
  const events: string[] = [];
  const probeResults = new Map<string, ProbeOutcome['result']>();
  const log = silentLogger();
  const statusSync = new PodStatusSync({ api: undefined, log });
  const wakes: string[] = [];
  const probes = new ProbeManager({
    run: async (spec) => ({ result: probeResults.get(spec.kind) ?? 'success', output: `${spec.kind} said so` }),
    onChange: (e) => wakes.push(`${e.kind}:${e.current}`),
    clock,
    logger: log,
  });
  const syncer = new PodSyncer({
    ...fakeNodeSettings(root),
    runtime,
    volumes: { setUp: async () => new Map(), tearDown: async () => undefined, prepareSubPath: async (_uid, r) => `${r.volumePath}/${r.subPath}` },
    api: undefined,
    events: { record: (_ref, type, reason, message) => events.push(`${type} ${reason}: ${message}`) },
    statusSync,
    probes,
    ...extra,
    log,
    now: () => clock.now(),
  });
  const status = (p: V1Pod) => statusSync.get(p.metadata?.uid ?? '');
  return { clock, runtime, events, probeResults, probes, syncer, status, wakes };
}

describe('pod syncer on a fake runtime', () => {
  it('makes no sandbox while the pod network is not ready (NetworkNotReady), except for host-network pods, and starts the pod once it is', async () => {
    let network: string | undefined = 'network plugin not ready: cni config uninitialized';
    const h = harness(undefined, { networkNotReady: () => network });
    const p = pod('early', [app()]);
    const wake = await h.syncer.sync(p);
    expect(h.runtime.callsOf('runSandbox')).toHaveLength(0);
    expect(wake).toBe(10_000);
    const message = 'network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:network plugin not ready: cni config uninitialized';
    expect(h.events).toContain(`Warning NetworkNotReady: ${message}`);
    expect(h.status(p)).toMatchObject({ phase: 'Pending', reason: 'ContainerCreating', message });
    expect(h.status(p)?.containerStatuses[0]?.state.waiting?.reason).toBe('ContainerCreating');
    // The host's network needs no pod network.
    await h.syncer.sync(pod('host', [app()], { hostNetwork: true }));
    expect(h.runtime.callsOf('runSandbox')).toHaveLength(1);
    network = undefined;
    await h.syncer.sync(p);
    expect(h.runtime.callsOf('runSandbox')).toHaveLength(2);
    expect(h.status(p)?.phase).toBe('Running');
  });

  it('starts the sandbox, then the containers, and reports the pod Running with their ids', async () => {
    const h = harness();
    const p = pod('web', [app(), app({ name: 'side' })]);
    await h.syncer.sync(p);
    expect(h.runtime.callsOf('runSandbox')).toHaveLength(1);
    expect(h.runtime.callsOf('startContainer')).toHaveLength(2);
    const s = h.status(p);
    expect(s?.phase).toBe('Running');
    expect(s?.podIP).toMatch(/^10\.244\.0\.\d+$/);
    const running = h.runtime.containersNamed('c', 'running')[0];
    expect(s?.containerStatuses?.find((c) => c.name === 'c')).toMatchObject({ containerID: `fake://${running?.id}`, restartCount: 0, ready: true });
    // The sandbox config carries what the CRI backend needs: the pod's cgroup and its ports.
    const sandbox = h.runtime.callsOf('runSandbox')[0]?.args[0] as { cgroupParent: string; hostname: string };
    expect(sandbox).toMatchObject({ cgroupParent: '/kubepods/besteffort/poduid-web', hostname: 'web' });
    // A second sync with nothing changed asks the runtime for nothing new.
    const before = h.runtime.calls.filter((c) => c.method === 'createContainer' || c.method === 'runSandbox').length;
    await h.syncer.sync(p);
    expect(h.runtime.calls.filter((c) => c.method === 'createContainer' || c.method === 'runSandbox').length).toBe(before);
  });

  it('restarts an exited container at once, then backs off 10 s and 20 s (CrashLoopBackOff), counting restarts', async () => {
    const h = harness();
    const p = pod('crash', [app()]);
    await h.syncer.sync(p);
    const first = h.runtime.containersNamed('c')[0]!;
    h.clock.t += 1000;
    h.runtime.exit(first.id, 1);
    await h.syncer.sync(p);
    const second = h.runtime.containersNamed('c', 'running')[0]!;
    expect(second.attempt).toBe(1);
    expect(h.status(p)?.containerStatuses?.[0]).toMatchObject({ restartCount: 1, lastState: { terminated: { exitCode: 1, reason: 'Error' } } });

    h.clock.t += 1000;
    h.runtime.exit(second.id, 2);
    const wake = await h.syncer.sync(p);
    expect(h.runtime.containersNamed('c', 'running')).toHaveLength(0);
    expect(h.status(p)?.containerStatuses?.[0]?.state.waiting?.reason).toBe('CrashLoopBackOff');
    expect(wake).toBeGreaterThan(9_000);
    expect(wake).toBeLessThanOrEqual(10_100);
    expect(h.events.some((e) => e.startsWith('Warning BackOff: Back-off restarting failed container c'))).toBe(true);
    h.clock.t += 5000;
    await h.syncer.sync(p);
    expect(h.runtime.containersNamed('c', 'running')).toHaveLength(0); // still waiting
    h.clock.t += 5100;
    await h.syncer.sync(p);
    const third = h.runtime.containersNamed('c', 'running')[0]!;
    expect(third.attempt).toBe(2);

    h.clock.t += 1000;
    h.runtime.exit(third.id, 3);
    expect(await h.syncer.sync(p)).toBeGreaterThan(19_000);
    expect(h.status(p)?.containerStatuses?.[0]).toMatchObject({ restartCount: 2, lastState: { terminated: { exitCode: 3 } } });
  });

  it('restartPolicy Never keeps an exited container exited: the pod fails with its exit code', async () => {
    const h = harness();
    const p = pod('once', [app()], { restartPolicy: 'Never' });
    await h.syncer.sync(p);
    h.runtime.exit(h.runtime.containersNamed('c')[0]!.id, 7);
    await h.syncer.sync(p);
    expect(h.runtime.callsOf('createContainer')).toHaveLength(1);
    expect(h.status(p)).toMatchObject({ phase: 'Failed' });
    expect(h.status(p)?.containerStatuses?.[0]?.state.terminated).toMatchObject({ exitCode: 7, reason: 'Error' });
  });

  it('a failing liveness probe kills the container with its reason and the next attempt starts', async () => {
    const h = harness();
    const p = pod('live', [app({ livenessProbe: { exec: { command: ['true'] }, periodSeconds: 10, failureThreshold: 2 } })]);
    await h.syncer.sync(p);
    const first = h.runtime.containersNamed('c', 'running')[0]!;
    h.probeResults.set('liveness', 'failure');
    // Runs at 0 s and 10 s fail: two failures reach the threshold.
    await h.clock.advance(10_500);
    expect(h.wakes).toContain('liveness:failure');
    expect(h.probes.failedProbe(p.metadata!.uid!, 'c', first.id)).toBeDefined();
    h.probeResults.set('liveness', 'success');
    await h.syncer.sync(p);
    expect(h.runtime.callsOf('stopContainer').map((c) => c.args[0])).toContain(first.id);
    expect(h.events).toContain('Normal Killing: Container c failed liveness probe, will be restarted');
    // The stop ends that attempt; the next sync starts the next one, with the kill as lastState.
    await h.syncer.sync(p);
    const next = h.runtime.containersNamed('c', 'running')[0]!;
    expect(next.id).not.toBe(first.id);
    expect(h.status(p)?.containerStatuses?.[0]).toMatchObject({ restartCount: 1, lastState: { terminated: { exitCode: 137 } } });
    h.probes.close();
  });

  it('an agent restart adopts what runs: same containers, same restart counts, nothing created again', async () => {
    const shared = harness();
    const p = pod('adopt', [app(), app({ name: 'side' })]);
    await shared.syncer.sync(p);
    shared.clock.t += 1000;
    shared.runtime.exit(shared.runtime.containersNamed('side')[0]!.id, 1);
    await shared.syncer.sync(p);
    const before = shared.status(p);
    const made = shared.runtime.callsOf('createContainer').length;

    // A new syncer (the restarted agent: no memory at all) on the same runtime.
    const restarted = harness({ runtime: shared.runtime, clock: shared.clock });
    await restarted.syncer.sync(p);
    expect(shared.runtime.callsOf('createContainer').length).toBe(made);
    expect(shared.runtime.callsOf('runSandbox')).toHaveLength(1);
    const after = restarted.status(p);
    for (const name of ['c', 'side']) {
      const was = before?.containerStatuses?.find((c) => c.name === name);
      expect(after?.containerStatuses?.find((c) => c.name === name)).toMatchObject({ containerID: was?.containerID, restartCount: was?.restartCount });
    }
    expect(after?.containerStatuses?.find((c) => c.name === 'side')?.restartCount).toBe(1);
  });

  it('a sandbox that cannot be made is FailedCreatePodSandBox and ContainerCreating, and is retried', async () => {
    const h = harness();
    const p = pod('nosandbox', [app()]);
    h.runtime.failNext('runSandbox', new AgentError(ErrorCode.NetworkSetUp, 'no free address in 10.244.0.0/24', { reason: 'IPExhausted' }));
    const wake = await h.syncer.sync(p);
    expect(wake).toBe(10_000);
    expect(h.events.some((e) => e.startsWith('Warning FailedCreatePodSandBox: Failed to create pod sandbox: no free address'))).toBe(true);
    expect(h.status(p)?.containerStatuses?.[0]?.state.waiting?.reason).toBe('ContainerCreating');
    expect(h.runtime.callsOf('createContainer')).toHaveLength(0);
    await h.syncer.sync(p);
    expect(h.status(p)?.phase).toBe('Running');
  });

  it('an image that cannot be pulled is ErrImagePull, then ImagePullBackOff until the backoff ends', async () => {
    const h = harness();
    h.runtime.unpullable.set('registry.example/nope:1', 'not found');
    const p = pod('pull', [app({ image: 'registry.example/nope:1' })]);
    await h.syncer.sync(p);
    expect(h.status(p)?.containerStatuses?.[0]?.state.waiting).toMatchObject({ reason: 'ErrImagePull' });
    await h.syncer.sync(p);
    expect(h.status(p)?.containerStatuses?.[0]?.state.waiting).toMatchObject({ reason: 'ImagePullBackOff' });
    expect(h.runtime.callsOf('pullImage')).toHaveLength(1);
    h.clock.t += 10_100;
    h.runtime.unpullable.delete('registry.example/nope:1');
    await h.syncer.sync(p);
    expect(h.runtime.callsOf('pullImage')).toHaveLength(2);
    expect(h.status(p)?.phase).toBe('Running');
  });

  it('terminating a pod stops its containers with the grace period, then removes them and the sandbox', async () => {
    const h = harness();
    const p = pod('bye', [app()], { terminationGracePeriodSeconds: 7 });
    await h.syncer.sync(p);
    await h.syncer.terminate(p, { remove: true, reason: 'pod deleted' });
    expect(h.runtime.callsOf('stopContainer')[0]?.args[1]).toBe(7);
    expect(h.runtime.sandboxes.size).toBe(0);
    expect(h.runtime.containers.size).toBe(0);
  });

  it('a pod torn down leaves nothing behind: backoffs, pull failures, waiting reasons, status, probes', async () => {
    const h = harness();
    h.runtime.unpullable.set('registry.example/nope:1', 'not found');
    const p = pod('gone', [app({ readinessProbe: { exec: { command: ['true'] } } }), app({ name: 'nope', image: 'registry.example/nope:1' })]);
    await h.syncer.sync(p);
    h.clock.t += 1000;
    h.runtime.exit(h.runtime.containersNamed('c')[0]!.id, 1);
    await h.syncer.sync(p);
    h.clock.t += 1000;
    h.runtime.exit(h.runtime.containersNamed('c', 'running')[0]!.id, 1);
    await h.syncer.sync(p);
    expect(h.status(p)?.containerStatuses?.map((c) => c.state.waiting?.reason)).toEqual(['CrashLoopBackOff', 'ImagePullBackOff']);
    expect(h.syncer.retained()).toEqual({ crashBackoff: 1, pullBackoff: 1, pullFailures: 1, waiting: 1 });
    await h.syncer.terminate(p, { remove: true, reason: 'pod deleted' });
    expect(h.syncer.retained()).toEqual({ crashBackoff: 0, pullBackoff: 0, pullFailures: 0, waiting: 0 });
    expect(h.status(p)).toBeUndefined();
    expect(h.probes.stats()).toMatchObject({ containers: 0, scheduled: 0 });
  });
});

describe('pod workers on a fake runtime', () => {
  function manager(h: ReturnType<typeof harness>, sources = ['api']) {
    return new PodManager({ syncer: h.syncer, runtime: h.runtime, api: undefined, log: silentLogger(), sources, resyncMs: 3_600_000, relistMs: 3_600_000 });
  }

  it('a relist that sees a container die behind the agent\'s back wakes its pod, which restarts it', async () => {
    const h = harness();
    const m = manager(h);
    const p = pod('pleg', [app()]);
    m.setPods('api', [p]);
    await m.idle();
    await m.relist();
    const first = h.runtime.containersNamed('c', 'running')[0]!;
    h.runtime.exit(first.id, 137);
    await m.relist();
    await m.idle();
    expect(h.runtime.containersNamed('c', 'running')[0]?.attempt).toBe(1);
  });

  it('containers of a pod no source wants are removed, but only once every source has spoken', async () => {
    const h = harness();
    const early = manager(h);
    early.setPods('api', [pod('orphan', [app()])]);
    await early.idle();
    expect(h.runtime.containers.size).toBe(1);

    // The agent restarts: the new workers know nothing; the file source has not reported yet.
    const m = manager(h, ['api', 'file']);
    m.setPods('api', []);
    await m.relist();
    await m.idle();
    expect(h.runtime.containers.size).toBe(1);
    m.setPods('file', []);
    await m.relist();
    await m.idle();
    await settle();
    expect(h.runtime.containers.size).toBe(0);
    expect(h.runtime.sandboxes.size).toBe(0);
    expect(m.stats.orphansRemoved).toBe(1);
  });

  it('one pod whose sync throws does not stop the others', async () => {
    const h = harness();
    const m = manager(h);
    h.runtime.failNext('listSandboxes', new Error('boom'));
    m.setPods('api', [pod('unlucky', [app()]), pod('fine', [app({ name: 'f' })])]);
    await m.idle();
    expect(m.stats.syncErrors).toBe(1);
    expect(h.runtime.containersNamed('f', 'running')).toHaveLength(1);
  });
});
