import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/util/lru.ts';

describe('LRU cache', () => {
  it('at capacity 4096, a new entry evicts the least recently used one', () => {
    const lru = new LruCache<string, number>(4096);
    for (let i = 0; i < 4096; i++) lru.set(`k${i}`, i);
    expect(lru.size).toBe(4096);
    // k0 is used again, so k1 is now the one used longest ago.
    expect(lru.get('k0')).toBe(0);
    expect(lru.set('new', -1)).toEqual({ evicted: 'k1' });
    expect(lru.size).toBe(4096);
    expect(lru.has('k1')).toBe(false);
    expect(lru.get('k0')).toBe(0);
    expect(lru.get('new')).toBe(-1);
    // Thousands more: never more than the capacity, and the newest are the ones kept.
    for (let i = 0; i < 10_000; i++) lru.set(`more${i}`, i);
    expect(lru.size).toBe(4096);
    expect(lru.has('more9999')).toBe(true);
    expect(lru.has(`more${10_000 - 4096}`)).toBe(true);
    expect(lru.has(`more${10_000 - 4097}`)).toBe(false);
  });

  it('replacing an entry does not grow the cache and makes it the most recent', () => {
    const lru = new LruCache<string, string>(2);
    lru.set('a', '1');
    lru.set('b', '2');
    expect(lru.set('a', '3')).toBeUndefined();
    expect(lru.size).toBe(2);
    expect(lru.set('c', '4')).toEqual({ evicted: 'b' });
    expect(lru.peek('a')).toBe('3');
  });

  it('peek does not count as a use', () => {
    const lru = new LruCache<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.peek('a')).toBe(1);
    expect(lru.set('c', 3)).toEqual({ evicted: 'a' });
  });

  it('delete frees the slot; a capacity below 1 is refused', () => {
    const lru = new LruCache<string, number>(1);
    lru.set('a', 1);
    expect(lru.delete('a')).toBe(true);
    expect(lru.size).toBe(0);
    expect(() => new LruCache(0)).toThrow(RangeError);
  });
});
