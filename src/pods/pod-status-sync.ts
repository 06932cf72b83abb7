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
/** What is known of one pod's status: the latest generated, and the last one written. */
interface PodRecord {
  latest: PodStatusJson;
  /** canonicalJson of the status last written, undefined until one is. */
  sent: string | undefined;
}

export class PodStatusSync {
  private readonly api: PodApi | undefined;
  private readonly log: Logger;
  private readonly pods = new Map<string, PodRecord>();
  /** Each pod's queued writes; an entry lives only while a write is queued or in flight. */
  private readonly chains = new Map<string, Promise<void>>();
  readonly stats = { patches: 0, skipped: 0, failures: 0 };

  constructor(options: { api: PodApi | undefined; log: Logger }) {
    this.api = options.api;
    this.log = options.log;
  }

  get(uid: string): PodStatusJson | undefined {
    return this.pods.get(uid)?.latest;
  }

  set(pod: V1Pod, status: PodStatusJson, target?: { namespace: string; name: string; uid: string }): void {
    const uid = pod.metadata?.uid ?? '';
    let record = this.pods.get(uid);
    if (record) record.latest = status;
    else {
      record = { latest: status, sent: undefined };
      this.pods.set(uid, record);
    }
    const text = canonicalJson(status);
    if (record.sent === text) {
      this.stats.skipped++;
      return;
    }
    const api = this.api;
    // A static pod's status lives on its mirror pod; until the mirror exists there is nowhere to write it.
    if (!api || (isStaticPod(pod) && !target?.uid)) return;
    const where = target ?? { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', uid };
    // The write holds on to this record, not to the map: a pod forgotten meanwhile is not brought
    // back by a write that ends after it.
    const written = record;
    const previous = this.chains.get(uid) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (written.sent === text) return;
      try {
        await api.patchPodStatus(where.namespace, where.name, { metadata: { uid: where.uid }, status: toPatch(status) });
        written.sent = text;
        this.stats.patches++;
      } catch (err) {
        this.stats.failures++;
        const e = classifyApiError(err);
        // A pod deleted meanwhile has no status to write; anything else is retried by the next sync.
        if (e.kind !== 'notFound') this.log.warn({ pod: `${where.namespace}/${where.name}`, uid, err: e.message }, 'pod status update failed; retrying at the next sync');
      }
    });
    this.chains.set(uid, next);
    // `next` never rejects (the write catches everything), so this cannot leave a rejection unheard.
    void next.then(() => {
      if (this.chains.get(uid) === next) this.chains.delete(uid);
    });
  }

  /** Waits for the writes queued so far (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  /**
   * The pod is gone: its statuses are dropped. A write still in flight finishes (and is still
   * serialised before any write for the same uid, should it come back) and then goes too.
   */
  forget(uid: string): void {
    this.pods.delete(uid);
  }

  /** How many pods have a status kept, and how many have writes queued (tests, statusz). */
  retained(): { statuses: number; writing: number } {
    return { statuses: this.pods.size, writing: this.chains.size };
  }
}

function fullState(state: ContainerStateJson): Record<string, unknown> {
  return { waiting: state.waiting ?? null, running: state.running ?? null, terminated: state.terminated ?? null };
}

/**
 * podIPs and hostIPs are lists merged by `ip` in a strategic merge patch: sent as they are, the
 * new sandbox's IP would be added beside the old one, and the apiserver refuses a pod with two
 * IPs of one family (then no status of the pod is written again). The `$patch: replace` element
 * makes the list the one given: the current sandbox's IP only, as the kubelet reports.
 */
function replacingList<T extends object>(list: T[]): (T | { $patch: 'replace' })[] {
  return [{ $patch: 'replace' }, ...list];
}

export function toPatch(status: PodStatusJson): object {
  const containers = (list: ContainerStatusJson[] | undefined) => list?.map((c) => ({ ...c, state: fullState(c.state), lastState: fullState(c.lastState) }));
  return {
    ...status,
    hostIPs: replacingList(status.hostIPs),
    ...(status.podIPs ? { podIPs: replacingList(status.podIPs) } : {}),
    reason: status.reason ?? null,
    message: status.message ?? null,
    containerStatuses: containers(status.containerStatuses),
    ...(status.initContainerStatuses ? { initContainerStatuses: containers(status.initContainerStatuses) } : {}),
  };
}
