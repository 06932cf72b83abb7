import type { EventType, ObjectRef } from './event-recorder.ts';
import { similarEventKey, type EventSource } from './event-key.ts';
import { LruCache } from '../util/lru.ts';

/**
 * client-go's EventAggregator: events that differ only in their message ("Killed process 4211
 * (a)", "Killed process 4212 (b)", ...) are similar; once one object has had `maxEvents` distinct
 * similar messages within the window, further ones become one Event, "(combined from similar
 * events): <latest message>", whose count grows. A flood of kernel lines or probe failures then
 * costs one Event, not one per line.
 */

export const COMBINED_PREFIX = '(combined from similar events): ';

export interface AggregatorOptions {
  /** Distinct messages per similar group before combining (client-go: 10). */
  maxEvents: number;
  /** A group quiet this long starts over (client-go: 10 minutes). */
  windowMs: number;
  /** Groups remembered (client-go's LRU: 4096). */
  maxGroups: number;
}

export const defaultAggregatorOptions: AggregatorOptions = { maxEvents: 10, windowMs: 10 * 60_000, maxGroups: 4096 };

interface Group {
  messages: Set<string>;
  lastAt: number;
}

/** What the correlator should treat this occurrence as: its own message, or the combined one under the group's key. */
export interface Aggregated {
  message: string;
  /** Set when combined: repeats are counted on this key rather than on the message. */
  groupKey?: string;
}

export class EventAggregator {
  private readonly groups: LruCache<string, Group>;
  private readonly options: AggregatorOptions;

  constructor(options: AggregatorOptions = defaultAggregatorOptions) {
    this.options = options;
    this.groups = new LruCache(options.maxGroups);
  }

  get size(): number {
    return this.groups.size;
  }

  aggregate(source: EventSource, ref: ObjectRef, type: EventType, reason: string, message: string, at: number): Aggregated {
    const key = similarEventKey(source, ref, type, reason);
    let group = this.groups.get(key);
    if (!group || at - group.lastAt > this.options.windowMs) {
      group = { messages: new Set(), lastAt: at };
      this.groups.set(key, group);
    }
    group.lastAt = at;
    if (!group.messages.has(message)) {
      group.messages.add(message);
      // Enough messages are kept to know the group is at the limit, no more.
      if (group.messages.size > this.options.maxEvents) group.messages.delete(group.messages.values().next().value ?? '');
    }
    if (group.messages.size < this.options.maxEvents) return { message };
    return { message: `${COMBINED_PREFIX}${message}`, groupKey: key };
  }
}
