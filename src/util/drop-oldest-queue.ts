/**
 * A FIFO of at most `capacity` items: pushing onto a full one drops the oldest item and hands it
 * back, so a consumer that stalls (an apiserver that does not answer) costs `capacity` items of
 * memory, not everything produced meanwhile. The oldest goes rather than the newest because what
 * just happened is what someone looking later most wants to see.
 */
export class DropOldestQueue<T> {
  private readonly items: T[] = [];
  private droppedTotal = 0;
  readonly capacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, not ${capacity}`);
    this.capacity = capacity;
  }

  /** Appends the item; when that overfills the queue, returns the oldest item, which was dropped. */
  push(item: T): { dropped: T } | undefined {
    this.items.push(item);
    if (this.items.length <= this.capacity) return undefined;
    this.droppedTotal++;
    return { dropped: this.items.shift() as T };
  }

  shift(): T | undefined {
    return this.items.shift();
  }

  get size(): number {
    return this.items.length;
  }

  /** Items dropped since the queue was made. */
  get dropped(): number {
    return this.droppedTotal;
  }
}
