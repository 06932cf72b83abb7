import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { silentLogger } from '../../src/log/logger.ts';
import { PodStatusSync } from '../../src/pods/pod-status-sync.ts';
import type { PodStatusJson } from '../../src/pods/pod-status.ts';
import { FakePodApi } from '../fakes/fake-pod-api.ts';

const pod = (name: string): V1Pod => ({ metadata: { name, namespace: 'default', uid: `uid-${name}` }, spec: { containers: [] } });
const status = (phase: PodStatusJson['phase']): PodStatusJson => ({ phase, conditions: [], hostIP: '192.168.56.11', hostIPs: [{ ip: '192.168.56.11' }], startTime: '2026-11-25T10:00:00Z', qosClass: 'BestEffort', containerStatuses: [] });

describe('pod status sync', () => {
  it('writes a status once, skips it unchanged, and keeps nothing of a pod once forgotten', async () => {
    const api = new FakePodApi();
    const sync = new PodStatusSync({ api, log: silentLogger() });
    sync.set(pod('a'), status('Running'));
    await sync.flush();
    sync.set(pod('a'), status('Running'));
    await sync.flush();
    expect(api.statusPatches).toHaveLength(1);
    expect(sync.stats.skipped).toBe(1);
    expect(sync.retained()).toEqual({ statuses: 1, writing: 0 });
    sync.forget('uid-a');
    expect(sync.get('uid-a')).toBeUndefined();
    expect(sync.retained()).toEqual({ statuses: 0, writing: 0 });
  });

  it('a write still in flight when the pod is forgotten finishes without bringing the pod back', async () => {
    const api = new FakePodApi();
    const sync = new PodStatusSync({ api, log: silentLogger() });
    api.stall();
    sync.set(pod('slow'), status('Running'));
    expect(sync.retained()).toEqual({ statuses: 1, writing: 1 });
    sync.forget('uid-slow');
    api.release();
    await sync.flush();
    expect(api.statusPatches).toHaveLength(1);
    expect(sync.retained()).toEqual({ statuses: 0, writing: 0 });
    // The same uid again is a new pod: its status is written, not taken for the one sent before.
    sync.set(pod('slow'), status('Running'));
    await sync.flush();
    expect(api.statusPatches).toHaveLength(2);
  });

  it('writes of one pod stay in order, also across a forget', async () => {
    const api = new FakePodApi();
    const sync = new PodStatusSync({ api, log: silentLogger() });
    api.stall();
    sync.set(pod('p'), status('Pending'));
    sync.forget('uid-p');
    sync.set(pod('p'), status('Running'));
    api.release();
    await sync.flush();
    expect(api.statusPatches.map((p) => (p.patch as { status: { phase: string } }).status.phase)).toEqual(['Pending', 'Running']);
  });

  it('replaces podIPs and hostIPs instead of merging them by ip: a new sandbox IP is the only one written', async () => {
    const api = new FakePodApi();
    const sync = new PodStatusSync({ api, log: silentLogger() });
    sync.set(pod('moved'), { ...status('Running'), podIP: '10.244.0.7', podIPs: [{ ip: '10.244.0.7' }] });
    await sync.flush();
    const patch = api.statusPatches[0]?.patch as { status: { podIPs: unknown[]; hostIPs: unknown[]; podIP: string } };
    // A strategic merge patch would add 10.244.0.7 beside the IP the apiserver holds; the
    // replace directive makes the list exactly what follows it.
    expect(patch.status.podIPs).toEqual([{ $patch: 'replace' }, { ip: '10.244.0.7' }]);
    expect(patch.status.hostIPs).toEqual([{ $patch: 'replace' }, { ip: '192.168.56.11' }]);
    expect(patch.status.podIP).toBe('10.244.0.7');
  });
});
