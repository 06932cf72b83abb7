import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { ApiEventRecorder } from '../../src/kube/event-recorder.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { PodManager } from '../../src/pods/pod-manager.ts';
import { PodStatusSync } from '../../src/pods/pod-status-sync.ts';
import { PodSyncer } from '../../src/pods/pod-worker.ts';
import { ProbeManager } from '../../src/probes/probe-manager.ts';
import { VolumeManager } from '../../src/volumes/volume-manager.ts';
import { FakeClock } from '../fakes/fake-clock.ts';
import { FakeEventApi } from '../fakes/fake-event-api.ts';
import { FakePodApi } from '../fakes/fake-pod-api.ts';
import { FakeRuntime } from '../fakes/fake-runtime.ts';
import { fakeNodeSettings } from '../fakes/syncer-settings.ts';

// Issue 16, item 4: a node runs pods by the thousand over its life. Whatever the agent keeps per
// pod must go with the pod, and what it keeps per event must stay within its caps. 1000 pods are
// created, run (crash loops, failed pulls, probes, tokens), deleted and torn down here, on the
// fake runtime and fake apiserver, with the real syncer, workers, prober, volumes, status writer
// and event recorder; then every map and queue is measured.

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'na-bounded-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const missingImage = 'registry.example/missing:1';

/** Four kinds of pod, so that each kind of per-pod state gets filled. */
function podNumber(i: number): V1Pod {
  const kind = (['probed', 'crashing', 'unpullable', 'plain'] as const)[i % 4] ?? 'plain';
  const app: V1Container = { name: 'app', image: 'localhost/busybox:1', command: ['sleep', '3600'] };
  if (kind === 'probed') Object.assign(app, { readinessProbe: { exec: { command: ['true'] }, periodSeconds: 5 }, livenessProbe: { exec: { command: ['true'] }, periodSeconds: 5 } });
  const containers = kind === 'unpullable' ? [app, { name: 'other', image: missingImage }] : [app];
  return {
    metadata: { name: `pod-${i}`, namespace: 'default', uid: `uid-${i}`, labels: { kind } },
    spec: {
      nodeName: 'n1',
      dnsPolicy: 'Default',
      serviceAccountName: 'default',
      terminationGracePeriodSeconds: 1,
      containers,
      volumes: [
        { name: 'scratch', emptyDir: {} },
        { name: 'token', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } }] } },
      ],
    },
  };
}

function node() {
  const clock = new FakeClock();
  const now = () => clock.now();
  const runtime = new FakeRuntime({ now });
  runtime.unpullable.set(missingImage, 'manifest unknown');
  const api = new FakePodApi({ now });
  const eventApi = new FakeEventApi();
  const log = silentLogger();
  const events = new ApiEventRecorder(new KubeConfig(), { component: 'node-agent', host: 'n1', log, sink: eventApi, now });
  const statusSync = new PodStatusSync({ api, log });
  const workers: { manager?: PodManager } = {};
  const probes = new ProbeManager({
    run: async () => ({ result: 'success', output: '' }),
    onChange: (e) => {
      if (e.flipped || e.action) workers.manager?.wake(e.target.podUid);
    },
    clock,
    logger: log,
  });
  const volumes = new VolumeManager({
    rootDir: root,
    sources: {
      getConfigMap: async () => undefined,
      getSecret: async () => undefined,
      requestServiceAccountToken: (namespace, serviceAccount, options) => api.requestToken(namespace, serviceAccount, options),
      nodeAllocatable: () => ({ cpu: '2', memory: '4Gi' }),
    },
    log,
    now,
    tmpfs: false,
  });
  const syncer = new PodSyncer({
    ...fakeNodeSettings(root),
    runtime,
    volumes,
    api,
    events,
    statusSync,
    probes,
    log,
    now,
  });
  const manager = new PodManager({ syncer, runtime, api, log, sources: ['api'], resyncMs: 3_600_000, relistMs: 3_600_000 });
  workers.manager = manager;

  /** Every per-pod map and queue, by name. */
  const sizes = () => {
    const p = probes.stats();
    const e = events.stats();
    return {
      workers: manager.retained().workers,
      ...syncer.retained(),
      ...statusSync.retained(),
      probedContainers: p.containers,
      probesScheduled: p.scheduled,
      probesWaiting: p.waiting,
      probesInFlight: p.inFlight,
      probeTimers: clock.pending,
      ...volumes.retained(),
      eventsPending: e.pending,
      sandboxes: runtime.sandboxes.size,
      containers: runtime.containers.size,
    };
  };
  return { clock, runtime, api, eventApi, events, statusSync, manager, sizes };
}

describe('state kept per pod is bounded', () => {
  it('1000 pods come and go: afterwards every per-pod map and queue is back to its baseline', async () => {
    const n = node();
    const baseline = n.sizes();
    expect(Object.values(baseline).every((v) => v === 0)).toBe(true);
    const peak: Record<string, number> = {};
    const notePeak = () => {
      for (const [k, v] of Object.entries(n.sizes())) peak[k] = Math.max(peak[k] ?? 0, v);
    };

    const total = 1000;
    const batch = 50;
    for (let first = 0; first < total; first += batch) {
      const pods = Array.from({ length: batch }, (_, j) => podNumber(first + j));
      for (const pod of pods) n.manager.upsert(pod);
      await n.manager.idle();

      // The crashing ones exit twice: one restart at once, then CrashLoopBackOff.
      for (let round = 0; round < 2; round++) {
        n.clock.t += 1000;
        for (const pod of pods.filter((p) => p.metadata?.labels?.['kind'] === 'crashing')) {
          const running = n.runtime.containersNamed('app', 'running').find((c) => c.labels['io.kubernetes.pod.uid'] === pod.metadata?.uid);
          if (running) n.runtime.exit(running.id, 1);
          n.manager.wake(pod.metadata?.uid ?? '');
        }
        await n.manager.idle();
      }
      // Probes run (and their first successes wake the pods); the failed pulls are retried. For
      // half of the batches the apiserver is slow from here on: the status writes these syncs
      // make are still in flight when the pods are deleted and forgotten.
      if ((first / batch) % 2 === 0) n.api.stall();
      await n.clock.advance(20_000);
      for (const pod of pods) n.manager.wake(pod.metadata?.uid ?? '');
      await n.manager.idle();
      notePeak();

      // Deleted on the apiserver: terminated, then gone from its watch.
      for (const pod of pods) n.manager.upsert({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date(n.clock.now()) } });
      await n.manager.idle();
      for (const pod of pods) n.manager.remove(pod.metadata?.uid ?? '');
      await n.manager.idle();
      notePeak();
      n.api.release();
    }
    await n.statusSync.flush();
    await n.events.flush();

    // Each kind of state was really used while the pods lived...
    for (const key of ['workers', 'crashBackoff', 'pullBackoff', 'pullFailures', 'waiting', 'statuses', 'writing', 'probedContainers', 'probesScheduled', 'probeTimers', 'tokens', 'sandboxes', 'containers']) {
      expect(peak[key], key).toBeGreaterThan(0);
    }
    expect(n.api.tokensIssued).toBeGreaterThanOrEqual(total);
    expect(n.runtime.callsOf('pullImage').length).toBeGreaterThan(total / 4);
    // ...and nothing of it is left.
    expect(n.sizes()).toEqual(baseline);
    expect(await readdir(join(root, 'pods'))).toEqual([]);
    // The recorder keeps events within its caps, not per pod that ever lived.
    const e = n.events.stats();
    expect(e.posted).toBeGreaterThan(4096);
    expect(e.remembered).toBe(4096);
    expect(e.budgets).toBeLessThanOrEqual(4096);
    expect(e).toMatchObject({ pending: 0, failed: 0 });
  }, 120_000);
});
