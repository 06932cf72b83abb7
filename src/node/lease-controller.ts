import { V1MicroTime, type V1Lease, type V1OwnerReference } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.ts';
import { classifyApiError } from '../kube/api-error.ts';
import { apiErrorCode, explainApiError } from '../kube/explain.ts';
import type { NodeApi } from '../kube/node-api.ts';
import { Backoff } from '../util/backoff.ts';
import { sleep } from '../util/sleep.ts';

export const nodeLeaseNamespace = 'kube-node-lease';

export interface LeaseControllerDeps {
  api: NodeApi;
  nodeName: string;
  leaseDurationSeconds: number;
  /** The Node's uid, once known, for the owner reference (so the Lease goes when the Node goes). */
  nodeUid: () => string | undefined;
  server: string;
  log: Logger;
  now?: () => Date;
}

/**
 * The node heartbeat: a Lease in kube-node-lease renewed every quarter of its duration (10 s for
 * the default 40 s), as the kubelet's node lease controller does. The node lifecycle controller
 * reads its renewTime to decide whether the node is alive. Failed renewals retry quickly
 * (200 ms doubling to 7 s) so a blip does not cost a whole interval.
 */
export class NodeLeaseController {
  private readonly deps: LeaseControllerDeps;
  private readonly now: () => Date;
  private lease: V1Lease | undefined;
  readonly stats = { renewals: 0, conflicts: 0, failures: 0 };

  constructor(deps: LeaseControllerDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  get renewIntervalMs(): number {
    return this.deps.leaseDurationSeconds * 250;
  }

  /** Creates or renews the Lease once. */
  async renewOnce(): Promise<V1Lease> {
    const { api, nodeName } = this.deps;
    if (!this.lease) {
      try {
        this.lease = await api.getLease(nodeLeaseNamespace, nodeName);
      } catch (err) {
        if (classifyApiError(err).kind !== 'notFound') throw err;
        this.lease = await api.createLease(nodeLeaseNamespace, this.desired(undefined));
        this.stats.renewals++;
        return this.lease;
      }
    }
    try {
      this.lease = await api.replaceLease(nodeLeaseNamespace, this.desired(this.lease));
      this.stats.renewals++;
      return this.lease;
    } catch (err) {
      // Someone else wrote it, or it was deleted: forget our copy and start from a fresh read.
      const kind = classifyApiError(err).kind;
      if (kind === 'conflict') this.stats.conflicts++;
      if (kind === 'conflict' || kind === 'notFound') this.lease = undefined;
      throw err;
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.deps;
    const backoff = new Backoff({ initialMs: 200, maxMs: 7000 });
    let lastComplaint = '';
    while (!signal.aborted) {
      let wait = this.renewIntervalMs;
      try {
        await this.renewOnce();
        if (lastComplaint) log.info('node lease renewals work again');
        lastComplaint = '';
        backoff.reset();
      } catch (err) {
        this.stats.failures++;
        const kind = classifyApiError(err).kind;
        const message = explainApiError(err, `renew lease ${nodeLeaseNamespace}/${this.deps.nodeName}`, { server: this.deps.server, nodeName: this.deps.nodeName });
        if (kind === 'conflict') log.debug(message);
        else if (message !== lastComplaint) log.error({ code: apiErrorCode(err) }, message);
        lastComplaint = kind === 'conflict' ? lastComplaint : message;
        wait = kind === 'conflict' ? 0 : backoff.next();
      }
      await sleep(wait, signal);
    }
  }

  private desired(current: V1Lease | undefined): V1Lease {
    const { nodeName, leaseDurationSeconds, nodeUid } = this.deps;
    const uid = nodeUid();
    const owner: V1OwnerReference[] | undefined = uid ? [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid }] : current?.metadata?.ownerReferences;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(current?.metadata ?? {}),
        name: nodeName,
        namespace: nodeLeaseNamespace,
        ...(owner ? { ownerReferences: owner } : {}),
      },
      spec: {
        ...(current?.spec ?? {}),
        holderIdentity: nodeName,
        leaseDurationSeconds,
        renewTime: new V1MicroTime(this.now().getTime()),
      },
    };
  }
}
