import { describe, expect, it } from 'vitest';
import { EventSpamFilter } from '../../src/kube/event-spam-filter.ts';
import { TokenBucket } from '../../src/util/token-bucket.ts';
import { FakeClock } from '../fakes/fake-clock.ts';

const fiveMinutes = 5 * 60_000;

describe('token bucket', () => {
  it('starts full, refills continuously up to the burst, and earns nothing from a clock stepping back', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ burst: 2, perSecond: 1, now: clock.now() });
    expect(bucket.tryTake(clock.now())).toBe(true);
    expect(bucket.tryTake(clock.now())).toBe(true);
    expect(bucket.tryTake(clock.now())).toBe(false);
    clock.t += 500;
    expect(bucket.available(clock.now())).toBeCloseTo(0.5);
    expect(bucket.tryTake(clock.now())).toBe(false);
    clock.t += 500;
    expect(bucket.tryTake(clock.now())).toBe(true);
    clock.t += 60_000;
    expect(bucket.available(clock.now())).toBe(2);
    expect(bucket.available(clock.now() - 30_000)).toBe(2);
    bucket.tryTake(clock.now());
    bucket.tryTake(clock.now());
    expect(bucket.available(clock.now() - 30_000)).toBe(0);
    expect(bucket.available(clock.now() + 1000)).toBe(1);
  });
});

describe('event spam filter (client-go defaults)', () => {
  it('allows 25 events per object at once, then one per 5 minutes', () => {
    const clock = new FakeClock();
    const filter = new EventSpamFilter();
    const allowed = Array.from({ length: 30 }, () => filter.allow('pod-a', clock.now())).filter(Boolean).length;
    expect(allowed).toBe(25);
    clock.t += fiveMinutes - 1;
    expect(filter.allow('pod-a', clock.now())).toBe(false);
    clock.t += 1;
    expect(filter.allow('pod-a', clock.now())).toBe(true);
    expect(filter.allow('pod-a', clock.now())).toBe(false);
    clock.t += fiveMinutes;
    expect(filter.allow('pod-a', clock.now())).toBe(true);
    expect(filter.allow('pod-a', clock.now())).toBe(false);
    // Quiet for long enough, the object has its whole burst again, never more.
    clock.t += 100 * fiveMinutes;
    expect(Array.from({ length: 30 }, () => filter.allow('pod-a', clock.now())).filter(Boolean).length).toBe(25);
  });

  it('each object has its own budget', () => {
    const clock = new FakeClock();
    const filter = new EventSpamFilter();
    for (let i = 0; i < 25; i++) filter.allow('pod-a', clock.now());
    expect(filter.allow('pod-a', clock.now())).toBe(false);
    expect(filter.allow('pod-b', clock.now())).toBe(true);
    expect(filter.size).toBe(2);
  });

  it('keeps buckets for at most `capacity` objects', () => {
    const clock = new FakeClock();
    const filter = new EventSpamFilter({ burst: 25, perSecond: 1 / 300, capacity: 4096 });
    for (let i = 0; i < 5000; i++) filter.allow(`pod-${i}`, clock.now());
    expect(filter.size).toBe(4096);
  });
});

describe('token bucket arithmetic', () => {
  it('a token earned in many small steps is a whole token', () => {
    const bucket = new TokenBucket({ burst: 1, perSecond: 1 / 300, now: 0 });
    expect(bucket.tryTake(0)).toBe(true);
    let t = 0;
    for (let i = 0; i < 299; i++) {
      t += 1000;
      expect(bucket.tryTake(t)).toBe(false);
    }
    expect(bucket.tryTake(t + 1000)).toBe(true);
  });
});
