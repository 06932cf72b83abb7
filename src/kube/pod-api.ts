import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ConfigMap,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { classifyApiError } from './api-error.ts';

/**
 * The apiserver calls the pod side of the agent makes, behind one small interface (a fake serves
 * the unit tests, standalone mode has none). `undefined` from a getter means "not found".
 */
export interface PodApi {
  getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  getSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  /** TokenRequest bound to the pod, as the kubelet asks for projected service account tokens. */
  requestToken(namespace: string, serviceAccount: string, options: { audience?: string; expirationSeconds: number; podName: string; podUid: string }): Promise<{ token: string; expiresAt: Date }>;
  /** Strategic merge patch of pods/<name>/status. */
  patchPodStatus(namespace: string, name: string, patch: object): Promise<V1Pod>;
  /** Deletes with grace 0 and a uid precondition: only this incarnation of the pod is removed. */
  deletePodNow(namespace: string, name: string, uid: string): Promise<void>;
  createPod(namespace: string, pod: V1Pod): Promise<V1Pod>;
  getPod(namespace: string, name: string): Promise<V1Pod | undefined>;
}

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const fieldManager = 'node-agent';

async function orUndefined<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (classifyApiError(err).kind === 'notFound') return undefined;
    throw err;
  }
}

export class ClientPodApi implements PodApi {
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    return orUndefined(this.core.readNamespacedConfigMap({ namespace, name }));
  }

  getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return orUndefined(this.core.readNamespacedSecret({ namespace, name }));
  }

  async requestToken(namespace: string, serviceAccount: string, options: { audience?: string; expirationSeconds: number; podName: string; podUid: string }): Promise<{ token: string; expiresAt: Date }> {
    const result = await this.core.createNamespacedServiceAccountToken({
      namespace,
      name: serviceAccount,
      body: {
        spec: {
          audiences: options.audience ? [options.audience] : [],
          expirationSeconds: options.expirationSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: options.podName, uid: options.podUid },
        },
      },
    });
    const expires = result.status?.expirationTimestamp;
    return { token: result.status?.token ?? '', expiresAt: expires ? new Date(expires) : new Date(Date.now() + options.expirationSeconds * 1000) };
  }

  patchPodStatus(namespace: string, name: string, patch: object): Promise<V1Pod> {
    return this.core.patchNamespacedPodStatus({ namespace, name, body: patch, fieldManager }, strategicMerge);
  }

  async deletePodNow(namespace: string, name: string, uid: string): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
    } catch (err) {
      // Already gone, or a new pod of the same name exists (the uid precondition fails): fine.
      const kind = classifyApiError(err).kind;
      if (kind !== 'notFound' && kind !== 'conflict') throw err;
    }
  }

  createPod(namespace: string, pod: V1Pod): Promise<V1Pod> {
    return this.core.createNamespacedPod({ namespace, body: pod, fieldManager });
  }

  getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    return orUndefined(this.core.readNamespacedPod({ namespace, name }));
  }
}
