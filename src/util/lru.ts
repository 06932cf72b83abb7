/**
 * A map that holds at most `capacity` entries and, when a new one would go over, forgets the one
 * used longest ago: memory stays bounded however many distinct keys come by (client-go keeps its
 * event caches in golang-lru the same way). A Map iterates in insertion order, so re-inserting an
 * entry on every use keeps the least recently used one first.
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, V>();
  readonly capacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`LRU capacity must be a positive integer, not ${capacity}`);
    this.capacity = capacity;
  }

  /** The entry, now the most recently used one; undefined when absent. */
  get(key: K): V | undefined {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key) as V;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** The entry without counting as a use. */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** Adds or replaces the entry as the most recently used; returns the key evicted to make room, if any. */
  set(key: K, value: V): { evicted: K } | undefined {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size <= this.capacity) return undefined;
    const oldest = this.entries.keys().next();
    if (oldest.done) return undefined;
    this.entries.delete(oldest.value);
    return { evicted: oldest.value };
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
