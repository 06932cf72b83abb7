import { createHash } from 'node:crypto';
import type { EventType, ObjectRef } from './event-recorder.ts';

/** Who posts the events: Event.source. */
export interface EventSource {
  component: string;
  host: string;
}

/**
 * Keys are a sha256 of their parts, 43 characters whatever the parts: a message can be kilobytes
 * (a pull error quoting a registry's answer) and thousands of keys are kept. The parts are
 * NUL-separated so that no two different lists of parts join to the same text.
 */
function digest(parts: (string | undefined)[]): string {
  return createHash('sha256').update(parts.map((p) => p ?? '').join('\u0000')).digest('base64url');
}

/** Which events are "the same" and become one Event with a count: client-go's getEventKey. */
export function eventKey(source: EventSource, ref: ObjectRef, type: EventType, reason: string, message: string): string {
  return digest([source.component, source.host, ref.kind, ref.namespace, ref.name, ref.fieldPath, ref.uid, ref.apiVersion, type, reason, message]);
}

/** Which events are similar, for the aggregator: client-go's getEventKey without the message. */
export function similarEventKey(source: EventSource, ref: ObjectRef, type: EventType, reason: string): string {
  return digest([source.component, source.host, ref.kind, ref.namespace, ref.name, ref.fieldPath, ref.uid, ref.apiVersion, type, reason]);
}

/** Whose budget an event spends in the spam filter: client-go's getSpamKey (source and involved object). */
export function spamKey(source: EventSource, ref: ObjectRef): string {
  return digest([source.component, source.host, ref.kind, ref.namespace, ref.name, ref.uid, ref.apiVersion]);
}
