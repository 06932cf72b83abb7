/**
 * A binary min-heap of things due at a time, earliest first; equal times come out in the order
 * they went in, so a schedule is deterministic. Items carry their own position so one can be
 * taken out (a removed container) in O(log n) without a search. One heap and one timer armed for
 * its top serve every probe of the node, instead of a timer per probe.
 */
export interface DueItem {
  dueAt: number;
  /** Insertion order among equal times; set by the heap. */
  seq: number;
  /** Position in the heap, -1 when not in it; kept by the heap. */
  heapIndex: number;
}

export class DueHeap<T extends DueItem> {
  private readonly items: T[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  has(item: T): boolean {
    return item.heapIndex >= 0 && this.items[item.heapIndex] === item;
  }

  push(item: T): void {
    if (this.has(item)) this.remove(item);
    item.seq = this.nextSeq++;
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top) this.remove(top);
    return top;
  }

  remove(item: T): void {
    if (!this.has(item)) return;
    const i = item.heapIndex;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last === item) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.down(i);
    this.up(i);
  }

  private before(a: T, b: T): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
  }

  private up(i: number): void {
    let child = i;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (!this.before(this.items[child]!, this.items[parent]!)) break;
      this.swap(child, parent);
      child = parent;
    }
  }

  private down(i: number): void {
    let parent = i;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let first = parent;
      if (left < this.items.length && this.before(this.items[left]!, this.items[first]!)) first = left;
      if (right < this.items.length && this.before(this.items[right]!, this.items[first]!)) first = right;
      if (first === parent) return;
      this.swap(parent, first);
      parent = first;
    }
  }

  private swap(a: number, b: number): void {
    const x = this.items[a]!;
    const y = this.items[b]!;
    this.items[a] = y;
    this.items[b] = x;
    x.heapIndex = b;
    y.heapIndex = a;
  }
}
