import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../src/util/semaphore.ts';

describe('Semaphore', () => {
  it('never runs more than its limit at once, and runs every task in arrival order', async () => {
    const sem = new Semaphore(3);
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const tasks = Array.from({ length: 12 }, (_, i) =>
      sem.run(async () => {
        started.push(i);
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5 + (i % 3)));
        active--;
        return i * 2;
      }),
    );
    expect(sem.inFlight).toBe(3);
    expect(sem.queued).toBe(9);
    expect(await Promise.all(tasks)).toEqual(Array.from({ length: 12 }, (_, i) => i * 2));
    expect(peak).toBe(3);
    expect(started).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(sem.inFlight).toBe(0);
  });

  it('frees the slot when a task fails', async () => {
    const sem = new Semaphore(1);
    await expect(sem.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await sem.run(async () => 'next')).toBe('next');
    expect(sem.inFlight).toBe(0);
  });

  it('refuses a limit below one', () => {
    expect(() => new Semaphore(0)).toThrow(/positive integer/);
  });
});
