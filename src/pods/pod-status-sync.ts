import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.ts';
import type { PodApi } from '../kube/pod-api.ts';
import { classifyApiError } from '../kube/api-error.ts';
import { canonicalJson, isStaticPod } from './pod-util.ts';
import type { ContainerStateJson, ContainerStatusJson, PodStatusJson } from './pod-status.ts';

/**
 * Writes pod statuses to the apiserver (pods/<name>/status, strategic merge patch), only when a
 * status differs from the last one written, serialised per pod so patches never overtake each
 * other. Conditions merge by type, so conditions owned by others (PodScheduled, readiness gates)
 * stay; container states name every variant with null for the absent ones, so a container that
 * went from waiting to running does not keep its old `waiting`.
 */
export class PodStatusSync {
  private readonly api: PodApi | undefined;
  private readonly log: Logger;
  private readonly sent = new Map<string, string>();
  private readonly latest = new Map<string, PodStatusJson>();
  private readonly chains = new Map<string, Promise<void>>();
  readonly stats = { patches: 0, skipped: 0, failures: 0 };

  constructor(options: { api: PodApi | undefined; log: Logger }) {
    this.api = options.api;
    this.log = options.log;
  }

  get(uid: string): PodStatusJson | undefined {
    return this.latest.get(uid);
  }

  set(pod: V1Pod, status: PodStatusJson, target?: { namespace: string; name: string; uid: string }): void {
    const uid = pod.metadata?.uid ?? '';
    this.latest.set(uid, status);
    const text = canonicalJson(status);
    if (this.sent.get(uid) === text) {
      this.stats.skipped++;
      return;
    }
    const api = this.api;
    // A static pod's status lives on its mirror pod; until the mirror exists there is nowhere to write it.
    if (!api || (isStaticPod(pod) && !target?.uid)) return;
    const where = target ?? { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', uid };
    const previous = this.chains.get(uid) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this.sent.get(uid) === text) return;
      try {
        await api.patchPodStatus(where.namespace, where.name, { metadata: { uid: where.uid }, status: toPatch(status) });
        this.sent.set(uid, text);
        this.stats.patches++;
      } catch (err) {
        this.stats.failures++;
        const e = classifyApiError(err);
        // A pod deleted meanwhile has no status to write; anything else is retried by the next sync.
        if (e.kind !== 'notFound') this.log.warn({ pod: `${where.namespace}/${where.name}`, uid, err: e.message }, 'pod status update failed; retrying at the next sync');
      }
    });
    this.chains.set(uid, next);
  }

  /** Waits for the writes queued so far (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  forget(uid: string): void {
    this.sent.delete(uid);
    this.latest.delete(uid);
    this.chains.delete(uid);
  }
}

function fullState(state: ContainerStateJson): Record<string, unknown> {
  return { waiting: state.waiting ?? null, running: state.running ?? null, terminated: state.terminated ?? null };
}

function toPatch(status: PodStatusJson): object {
  const containers = (list: ContainerStatusJson[] | undefined) => list?.map((c) => ({ ...c, state: fullState(c.state), lastState: fullState(c.lastState) }));
  return {
    ...status,
    reason: status.reason ?? null,
    message: status.message ?? null,
    containerStatuses: containers(status.containerStatuses),
    ...(status.initContainerStatuses ? { initContainerStatuses: containers(status.initContainerStatuses) } : {}),
  };
}
