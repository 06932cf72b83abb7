import { describe, expect, it } from 'vitest';
import { cidrsOverlap, formatCidr, parseCidr, parseIpv4, formatIpv4, cidrContains } from '../../src/util/cidr.ts';
import { parseDuration, formatDuration } from '../../src/util/duration.ts';
import { parseQuantity, parseThreshold, thresholdBytes, formatKi } from '../../src/util/quantity.ts';
import { Backoff } from '../../src/util/backoff.ts';
import { BoundedBuffer } from '../../src/util/bounded-buffer.ts';
import { MAX_TIMER_DELAY_MS, timerDelayMs } from '../../src/util/timer-delay.ts';

describe('cidr', () => {
  it('round-trips addresses and rejects bad ones', () => {
    expect(formatIpv4(parseIpv4('192.168.56.11') ?? 0)).toBe('192.168.56.11');
    for (const bad of ['256.1.1.1', '1.2.3', '01.2.3.4', 'a.b.c.d', '1.2.3.4.5']) expect(parseIpv4(bad)).toBeUndefined();
  });
  it('detects overlap and containment', () => {
    const cluster = parseCidr('10.244.0.0/16');
    const a = parseCidr('10.244.1.0/24');
    const b = parseCidr('10.244.2.0/24');
    if (!cluster.ok || !a.ok || !b.ok) throw new Error('parse');
    expect(cidrsOverlap(cluster.cidr, a.cidr)).toBe(true);
    expect(cidrsOverlap(a.cidr, b.cidr)).toBe(false);
    expect(cidrContains(a.cidr, parseIpv4('10.244.1.200') ?? 0)).toBe(true);
    expect(formatCidr(a.cidr)).toBe('10.244.1.0/24');
  });
});

describe('duration', () => {
  it('reads Go-style durations', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('10')).toBeUndefined();
    expect(parseDuration('10s junk')).toBeUndefined();
    expect(formatDuration(300_000)).toBe('5m');
  });
});

describe('quantity', () => {
  it('reads binary and decimal suffixes and percentages', () => {
    expect(parseQuantity('100Mi')).toBe(100 * 2 ** 20);
    expect(parseQuantity('1G')).toBe(1e9);
    expect(parseQuantity('12')).toBe(12);
    expect(parseQuantity('1x')).toBeUndefined();
    const pct = parseThreshold('10%');
    expect(pct && thresholdBytes(pct, 1000)).toBe(100);
    expect(parseThreshold('101%')).toBeUndefined();
    expect(formatKi(2048 + 1023)).toBe('2Ki');
  });
});

describe('Backoff', () => {
  it('doubles up to the cap and resets', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 700, jitter: 0 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 700, 700]);
    expect(b.failures).toBe(5);
    b.reset();
    expect(b.next()).toBe(100);
  });
  it('adds bounded jitter', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 10_000, jitter: 0.5, random: () => 1 });
    expect(b.next()).toBe(1500);
  });
});

describe('BoundedBuffer', () => {
  it('keeps the first limit bytes across chunks, counts the rest, and holds no reference to a big chunk', () => {
    const b = new BoundedBuffer(10);
    b.write(Buffer.from('hello '));
    const big = Buffer.alloc(1 << 20, 'x');
    b.write(big);
    b.write(Buffer.from('more'));
    expect(b.toString()).toBe('hello xxxx');
    expect(b.droppedBytes).toBe((1 << 20) - 4 + 4);
    big.fill('y');
    expect(b.toString()).toBe('hello xxxx'); // copied, not a view into the chunk
    const exact = new BoundedBuffer(3);
    exact.write(Buffer.from('abc'));
    exact.write(Buffer.from('d'));
    expect([exact.toString(), exact.droppedBytes]).toEqual(['abc', 1]);
  });
});

describe('timerDelayMs', () => {
  it('clamps to the longest setTimeout delay instead of overflowing, and never goes negative', () => {
    expect(timerDelayMs(1)).toBe(1000);
    expect(timerDelayMs(2_147_483)).toBe(2_147_483_000);
    expect(timerDelayMs(2_147_484)).toBe(MAX_TIMER_DELAY_MS);
    expect(timerDelayMs(2 ** 31)).toBe(MAX_TIMER_DELAY_MS);
    expect(timerDelayMs(-5)).toBe(0);
    expect(timerDelayMs(Number.NaN)).toBe(0);
  });
});

