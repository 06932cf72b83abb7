import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { agentMetrics } from '../../src/metrics/agent-metrics.ts';
import { exponentialBuckets, runtimeOperationBuckets } from '../../src/metrics/buckets.ts';
import { containerStateLabel, countContainers, KubeletMetrics } from '../../src/metrics/kubelet-metrics.ts';
import { operationType } from '../../src/metrics/operation-type.ts';
import { allRunning, PodStartTracker, type PodStartObservation } from '../../src/metrics/pod-start-tracker.ts';
import { ProberMetrics } from '../../src/metrics/prober-metrics.ts';
import { RuntimeMetrics } from '../../src/metrics/runtime-metrics.ts';
import type { PodStatusJson } from '../../src/pods/pod-status.ts';
import { instrumentRuntime } from '../../src/runtime/instrumented-runtime.ts';
import type { Runtime } from '../../src/runtime/types.ts';

const samples = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
const scrape = async (metrics: { metrics(): import('prom-client').Metric[] }): Promise<string> => {
  const r = new Registry();
  for (const m of metrics.metrics()) r.registerMetric(m);
  return r.metrics();
};

describe('operation types', () => {
  it('names Runtime methods as kubelet names the CRI calls, and new methods in snake_case', () => {
    expect(operationType('runSandbox')).toBe('run_podsandbox');
    expect(operationType('listSandboxes')).toBe('list_podsandbox');
    expect(operationType('execSync')).toBe('exec_sync');
    expect(operationType('pullImage')).toBe('pull_image');
    expect(operationType('imageFilesystem')).toBe('image_fs_info');
    expect(operationType('attachContainerStreams')).toBe('attach_container_streams');
    expect(operationType('constructor')).toBe('constructor'); // not the prototype's
  });

  it('buckets are kubelet ExponentialBuckets(.005, 2.5, 14)', () => {
    expect(runtimeOperationBuckets).toHaveLength(14);
    expect(runtimeOperationBuckets[0]).toBe(0.005);
    expect(runtimeOperationBuckets[13]).toBeCloseTo(0.005 * 2.5 ** 13);
    expect(exponentialBuckets(1, 2, 3)).toEqual([1, 2, 4]);
  });
});

describe('instrumented runtime', () => {
  /** A fake runtime with a method the wrapper has never heard of and a field that is no method. */
  const fake = () => {
    let t = 0;
    const clock = { now: () => t, advance: (ms: number) => (t += ms) };
    const calls: string[] = [];
    const impl = {
      secret: 42,
      async version() {
        calls.push('version');
        clock.advance(20);
        return { runtimeName: 'fake', runtimeVersion: '1', runtimeApiVersion: 'v1' };
      },
      async pullImage(image: string) {
        clock.advance(3000);
        throw new Error(`no such image ${image}`);
      },
      stopContainer(): Promise<void> {
        throw new Error('thrown before any promise');
      },
      // Added to the interface after the wrapper was written.
      async attachContainerStreams(id: string) {
        calls.push(`attach ${id} ${String(this.secret)}`);
        clock.advance(5);
        return `attached:${id}`;
      },
      close: async () => {
        calls.push('close');
      },
    };
    return { impl, clock, calls };
  };

  it('times every call, counts errors by operation_type, forwards methods it does not know', async () => {
    const { impl, clock, calls } = fake();
    const recorded: [string, number, boolean][] = [];
    const runtime = instrumentRuntime(impl as unknown as Runtime & typeof impl, { record: (op, s, failed) => recorded.push([op, s, failed]) }, clock.now);
    expect((await runtime.version()).runtimeName).toBe('fake');
    await expect(runtime.pullImage('nope')).rejects.toThrow('no such image nope');
    expect(() => runtime.stopContainer('c1', 1)).toThrow('thrown before any promise');
    expect(await runtime.attachContainerStreams('c1')).toBe('attached:c1');
    await runtime.close();
    expect(runtime.secret).toBe(42);
    expect('collectNetwork' in runtime).toBe(false);
    expect(calls).toEqual(['version', 'attach c1 42', 'close']);
    expect(recorded).toEqual([
      ['version', 0.02, false],
      ['pull_image', 3, true],
      ['stop_container', 0, true],
      ['attach_container_streams', 0.005, false],
    ]);
    // The same function each time (callers may compare or keep it).
    expect(Reflect.get(runtime, 'version')).toBe(Reflect.get(runtime, 'version'));
  });

  it('feeds kubelet_runtime_operations_total, _duration_seconds and _errors_total', async () => {
    const { impl, clock } = fake();
    const metrics = new RuntimeMetrics();
    const runtime = instrumentRuntime(impl as unknown as Runtime, metrics, clock.now);
    await runtime.version();
    await runtime.version();
    await runtime.pullImage('x').catch(() => undefined);
    const text = await scrape(metrics);
    expect(samples(text, 'kubelet_runtime_operations_total')).toEqual(['kubelet_runtime_operations_total{operation_type="version"} 2', 'kubelet_runtime_operations_total{operation_type="pull_image"} 1']);
    expect(samples(text, 'kubelet_runtime_operations_errors_total')).toEqual(['kubelet_runtime_operations_errors_total{operation_type="pull_image"} 1']);
    expect(samples(text, 'kubelet_runtime_operations_duration_seconds_count')).toEqual([
      'kubelet_runtime_operations_duration_seconds_count{operation_type="version"} 2',
      'kubelet_runtime_operations_duration_seconds_count{operation_type="pull_image"} 1',
    ]);
    expect(text).toContain('kubelet_runtime_operations_duration_seconds_bucket{le="0.03125",operation_type="version"} 2');
    expect(text).toContain('# TYPE kubelet_runtime_operations_duration_seconds histogram');
  });
});

const pod = (uid: string, extra: Partial<V1Pod['status']> = {}): V1Pod => ({
  metadata: { uid, name: `p-${uid}`, namespace: 'default', creationTimestamp: new Date(1_000) },
  spec: { containers: [{ name: 'a' }, { name: 'b' }] },
  status: { ...extra },
});
const status = (running: string[]): PodStatusJson =>
  ({
    phase: running.length ? 'Running' : 'Pending',
    conditions: [],
    hostIP: '',
    hostIPs: [],
    containerStatuses: ['a', 'b'].map((name) => ({ name, state: running.includes(name) ? { running: { startedAt: 'x' } } : { waiting: { reason: 'ContainerCreating' } }, lastState: {}, ready: false, started: false, restartCount: 0, image: '', imageID: '' })),
  }) as unknown as PodStatusJson;

describe('pod start tracker', () => {
  it('measures once per pod, from first seen to every container running, less pulls for the SLI', () => {
    const seen: PodStartObservation[] = [];
    const t = new PodStartTracker({ onStart: (o) => seen.push(o) });
    t.seen(pod('u1'), 10_000);
    t.seen(pod('u1'), 11_000); // a later sync: the first time stays
    t.pulled('u1', 12_000, 15_000);
    t.status(pod('u1'), status(['a']), 16_000);
    expect(seen).toEqual([]);
    t.status(pod('u1'), status(['a', 'b']), 18_000);
    t.status(pod('u1'), status(['a', 'b']), 19_000);
    expect(seen).toEqual([{ sinceFirstSeen: 8, sinceCreation: 17, sli: 14 }]);
  });

  it('does not measure a pod that had started before the agent saw it (an agent restart)', () => {
    const seen: PodStartObservation[] = [];
    const t = new PodStartTracker({ onStart: (o) => seen.push(o) });
    t.seen(pod('u2', { startTime: new Date(5_000) }), 10_000);
    t.status(pod('u2'), status(['a', 'b']), 10_001);
    expect(seen).toEqual([]);
  });

  it('is bounded: forgotten pods go, and never more than maxPods are kept', () => {
    const t = new PodStartTracker({ onStart: () => undefined, maxPods: 2 });
    t.seen(pod('a'), 1);
    t.seen(pod('b'), 1);
    t.seen(pod('c'), 1);
    expect(t.size).toBe(2);
    t.forget('b');
    expect(t.size).toBe(1);
  });

  it('all running needs every spec container running', () => {
    expect(allRunning(pod('x'), status(['a', 'b']))).toBe(true);
    expect(allRunning(pod('x'), status(['b']))).toBe(false);
    expect(allRunning({ spec: { containers: [] } }, status([]))).toBe(false);
  });
});

describe('prober metrics', () => {
  const target = { podUid: 'u1', podName: 'web', namespace: 'ns', containerName: 'c' };

  it('counts results with kubelet labels and values, and drops the pod series when told', async () => {
    const m = new ProberMetrics();
    m.ran('readiness', target, 'success', 0.02);
    m.ran('readiness', target, 'success', 0.02);
    m.ran('liveness', target, 'failure', 1);
    m.ran('startup', target, 'unknown', 0.5);
    let text = await scrape(m);
    expect(samples(text, 'prober_probe_total')).toEqual([
      'prober_probe_total{probe_type="Readiness",container="c",pod="web",namespace="ns",result="successful",pod_uid="u1"} 2',
      'prober_probe_total{probe_type="Liveness",container="c",pod="web",namespace="ns",result="failed",pod_uid="u1"} 1',
      'prober_probe_total{probe_type="Startup",container="c",pod="web",namespace="ns",result="unknown",pod_uid="u1"} 1',
    ]);
    // As the kubelet: no duration for a failed run.
    expect(samples(text, 'prober_probe_duration_seconds_count')).toEqual([
      'prober_probe_duration_seconds_count{probe_type="Readiness",container="c",pod="web",namespace="ns"} 2',
      'prober_probe_duration_seconds_count{probe_type="Startup",container="c",pod="web",namespace="ns"} 1',
    ]);
    expect(m.pods).toBe(1);
    m.forgetPod('u1');
    text = await scrape(m);
    expect(samples(text, 'prober_probe_total')).toEqual([]);
    expect(m.pods).toBe(0);
  });
});

describe('kubelet metrics in the agent registry', () => {
  it('container states as kubelet labels them', () => {
    expect(containerStateLabel('running')).toBe('running');
    expect(containerStateLabel('CONTAINER_EXITED')).toBe('exited');
    expect(containerStateLabel('dead')).toBe('exited');
    expect(containerStateLabel('paused')).toBe('unknown');
    const counts = countContainers([
      { id: '1', kind: 'sandbox', state: 'running', labels: {}, annotations: {} },
      { id: '2', kind: 'container', state: 'CONTAINER_RUNNING', labels: {}, annotations: {} },
      { id: '3', kind: 'container', state: 'exited', labels: {}, annotations: {} },
    ]);
    expect(Object.fromEntries(counts)).toEqual({ running: 1, exited: 1 });
  });

  it('one registry serves the agent metrics and the kubelet ones; /metrics/probes has the prober alone', async () => {
    const k = new KubeletMetrics();
    k.countContainersFrom(() => Promise.resolve([{ id: '2', kind: 'container', state: 'running', labels: {}, annotations: {} }]));
    k.podStarts.seen(pod('u1'), 1_000);
    k.podStarts.status(pod('u1'), status(['a', 'b']), 3_500);
    k.prober.ran('readiness', { podUid: 'u1', podName: 'p', namespace: 'ns', containerName: 'c' }, 'success', 0.01);
    k.runtime.record('version', 0.01, false);
    const text = await agentMetrics({ nodeName: 'n1', runningPods: () => 1, kubelet: k }).metrics();
    expect(samples(text, 'kubelet_running_pods')).toEqual(['kubelet_running_pods{node="n1"} 1']);
    expect(samples(text, 'kubelet_running_containers')).toEqual(['kubelet_running_containers{container_state="running",node="n1"} 1']);
    expect(samples(text, 'kubelet_pod_start_duration_seconds_count')).toEqual(['kubelet_pod_start_duration_seconds_count{node="n1"} 1']);
    expect(text).toContain('kubelet_pod_start_duration_seconds_bucket{le="3",node="n1"} 1');
    expect(text).toContain('kubelet_pod_start_duration_seconds_bucket{le="2",node="n1"} 0');
    expect(samples(text, 'kubelet_pod_start_sli_duration_seconds_count')).toEqual(['kubelet_pod_start_sli_duration_seconds_count{node="n1"} 1']);
    expect(samples(text, 'kubelet_runtime_operations_total')).toEqual(['kubelet_runtime_operations_total{operation_type="version",node="n1"} 1']);
    expect(text).toMatch(/^prober_probe_total\{.*result="successful".*\} 1$/m);
    const probes = await k.probesRegistry({ node: 'n1' }).metrics();
    expect(probes).toMatch(/^prober_probe_total\{.*node="n1"\} 1$/m);
    expect(probes).not.toContain('kubelet_runtime_operations_total');
  });

  it('a runtime that does not answer leaves kubelet_running_containers empty, not the scrape failed', async () => {
    const k = new KubeletMetrics();
    k.countContainersFrom(() => Promise.reject(new Error('down')));
    const text = await agentMetrics({ nodeName: 'n1', kubelet: k }).metrics();
    expect(samples(text, 'kubelet_running_containers')).toEqual([]);
  });
});
