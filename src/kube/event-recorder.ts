import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.ts';
import { classifyApiError } from './api-error.ts';

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

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Repeats within this window bump the count of one Event instead of making another (client-go's default). */
const aggregateWindowMs = 10 * 60_000;

/**
 * core/v1 Events, posted the way client-go's recorder does: fire and forget (an Event must never
 * hold up or fail the work it describes), and a repeat of the same reason and message on the
 * same object updates `count` and `lastTimestamp` of the existing Event.
 */
export class ApiEventRecorder implements EventRecorder {
  private readonly core: CoreV1Api;
  private readonly component: string;
  private readonly host: string;
  private readonly log: Logger;
  private readonly seen = new Map<string, { name: string; namespace: string; count: number; first: Date; at: number }>();
  private queue: Promise<void> = Promise.resolve();

  constructor(kc: KubeConfig, options: { component: string; host: string; log: Logger }) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.component = options.component;
    this.host = options.host;
    this.log = options.log;
  }

  record(ref: ObjectRef, type: EventType, reason: string, message: string): void {
    // Serialised so that a repeat finds the Event its predecessor created.
    this.queue = this.queue.then(() => this.post(ref, type, reason, message)).catch((err: unknown) => {
      this.log.warn({ reason, err: classifyApiError(err).message }, 'could not post an event');
    });
  }

  /** Resolves once every event recorded so far has been posted (or given up on). */
  flush(): Promise<void> {
    return this.queue;
  }

  private async post(ref: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = ref.namespace ?? 'default';
    const key = [ref.kind, namespace, ref.name, ref.uid, ref.fieldPath, type, reason, message].join('\u0000');
    const now = new Date();
    const previous = this.seen.get(key);
    if (previous && now.getTime() - previous.at < aggregateWindowMs) {
      previous.count++;
      previous.at = now.getTime();
      try {
        await this.core.patchNamespacedEvent({ name: previous.name, namespace: previous.namespace, body: { count: previous.count, lastTimestamp: now.toISOString() } }, mergePatch);
        return;
      } catch (err) {
        if (classifyApiError(err).kind !== 'notFound') throw err;
      }
    }
    const name = `${ref.name}.${(now.getTime() * 1000 + Math.floor(Math.random() * 1000)).toString(16)}`;
    const event: CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: { kind: ref.kind, name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}), ...(ref.uid ? { uid: ref.uid } : {}), ...(ref.apiVersion ? { apiVersion: ref.apiVersion } : {}), ...(ref.fieldPath ? { fieldPath: ref.fieldPath } : {}) },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.component, host: this.host },
      reportingComponent: this.component,
      reportingInstance: this.host,
    };
    await this.core.createNamespacedEvent({ namespace, body: event });
    this.seen.set(key, { name, namespace, count: 1, first: now, at: now.getTime() });
  }
}
