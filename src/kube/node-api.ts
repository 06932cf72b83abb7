import {
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Lease,
  type V1Node,
} from '@kubernetes/client-node';

/**
 * The apiserver calls the node side of the agent makes, in one small interface so that the
 * registration, status and lease logic can be exercised with a fake as well as the real thing.
 * Errors are client-node's; `classifyApiError` sorts them.
 */
export interface NodeApi {
  createNode(node: V1Node): Promise<V1Node>;
  getNode(name: string): Promise<V1Node>;
  /** Strategic merge patch of the Node's metadata/spec (labels, annotations, taints). */
  patchNode(name: string, patch: object): Promise<V1Node>;
  /** Strategic merge patch of nodes/<name>/status; a resourceVersion in the patch makes it conditional. */
  patchNodeStatus(name: string, patch: object): Promise<V1Node>;
  getLease(namespace: string, name: string): Promise<V1Lease>;
  createLease(namespace: string, lease: V1Lease): Promise<V1Lease>;
  /** PUT with the lease's resourceVersion: 409 when someone else wrote it first. */
  replaceLease(namespace: string, lease: V1Lease): Promise<V1Lease>;
}

const fieldManager = 'node-agent';
const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

export class ClientNodeApi implements NodeApi {
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
  }

  createNode(node: V1Node): Promise<V1Node> {
    return this.core.createNode({ body: node, fieldManager });
  }

  getNode(name: string): Promise<V1Node> {
    return this.core.readNode({ name });
  }

  patchNode(name: string, patch: object): Promise<V1Node> {
    return this.core.patchNode({ name, body: patch, fieldManager }, strategicMerge);
  }

  patchNodeStatus(name: string, patch: object): Promise<V1Node> {
    return this.core.patchNodeStatus({ name, body: patch, fieldManager }, strategicMerge);
  }

  getLease(namespace: string, name: string): Promise<V1Lease> {
    return this.coordination.readNamespacedLease({ namespace, name });
  }

  createLease(namespace: string, lease: V1Lease): Promise<V1Lease> {
    return this.coordination.createNamespacedLease({ namespace, body: lease, fieldManager });
  }

  replaceLease(namespace: string, lease: V1Lease): Promise<V1Lease> {
    const name = lease.metadata?.name ?? '';
    return this.coordination.replaceNamespacedLease({ namespace, name, body: lease, fieldManager });
  }
}
