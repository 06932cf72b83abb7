import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';

/** Where the recorder writes core/v1 Events: the apiserver, or a fake in the unit tests. */
export interface EventSink {
  create(namespace: string, event: CoreV1Event): Promise<void>;
  /** A repeat of an Event already written: its new count, lastTimestamp and message (merge patch). */
  update(namespace: string, name: string, repeat: { count: number; lastTimestamp: string; message?: string }): Promise<void>;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function apiEventSink(kc: KubeConfig): EventSink {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async create(namespace, event) {
      await core.createNamespacedEvent({ namespace, body: event });
    },
    async update(namespace, name, repeat) {
      await core.patchNamespacedEvent({ name, namespace, body: repeat }, mergePatch);
    },
  };
}
