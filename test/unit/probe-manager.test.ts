import { describe, expect, it } from 'vitest';
import type { V1Probe } from '@kubernetes/client-node';
import { ProbeManager, type ProbeEvent, type ProbeTarget } from '../../src/probes/probe-manager.ts';
import { FakeClock, T0 } from '../fakes/fake-clock.ts';
import type { ProbeKind, ProbeSpec } from '../../src/probes/probe-spec.ts';
import type { ProbeOutcome } from '../../src/probes/probe-outcome.ts';
import { unhealthyEvent } from '../../src/probes/probe-events.ts';

type Scripted = ProbeOutcome['result'] | 'hang' | 'throw';
interface Call {
  kind: ProbeKind;
  at: number;
  containerId: string;
  resolve: (r: ProbeOutcome['result']) => void;
}

/** A manager on a fake clock whose runs answer from a per-kind script (success when it runs out). */
function harness(options: { maxConcurrent?: number } = {}) {
  const clock = new FakeClock();
  const calls: Call[] = [];
  const events: ProbeEvent[] = [];
  const script: Partial<Record<ProbeKind, Scripted[]>> = {};
  const run = (spec: ProbeSpec, target: ProbeTarget): Promise<ProbeOutcome> =>
    new Promise<ProbeOutcome>((resolve, reject) => {
      const next = script[spec.kind]?.shift() ?? 'success';
      const answer = (r: ProbeOutcome['result']) => resolve({ result: r, output: `${spec.kind} said ${r}` });
      calls.push({ kind: spec.kind, at: clock.now() - T0, containerId: target.containerId, resolve: answer });
      if (next === 'throw') reject(new Error('boom'));
      else if (next !== 'hang') answer(next);
    });
  const manager = new ProbeManager({ run, onChange: (e) => events.push(e), clock, ...(options.maxConcurrent ? { maxConcurrent: options.maxConcurrent } : {}) });
  const at = (kind: ProbeKind) => calls.filter((c) => c.kind === kind).map((c) => c.at);
  return { clock, calls, events, script, manager, at };
}

function target(extra: Partial<ProbeTarget> = {}): ProbeTarget {
  return { podUid: 'u1', podName: 'p', namespace: 'default', containerName: 'app', containerId: 'c1', startedAtMs: T0, podIP: '10.0.0.2', container: { name: 'app', image: 'x' }, ...extra };
}
const probe = (extra: Partial<V1Probe> = {}): V1Probe => ({ tcpSocket: { port: 80 }, ...extra });

describe('ProbeManager scheduling', () => {
  it('runs the first probe exactly at initialDelaySeconds after the start, then every period', async () => {
    const h = harness();
    h.manager.addContainer(target(), { readiness: probe({ initialDelaySeconds: 5, periodSeconds: 10 }) });
    await h.clock.advance(4_999);
    expect(h.calls).toHaveLength(0);
    await h.clock.advance(1);
    expect(h.at('readiness')).toEqual([5_000]);
    await h.clock.advance(30_000);
    expect(h.at('readiness')).toEqual([5_000, 15_000, 25_000, 35_000]);
  });

  it('counts runs and reports how late they started and how long they took', async () => {
    const h = harness();
    h.manager.addContainer(target(), { readiness: probe({ initialDelaySeconds: 2, periodSeconds: 1 }) });
    await h.clock.advance(4_500);
    expect(h.manager.stats()).toMatchObject({ runs: 3, lateMs: { count: 3, max: 0 }, latencyMs: { count: 3 } });
  });

  it('a container that started long ago is probed at once', async () => {
    const h = harness();
    h.clock.t = T0 + 60_000;
    h.manager.addContainer(target(), { liveness: probe({ initialDelaySeconds: 5, periodSeconds: 10 }) });
    await h.clock.advance(0);
    expect(h.at('liveness')).toEqual([60_000]);
    await h.clock.advance(10_000);
    expect(h.at('liveness')).toEqual([60_000, 70_000]);
  });

  it('periods count from the due time, not from when a slow run ends', async () => {
    const h = harness();
    h.script.liveness = ['hang', 'hang', 'hang'];
    h.manager.addContainer(target(), { liveness: probe({ periodSeconds: 10, timeoutSeconds: 5 }) });
    await h.clock.advance(0);
    await h.clock.advance(3_000);
    h.calls[0]!.resolve('success'); // took 3 s
    await h.clock.advance(7_000);
    expect(h.at('liveness')).toEqual([0, 10_000]);
    await h.clock.advance(9_000);
    h.calls[1]!.resolve('success'); // took 9 s
    await h.clock.advance(1_000);
    expect(h.at('liveness')).toEqual([0, 10_000, 20_000]);
  });

  it('never overlaps runs of one probe: a run still going skips the next turn', async () => {
    const h = harness();
    h.script.readiness = ['hang'];
    h.manager.addContainer(target(), { readiness: probe({ periodSeconds: 1 }) });
    await h.clock.advance(5_500);
    expect(h.at('readiness')).toEqual([0]);
    h.calls[0]!.resolve('success');
    await h.clock.advance(0);
    expect(h.manager.readiness('u1', 'app')).toBe(true);
    expect(h.at('readiness')).toEqual([0]); // the next run waits for its turn ...
    await h.clock.advance(500);
    expect(h.at('readiness')).toEqual([0, 6_000]); // ... on the original grid
  });

  it('skips periods missed while the event loop was blocked instead of running them in a burst', async () => {
    const h = harness();
    h.manager.addContainer(target(), { liveness: probe({ periodSeconds: 10 }) });
    await h.clock.advance(0);
    h.clock.t += 35_000; // the loop was stuck; the timer fires late
    await h.clock.advance(0);
    expect(h.at('liveness')).toEqual([0, 35_000]);
    await h.clock.advance(5_000);
    expect(h.at('liveness')).toEqual([0, 35_000, 40_000]);
  });

  it('keeps a single timer armed, however many probes are scheduled', async () => {
    const h = harness();
    for (let i = 0; i < 20; i++) {
      h.manager.addContainer(target({ podUid: `u${i}`, containerId: `c${i}`, startedAtMs: T0 + i * 137 }), {
        liveness: probe({ periodSeconds: 1 + (i % 3) }),
        readiness: probe({ periodSeconds: 2, initialDelaySeconds: i % 4 }),
        startup: probe({ periodSeconds: 1 }),
      });
    }
    await h.clock.advance(30_000);
    expect(h.calls.length).toBeGreaterThan(200);
    expect(h.clock.maxPending).toBe(1);
    expect(h.clock.pending).toBe(1);
  });

  it('caps runs in flight at maxConcurrent; waiting probes start as slots free up', async () => {
    const h = harness({ maxConcurrent: 2 });
    h.script.liveness = ['hang', 'hang', 'hang', 'hang', 'hang'];
    for (let i = 0; i < 5; i++) h.manager.addContainer(target({ podUid: `u${i}`, containerId: `c${i}` }), { liveness: probe({ periodSeconds: 60 }) });
    await h.clock.advance(0);
    expect(h.calls.map((c) => c.containerId)).toEqual(['c0', 'c1']);
    expect(h.manager.stats()).toMatchObject({ inFlight: 2, waiting: 3 });
    h.calls[0]!.resolve('success');
    await h.clock.advance(0);
    expect(h.calls.map((c) => c.containerId)).toEqual(['c0', 'c1', 'c2']);
    for (const c of h.calls.slice(1)) c.resolve('success');
    await h.clock.advance(0);
    for (const c of h.calls.slice(3)) c.resolve('success');
    await h.clock.advance(0);
    expect(h.calls.map((c) => c.containerId)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(h.manager.stats()).toMatchObject({ inFlight: 0, waiting: 0 });
  });
});

describe('ProbeManager results', () => {
  it('initial values: readiness false (before any delay), started false, none without a probe', () => {
    const h = harness();
    h.manager.addContainer(target(), { readiness: probe({ initialDelaySeconds: 30 }), startup: probe() });
    expect(h.manager.readiness('u1', 'app')).toBe(false);
    expect(h.manager.started('u1', 'app')).toBe(false);
    h.manager.addContainer(target({ containerName: 'side', containerId: 's1' }), { liveness: probe() });
    expect(h.manager.readiness('u1', 'side')).toBeUndefined();
    expect(h.manager.started('u1', 'side')).toBeUndefined();
    expect(h.manager.readiness('nope', 'app')).toBeUndefined();
  });

  it('readiness flips after successThreshold successes and failureThreshold failures in a row', async () => {
    const h = harness();
    h.script.readiness = ['success', 'failure', 'success', 'success', 'failure', 'failure', 'success', 'failure', 'failure'];
    h.manager.addContainer(target(), { readiness: probe({ periodSeconds: 1, successThreshold: 2, failureThreshold: 2 }) });
    const ready: (boolean | undefined)[] = [];
    for (let i = 0; i < 9; i++) {
      await h.clock.advance(i === 0 ? 0 : 1_000);
      ready.push(h.manager.readiness('u1', 'app'));
    }
    expect(ready).toEqual([false, false, false, true, true, false, false, false, false]);
    const flips = h.events.filter((e) => e.flipped).map((e) => `${e.previous}->${e.current}`);
    expect(flips).toEqual(['failure->success', 'success->failure']);
    // An event for every failed run, flipped or not; none for successes that change nothing.
    expect(h.events.filter((e) => e.result === 'failure')).toHaveLength(5);
    expect(h.events.filter((e) => e.result === 'success')).toHaveLength(1);
  });

  it('liveness: failures below the threshold only report; reaching it asks for a kill and stops probing', async () => {
    const h = harness();
    h.script.liveness = ['failure', 'failure', 'success', 'failure', 'failure', 'failure'];
    h.manager.addContainer(target(), { liveness: probe({ periodSeconds: 1, failureThreshold: 3, terminationGracePeriodSeconds: 4 }) });
    await h.clock.advance(10_000);
    expect(h.at('liveness')).toEqual([0, 1_000, 2_000, 3_000, 4_000, 5_000]);
    expect(h.events.map((e) => [e.result, e.flipped, e.action])).toEqual([
      ['failure', false, undefined],
      ['failure', false, undefined],
      ['failure', false, undefined],
      ['failure', false, undefined],
      ['failure', true, 'kill'],
    ]);
    const kill = h.events.at(-1)!;
    expect(kill).toMatchObject({ kind: 'liveness', previous: 'success', current: 'failure', spec: { terminationGracePeriodSeconds: 4 } });
    expect(h.manager.failedProbe('u1', 'app', 'c1')).toMatchObject({ kind: 'liveness', spec: { terminationGracePeriodSeconds: 4 } });
    expect(h.manager.failedProbe('u1', 'app', 'c2')).toBeUndefined();
    expect(unhealthyEvent(kill)).toEqual({ type: 'Warning', reason: 'Unhealthy', message: 'Liveness probe failed: liveness said failure' });
    expect(h.clock.pending).toBe(0);
  });

  it("'unknown' outcomes move no counter (and are reported as errored)", async () => {
    const h = harness();
    h.script.readiness = ['success', 'failure', 'unknown', 'unknown', 'failure', 'unknown', 'success'];
    h.manager.addContainer(target(), { readiness: probe({ periodSeconds: 1, failureThreshold: 2 }) });
    const ready: (boolean | undefined)[] = [];
    for (let i = 0; i < 7; i++) {
      await h.clock.advance(i === 0 ? 0 : 1_000);
      ready.push(h.manager.readiness('u1', 'app'));
    }
    // failure, unknown, unknown, failure: two failures in a row as far as counting goes.
    expect(ready).toEqual([true, true, true, true, false, false, true]);
    const errored = h.events.filter((e) => e.result === 'unknown');
    expect(errored).toHaveLength(3);
    expect(errored.every((e) => !e.flipped && e.previous === e.current)).toBe(true);
    expect(unhealthyEvent(errored[0]!)?.message).toBe('Readiness probe errored: readiness said unknown');
  });

  it('a run that throws counts as unknown; a throwing onChange breaks nothing', async () => {
    const clock = new FakeClock();
    let n = 0;
    const manager = new ProbeManager({
      clock,
      run: async () => {
        n++;
        if (n === 1) throw new Error('boom');
        return { result: 'success', output: '' };
      },
      onChange: () => {
        throw new Error('handler bug');
      },
    });
    manager.addContainer(target(), { readiness: probe({ periodSeconds: 1 }) });
    await clock.advance(0);
    expect(manager.readiness('u1', 'app')).toBe(false);
    await clock.advance(1_000);
    expect(manager.readiness('u1', 'app')).toBe(true);
    await clock.advance(1_000);
    expect(n).toBe(3);
  });

  it('startup gates liveness and readiness until it succeeds, then never runs again', async () => {
    const h = harness();
    h.script.startup = ['failure', 'failure', 'success'];
    h.manager.addContainer(target(), {
      startup: probe({ periodSeconds: 2, failureThreshold: 10 }),
      liveness: probe({ periodSeconds: 3 }),
      readiness: probe({ periodSeconds: 5 }),
    });
    await h.clock.advance(3_999);
    expect(h.at('startup')).toEqual([0, 2_000]);
    expect(h.at('liveness')).toEqual([]);
    expect(h.at('readiness')).toEqual([]);
    expect(h.manager.started('u1', 'app')).toBe(false);
    await h.clock.advance(1);
    expect(h.manager.started('u1', 'app')).toBe(true);
    const started = h.events.find((e) => e.kind === 'startup' && e.flipped);
    expect(started).toMatchObject({ result: 'success', previous: 'failure', current: 'success' });
    // Readiness is run at once after the start; liveness at its next turn (6 s).
    expect(h.at('readiness')).toEqual([4_000]);
    expect(h.manager.readiness('u1', 'app')).toBe(true);
    await h.clock.advance(20_000);
    expect(h.at('startup')).toEqual([0, 2_000, 4_000]);
    expect(h.at('liveness')).toEqual([6_000, 9_000, 12_000, 15_000, 18_000, 21_000, 24_000]);
    // Its periods now count from that run (kubelet's ticker would also fire at 5 s, right after).
    expect(h.at('readiness')).toEqual([4_000, 9_000, 14_000, 19_000, 24_000]);
  });

  it('a container found running with started already reported skips its startup probe', async () => {
    const h = harness();
    h.manager.addContainer(target({ startedAtMs: T0 - 3_600_000 }), { startup: probe({ periodSeconds: 10, failureThreshold: 30 }), liveness: probe({ periodSeconds: 5 }) }, { alreadyStarted: true });
    expect(h.manager.started('u1', 'app')).toBe(true);
    await h.clock.advance(6_000);
    expect(h.at('startup')).toEqual([]);
    expect(h.at('liveness')).toEqual([0, 5_000]);
    expect(h.manager.failedProbe('u1', 'app', 'c1')).toBeUndefined();
  });

  it('startup reaching failureThreshold asks for a kill; liveness and readiness never ran', async () => {
    const h = harness();
    h.script.startup = ['failure', 'failure', 'failure'];
    h.manager.addContainer(target(), { startup: probe({ periodSeconds: 1, failureThreshold: 3 }), liveness: probe({ periodSeconds: 1 }) });
    await h.clock.advance(10_000);
    expect(h.at('startup')).toEqual([0, 1_000, 2_000]);
    expect(h.at('liveness')).toEqual([]);
    const last = h.events.at(-1)!;
    expect(last).toMatchObject({ kind: 'startup', result: 'failure', flipped: false, action: 'kill' });
    expect(h.manager.failedProbe('u1', 'app', 'c1')).toMatchObject({ kind: 'startup' });
    expect(h.manager.started('u1', 'app')).toBe(false);
  });

  it('a restart (new container id) starts over; the same id again changes nothing', async () => {
    const h = harness();
    h.script.liveness = ['failure'];
    h.manager.addContainer(target(), { liveness: probe({ periodSeconds: 1, failureThreshold: 1 }), readiness: probe({ periodSeconds: 1 }) });
    await h.clock.advance(0);
    expect(h.events.find((e) => e.action === 'kill')).toBeDefined();
    expect(h.manager.readiness('u1', 'app')).toBe(true);
    // The pod worker tells again about the same container: idempotent, the liveness hold stays.
    h.manager.addContainer(target({ podIP: '10.0.0.9' }), { liveness: probe({ periodSeconds: 1, failureThreshold: 1 }), readiness: probe({ periodSeconds: 1 }) });
    await h.clock.advance(3_000);
    expect(h.at('liveness')).toEqual([0]);
    expect(h.manager.readiness('u1', 'app')).toBe(true);
    expect(h.calls.at(-1)!.containerId).toBe('c1');

    // Restarted at 10 s with a new id: fresh state, probes from the new start.
    h.clock.t = T0 + 10_000;
    h.manager.addContainer(target({ containerId: 'c2', startedAtMs: T0 + 10_000 }), {
      liveness: probe({ periodSeconds: 1, failureThreshold: 1, initialDelaySeconds: 2 }),
      readiness: probe({ periodSeconds: 1, initialDelaySeconds: 2 }),
    });
    expect(h.manager.readiness('u1', 'app')).toBe(false);
    await h.clock.advance(2_000);
    expect(h.calls.filter((c) => c.containerId === 'c2').map((c) => [c.kind, c.at])).toEqual([
      ['liveness', 12_000],
      ['readiness', 12_000],
    ]);
    expect(h.manager.readiness('u1', 'app')).toBe(true);
  });

  it("a run that ends after its container was replaced is ignored", async () => {
    const h = harness();
    h.script.readiness = ['hang'];
    h.manager.addContainer(target(), { readiness: probe({ periodSeconds: 10 }) });
    await h.clock.advance(0);
    h.manager.addContainer(target({ containerId: 'c2', startedAtMs: T0 + 60_000 }), { readiness: probe({ periodSeconds: 10 }) });
    h.calls[0]!.resolve('success');
    await h.clock.advance(0);
    expect(h.manager.readiness('u1', 'app')).toBe(false);
    expect(h.events).toEqual([]);
  });

  it('removePod stops every probe of the pod and leaves no timer', async () => {
    const h = harness();
    h.script.readiness = ['hang'];
    h.manager.addContainer(target(), { readiness: probe({ periodSeconds: 1 }), liveness: probe({ periodSeconds: 1 }) });
    h.manager.addContainer(target({ containerName: 'side', containerId: 's1' }), { startup: probe({ periodSeconds: 1 }) });
    await h.clock.advance(2_000);
    const before = h.calls.length;
    expect(before).toBeGreaterThan(0);
    h.manager.removePod('u1');
    expect(h.clock.pending).toBe(0);
    expect(h.manager.stats()).toMatchObject({ containers: 0, scheduled: 0 });
    h.calls[0]!.resolve('success'); // the run in flight ends after the pod is gone
    await h.clock.advance(60_000);
    expect(h.calls.length).toBe(before);
    expect(h.manager.readiness('u1', 'app')).toBeUndefined();
    expect(h.events.filter((e) => e.kind === 'readiness')).toEqual([]);
    expect(h.clock.pending).toBe(0);
  });

  it('removeContainer stops only that container; the other keeps its schedule', async () => {
    const h = harness();
    h.manager.addContainer(target(), { liveness: probe({ periodSeconds: 1 }) });
    h.manager.addContainer(target({ containerName: 'side', containerId: 's1' }), { liveness: probe({ periodSeconds: 1 }) });
    await h.clock.advance(1_000);
    h.manager.removeContainer('u1', 'app');
    await h.clock.advance(2_000);
    expect(h.calls.filter((c) => c.containerId === 'c1').map((c) => c.at)).toEqual([0, 1_000]);
    expect(h.calls.filter((c) => c.containerId === 's1').map((c) => c.at)).toEqual([0, 1_000, 2_000, 3_000]);
    h.manager.close();
    expect(h.clock.pending).toBe(0);
  });
});
