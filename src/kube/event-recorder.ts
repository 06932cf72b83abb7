import type { CoreV1Event, KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.ts';
import { DropOldestQueue } from '../util/drop-oldest-queue.ts';
import { LruCache } from '../util/lru.ts';
import { classifyApiError } from './api-error.ts';
import { defaultAggregatorOptions, EventAggregator, type AggregatorOptions } from './event-aggregator.ts';
import { eventKey, spamKey, type EventSource } from './event-key.ts';
import { apiEventSink, type EventSink } from './event-sink.ts';
import { defaultSpamFilterOptions, EventSpamFilter, type SpamFilterOptions } from './event-spam-filter.ts';

export interface ObjectRef {
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
  apiVersion?: string;
  /** The part of the object the event is about, e.g. "spec.containers{app}". */
  fieldPath?: string;
}

export type EventType = 'Normal' | 'Warning';

/** Where the agent's Events go: the apiserver, or nowhere in standalone mode and in tests. */
export interface EventRecorder {
  record(ref: ObjectRef, type: EventType, reason: string, message: string): void;
}

export const nullRecorder: EventRecorder = { record: () => {} };

/**
 * Repeats within this window bump the count of one Event instead of making another; after 10
 * quiet minutes a repeat starts a new Event. (client-go's dedup has no window, only its LRU; this
 * window was the recorder's behaviour before and is kept.)
 */
const aggregateWindowMs = 10 * 60_000;

export interface ApiEventRecorderOptions {
  component: string;
  host: string;
  log: Logger;
  /** Where Events are written; the apiserver behind the recorder's KubeConfig unless given. */
  sink?: EventSink;
  now?: () => number;
  /** Events waiting for the apiserver at most (client-go's broadcaster holds 1000 too, but drops the newest). */
  maxPending?: number;
  /** Distinct events remembered to count their repeats (client-go's LRU: 4096). */
  maxRemembered?: number;
  spamFilter?: SpamFilterOptions;
  aggregator?: AggregatorOptions;
}

export interface EventRecorderStats {
  /** Waiting to be posted. */
  pending: number;
  /** Distinct events remembered for counting repeats. */
  remembered: number;
  /** Objects with a spam filter budget. */
  budgets: number;
  posted: number;
  failed: number;
  /** Over an object's budget (spam filter). */
  filtered: number;
  /** The oldest waiting ones, pushed out while the apiserver did not keep up. */
  dropped: number;
}

/** An Event to write: a new one (count 1), or a repeat of one that carries its new count. */
interface PendingWrite {
  namespace: string;
  /** The correlation key, so that a name taken on the apiserver can be replaced where it is remembered. */
  key: string;
  event: CoreV1Event & { metadata: { name: string }; count: number; lastTimestamp: Date };
}

/** What is remembered of an event, to make a repeat of it a new count on the same Event. */
interface SeenEvent {
  name: string;
  /** The name it was given first, when the apiserver had that one already (see post). */
  renamedFrom?: string;
  count: number;
  first: Date;
  lastAt: number;
}

/**
 * core/v1 Events, posted the way client-go's recorder and EventCorrelator do: fire and forget (an
 * Event must never hold up or fail the work it describes); a repeat of the same event on the same
 * object is a new `count` and `lastTimestamp` of the existing Event; each object has a budget of
 * events (spam filter). All the state is bounded: the events waiting for the apiserver, the
 * events remembered for counting and the budgets are each capped, so a stalled apiserver or pods
 * that come and go cost a fixed amount of memory.
 */
export class ApiEventRecorder implements EventRecorder {
  private readonly sink: EventSink;
  private readonly source: EventSource;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly seen: LruCache<string, SeenEvent>;
  private readonly spam: EventSpamFilter;
  private readonly aggregator: EventAggregator;
  private readonly pending: DropOldestQueue<PendingWrite>;
  private draining = false;
  private drained: Promise<void> = Promise.resolve();
  /** Events have been dropped since the queue last ran empty: said once, not per event. */
  private dropping = false;
  private readonly counters = { posted: 0, failed: 0, filtered: 0 };

  constructor(kc: KubeConfig, options: ApiEventRecorderOptions) {
    this.sink = options.sink ?? apiEventSink(kc);
    this.source = { component: options.component, host: options.host };
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.seen = new LruCache(options.maxRemembered ?? 4096);
    this.spam = new EventSpamFilter(options.spamFilter ?? defaultSpamFilterOptions);
    this.aggregator = new EventAggregator(options.aggregator ?? defaultAggregatorOptions);
    this.pending = new DropOldestQueue(options.maxPending ?? 1000);
  }

  record(ref: ObjectRef, type: EventType, reason: string, message: string): void {
    const at = this.now();
    const write = this.correlate(ref, type, reason, message, at);
    // As in client-go, a repeat over the budget is still counted above: the next one let
    // through carries the true count. Budgets are spent when events happen, not when the
    // apiserver gets to them, so spam never takes a place in the queue.
    if (!this.spam.allow(spamKey(this.source, ref), at)) {
      this.counters.filtered++;
      return;
    }
    const overflow = this.pending.push(write);
    if (overflow && !this.dropping) {
      this.dropping = true;
      const dropped = overflow.dropped.event;
      this.log.warn(
        { maxPending: this.pending.capacity, dropped: { object: `${dropped.involvedObject.kind ?? ''}/${dropped.involvedObject.namespace ?? ''}/${dropped.involvedObject.name ?? ''}`, reason: dropped.reason } },
        'events are recorded faster than the apiserver takes them; dropping the oldest waiting ones until it catches up',
      );
    }
    if (!this.draining) {
      this.draining = true;
      this.drained = this.drain();
    }
  }

  /** Resolves once every event recorded so far has been posted (or given up on). */
  flush(): Promise<void> {
    return this.drained;
  }

  stats(): EventRecorderStats {
    return { pending: this.pending.size, remembered: this.seen.size, budgets: this.spam.size, ...this.counters, dropped: this.pending.dropped };
  }

  /**
   * The Event this occurrence is: a repeat (within the window) of one seen before gets that
   * Event's name and the next count, anything else a new Event. Done when the event happens, as
   * client-go's eventObserve, so that what is remembered never waits on the apiserver.
   */
  private correlate(ref: ObjectRef, type: EventType, reason: string, message: string, at: number): PendingWrite {
    const namespace = ref.namespace ?? 'default';
    // Similar events (same object and reason, many messages) become one combined Event.
    const aggregated = this.aggregator.aggregate(this.source, ref, type, reason, message, at);
    message = aggregated.message;
    const key = aggregated.groupKey ?? eventKey(this.source, ref, type, reason, message);
    let seen = this.seen.get(key);
    if (seen && at - seen.lastAt < aggregateWindowMs) {
      seen.count++;
      seen.lastAt = at;
    } else {
      seen = { name: this.newName(ref.name, at), count: 1, first: new Date(at), lastAt: at };
      this.seen.set(key, seen);
    }
    return {
      namespace,
      key,
      event: {
        metadata: { name: seen.name, namespace },
        involvedObject: { kind: ref.kind, name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}), ...(ref.uid ? { uid: ref.uid } : {}), ...(ref.apiVersion ? { apiVersion: ref.apiVersion } : {}), ...(ref.fieldPath ? { fieldPath: ref.fieldPath } : {}) },
        reason,
        message,
        type,
        count: seen.count,
        firstTimestamp: seen.first,
        lastTimestamp: new Date(at),
        source: { ...this.source },
        reportingComponent: this.source.component,
        reportingInstance: this.source.host,
      },
    };
  }

  /** Posts waiting events one at a time, oldest first, so that a repeat comes after its Event. */
  private async drain(): Promise<void> {
    try {
      for (let next = this.pending.shift(); next; next = this.pending.shift()) {
        try {
          await this.post(next);
          this.counters.posted++;
        } catch (err) {
          this.counters.failed++;
          this.log.warn({ reason: next.event.reason, err: classifyApiError(err).message }, 'could not post an event');
        }
      }
    } finally {
      // In the same turn as the last shift found the queue empty: a record() after this starts a
      // new drain, none can be left waiting behind a drain that is ending.
      this.draining = false;
      this.dropping = false;
    }
  }

  private sequence = 0;

  /**
   * client-go names an Event <object>.<UnixNano in hex>. Milliseconds are all we have, so a
   * sequence number and a random part fill the lower digits: events recorded in the same
   * millisecond (a burst of kernel lines) must not share a name, or all but one are refused.
   */
  private newName(objectName: string, at: number): string {
    const low = BigInt((this.sequence++ % 1000) * 1000 + Math.floor(Math.random() * 1000));
    return `${objectName}.${(BigInt(at) * 1_000_000n + low).toString(16)}`;
  }

  private async post(write: PendingWrite): Promise<void> {
    const { namespace } = write;
    // The name as it is now: a create before this one may have had to take another.
    const seen = this.seen.peek(write.key);
    const event = seen?.renamedFrom === write.event.metadata.name ? { ...write.event, metadata: { ...write.event.metadata, name: seen.name } } : write.event;
    if (event.count > 1) {
      try {
        // The message too: a combined Event says the latest of its similar messages.
        await this.sink.update(namespace, event.metadata.name, { count: event.count, lastTimestamp: event.lastTimestamp.toISOString(), ...(event.message ? { message: event.message } : {}) });
        return;
      } catch (err) {
        // Expired (Events live an hour), deleted, or never written (its first post was dropped
        // or failed): written now, with the count so far, as client-go's recordEvent does.
        if (classifyApiError(err).kind !== 'notFound') throw err;
      }
    }
    try {
      await this.sink.create(namespace, event);
    } catch (err) {
      // The name is taken (another recorder for the same object, in the same instant): a new name,
      // remembered for the repeats, and one more try.
      if (classifyApiError(err).kind !== 'alreadyExists') throw err;
      const name = this.newName(event.involvedObject.name ?? 'event', event.lastTimestamp.getTime());
      if (seen?.name === event.metadata.name) {
        seen.renamedFrom = seen.name;
        seen.name = name;
      }
      await this.sink.create(namespace, { ...event, metadata: { ...event.metadata, name } });
    }
  }
}
