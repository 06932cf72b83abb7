import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { COMBINED_PREFIX, type AggregatorOptions } from '../../src/kube/event-aggregator.ts';
import { ApiEventRecorder, type ObjectRef } from '../../src/kube/event-recorder.ts';
import { createLogger } from '../../src/log/logger.ts';
import { DropOldestQueue } from '../../src/util/drop-oldest-queue.ts';
import { FakeClock } from '../fakes/fake-clock.ts';
import { FakeEventApi } from '../fakes/fake-event-api.ts';

function harness(options: { maxPending?: number; aggregator?: AggregatorOptions } = {}) {
  const clock = new FakeClock();
  const api = new FakeEventApi();
  const lines: { level: number; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  const log = createLogger({ format: 'json', level: 'info', destination });
  const recorder = new ApiEventRecorder(new KubeConfig(), { component: 'node-agent', host: 'n1', log, sink: api, now: () => clock.now(), ...options });
  const warnings = () => lines.filter((l) => l.level === 40).map((l) => l.msg);
  return { clock, api, recorder, warnings };
}

const podRef = (name: string): ObjectRef => ({ kind: 'Pod', apiVersion: 'v1', name, namespace: 'default', uid: `uid-${name}` });

describe('event recorder', () => {
  it('sends repeats of an event as one Event with a rising count and a new lastTimestamp', async () => {
    const h = harness();
    const ref = { ...podRef('web'), fieldPath: 'spec.containers{c}' };
    h.recorder.record(ref, 'Warning', 'BackOff', 'Back-off restarting failed container c');
    h.clock.t += 10_000;
    h.recorder.record(ref, 'Warning', 'BackOff', 'Back-off restarting failed container c');
    h.clock.t += 20_000;
    h.recorder.record(ref, 'Warning', 'BackOff', 'Back-off restarting failed container c');
    // Another message (or another container) is another Event.
    h.recorder.record(ref, 'Warning', 'BackOff', 'Back-off pulling image "x"');
    await h.recorder.flush();
    expect(h.api.created).toHaveLength(2);
    const first = h.api.created[0]!;
    expect(first).toMatchObject({ count: 1, reason: 'BackOff', involvedObject: { kind: 'Pod', name: 'web', uid: 'uid-web', fieldPath: 'spec.containers{c}' }, source: { component: 'node-agent', host: 'n1' } });
    expect(h.api.updates).toEqual([
      { namespace: 'default', name: first.metadata?.name, count: 2, lastTimestamp: new Date(first.firstTimestamp!.getTime() + 10_000).toISOString(), message: first.message },
      { namespace: 'default', name: first.metadata?.name, count: 3, lastTimestamp: new Date(first.firstTimestamp!.getTime() + 30_000).toISOString(), message: first.message },
    ]);
    expect(h.recorder.stats()).toMatchObject({ pending: 0, remembered: 2, posted: 4, failed: 0 });
  });

  it('a repeat whose Event is not on the apiserver (expired) writes it again, with the count so far', async () => {
    const h = harness();
    h.recorder.record(podRef('web'), 'Normal', 'Pulled', 'already present');
    await h.recorder.flush();
    const name = h.api.created[0]?.metadata?.name ?? '';
    h.api.expired.add(name);
    h.recorder.record(podRef('web'), 'Normal', 'Pulled', 'already present');
    await h.recorder.flush();
    expect(h.api.created.map((e) => [e.metadata?.name, e.count])).toEqual([
      [name, 1],
      [name, 2],
    ]);
  });

  it('repeats over the budget are still counted: the next one let through carries the true count', async () => {
    const h = harness();
    const ref = podRef('flappy');
    for (let i = 0; i < 40; i++) h.recorder.record(ref, 'Warning', 'Unhealthy', 'Readiness probe failed');
    await h.recorder.flush();
    expect(h.api.created).toHaveLength(1);
    expect(h.api.updates.map((u) => u.count)).toEqual(Array.from({ length: 24 }, (_, i) => i + 2));
    expect(h.recorder.stats().filtered).toBe(15);
    h.clock.t += 5 * 60_000;
    h.recorder.record(ref, 'Warning', 'Unhealthy', 'Readiness probe failed');
    await h.recorder.flush();
    expect(h.api.updates.at(-1)?.count).toBe(41);
  });

  it('remembers at most 4096 distinct events, however many objects come and go', async () => {
    const h = harness();
    for (let i = 0; i < 5000; i++) {
      h.recorder.record(podRef(`p${i}`), 'Normal', 'Started', 'Started container c');
      // Paced like the apiserver would take them, so that none is dropped from the queue.
      if (i % 500 === 0) await h.recorder.flush();
    }
    await h.recorder.flush();
    expect(h.recorder.stats()).toMatchObject({ pending: 0, remembered: 4096, budgets: 4096, posted: 5000, dropped: 0 });
  });

  it('combines similar events: after 10 distinct messages of one reason, one Event counts the rest', async () => {
    const h = harness();
    const node: ObjectRef = { kind: 'Node', name: 'n1', uid: 'n1' };
    for (let i = 0; i < 20; i++) h.recorder.record(node, 'Warning', 'OOMKilling', `Killed process ${1000 + i} (stress)`);
    // Another reason is another group.
    h.recorder.record(node, 'Warning', 'TaskHung', 'task a:1 blocked for more than 120 seconds.');
    await h.recorder.flush();
    const oom = h.api.created.filter((e) => e.reason === 'OOMKilling');
    expect(oom).toHaveLength(10);
    expect(oom.slice(0, 9).map((e) => e.message)).toEqual(Array.from({ length: 9 }, (_, i) => `Killed process ${1000 + i} (stress)`));
    expect(oom[9]?.message).toBe(`${COMBINED_PREFIX}Killed process 1009 (stress)`);
    // The 10 after it are counted on that one Event, which says the latest message.
    expect(h.api.updates.at(-1)).toMatchObject({ name: oom[9]?.metadata?.name, count: 11, message: `${COMBINED_PREFIX}Killed process 1019 (stress)` });
    expect(h.api.created.filter((e) => e.reason === 'TaskHung')).toHaveLength(1);
    // Ten quiet minutes later the group starts over.
    h.clock.t += 10 * 60_000 + 1;
    h.recorder.record(node, 'Warning', 'OOMKilling', 'Killed process 2000 (stress)');
    await h.recorder.flush();
    expect(h.api.created.at(-1)?.message).toBe('Killed process 2000 (stress)');
  });

  it('events of one instant get names of their own; a name taken by another recorder is replaced, repeats follow', async () => {
    const h = harness();
    // The clock does not move: 200 events of 200 nodes in one millisecond.
    for (let i = 0; i < 200; i++) h.recorder.record({ kind: 'Node', name: 'n', uid: `n${i}` }, 'Warning', 'Burst', 'one instant');
    await h.recorder.flush();
    expect(new Set(h.api.created.map((e) => e.metadata?.name)).size).toBe(200);
    expect(h.recorder.stats().failed).toBe(0);

    // Another component's Event already holds the name this recorder will choose first (the
    // same millisecond, its sequence 0 and a random part of 0).
    const other = harness();
    const ref = podRef('web');
    other.recorder.record(ref, 'Normal', 'Pulled', 'pulled');
    await other.recorder.flush();
    const takenName = `web.${(BigInt(other.clock.now()) * 1_000_000n).toString(16)}`;
    other.api.created[0]!.metadata.name = takenName;
    const original = Math.random;
    Math.random = () => 0;
    try {
      const clash = new ApiEventRecorder(new KubeConfig(), { component: 'kernel-monitor', host: 'n1', log: createLogger({ format: 'json', level: 'error' }), sink: other.api, now: () => other.clock.now() });
      clash.record(ref, 'Warning', 'Other', 'clash');
      clash.record(ref, 'Warning', 'Other', 'clash');
      await clash.flush();
      const mine = other.api.created.filter((e) => e.reason === 'Other');
      expect(mine).toHaveLength(1);
      expect(mine[0]?.metadata?.name).not.toBe(takenName);
      // The repeat is counted on this recorder's own Event, not on the one that held the name.
      expect(other.api.updates.at(-1)).toMatchObject({ name: mine[0]?.metadata?.name, count: 2 });
      expect(clash.stats().failed).toBe(0);
    } finally {
      Math.random = original;
    }
  });

  it('spends each object\'s budget: 25 events, then one per 5 minutes', async () => {
    // Distinct messages that are not combined, so that each one is a write of its own.
    const h = harness({ aggregator: { maxEvents: 1000, windowMs: 600_000, maxGroups: 10 } });
    for (let i = 0; i < 30; i++) h.recorder.record(podRef('noisy'), 'Warning', 'Unhealthy', `probe failed ${i}`);
    h.recorder.record(podRef('quiet'), 'Normal', 'Started', 'Started container c');
    await h.recorder.flush();
    expect(h.api.created).toHaveLength(26);
    expect(h.recorder.stats().filtered).toBe(5);
    h.clock.t += 5 * 60_000;
    h.recorder.record(podRef('noisy'), 'Warning', 'Unhealthy', 'probe failed again');
    h.recorder.record(podRef('noisy'), 'Warning', 'Unhealthy', 'probe failed once more');
    await h.recorder.flush();
    expect(h.api.created).toHaveLength(27);
  });

  it('while the apiserver stalls, at most 1000 events wait: the oldest are dropped, said once per burst; then it recovers', async () => {
    const h = harness();
    h.api.stall();
    // One object per event, so that the spam filter lets every one through.
    h.recorder.record(podRef('p0'), 'Normal', 'Started', 'first, in flight');
    for (let i = 1; i <= 1005; i++) h.recorder.record(podRef(`p${i}`), 'Normal', 'Started', 'Started container c');
    expect(h.recorder.stats()).toMatchObject({ pending: 1000, dropped: 5 });
    expect(h.warnings().filter((m) => m.includes('dropping the oldest'))).toHaveLength(1);

    h.api.release();
    await h.recorder.flush();
    const names = h.api.created.map((e) => e.involvedObject.name);
    // The one in flight, then the newest 1000: p1..p5 were the oldest waiting.
    expect(names).toHaveLength(1001);
    expect(names.slice(0, 2)).toEqual(['p0', 'p6']);
    expect(names.at(-1)).toBe('p1005');
    expect(h.recorder.stats()).toMatchObject({ pending: 0, dropped: 5, posted: 1001 });

    // Recovered: events flow again at once, and a new stall is a new burst, said again.
    h.recorder.record(podRef('after'), 'Normal', 'Started', 'Started container c');
    await h.recorder.flush();
    expect(h.api.created.at(-1)?.involvedObject.name).toBe('after');
    h.api.stall();
    for (let i = 0; i < 1002; i++) h.recorder.record(podRef(`q${i}`), 'Normal', 'Started', 'Started container c');
    expect(h.warnings().filter((m) => m.includes('dropping the oldest'))).toHaveLength(2);
    h.api.release();
    await h.recorder.flush();
    expect(h.recorder.stats()).toMatchObject({ pending: 0, dropped: 6 });
  });
});

describe('drop-oldest queue', () => {
  it('keeps the newest `capacity` items and counts what it dropped', () => {
    const q = new DropOldestQueue<number>(3);
    for (let i = 1; i <= 3; i++) expect(q.push(i)).toBeUndefined();
    expect(q.push(4)).toEqual({ dropped: 1 });
    expect(q.push(5)).toEqual({ dropped: 2 });
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual([3, 4, 5, undefined]);
    expect(q.dropped).toBe(2);
    expect(q.size).toBe(0);
  });
});
