import type { CoreV1Event } from '@kubernetes/client-node';
import type { EventSink } from '../../src/kube/event-sink.ts';

/** An apiserver's Event endpoints that can be made to stall: calls wait until `release()`. */
export class FakeEventApi implements EventSink {
  readonly created: CoreV1Event[] = [];
  readonly updates: { namespace: string; name: string; count: number; lastTimestamp: string }[] = [];
  private gate: Promise<void> | undefined;
  private open: () => void = () => undefined;
  /** Names whose update answers 404 (the Event expired). */
  readonly expired = new Set<string>();

  stall(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }
  release(): void {
    this.open();
    this.gate = undefined;
  }
  async create(_namespace: string, event: CoreV1Event): Promise<void> {
    await this.gate;
    // As the apiserver: a name is one Event's.
    if (!this.expired.has(event.metadata?.name ?? '') && this.created.some((e) => e.metadata?.name === event.metadata?.name)) {
      throw Object.assign(new Error(`events "${event.metadata?.name}" already exists`), { code: 409, body: { kind: 'Status', reason: 'AlreadyExists' } });
    }
    this.created.push(event);
  }
  async update(namespace: string, name: string, repeat: { count: number; lastTimestamp: string }): Promise<void> {
    await this.gate;
    if (this.expired.has(name)) throw Object.assign(new Error(`events "${name}" not found`), { code: 404 });
    this.updates.push({ namespace, name, ...repeat });
  }
}
