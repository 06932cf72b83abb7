import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.ts';
import type { PodApi } from './pod-api.ts';
import { WatchedObjects } from './watched-objects.ts';

/**
 * The pod API with ConfigMaps and Secrets read through watches (WatchedObjects) rather than a
 * GET each time; everything else goes straight to the wrapped API.
 */
export class CachingPodApi implements PodApi {
  private readonly inner: PodApi;
  readonly configMaps: WatchedObjects<V1ConfigMap>;
  readonly secrets: WatchedObjects<V1Secret>;

  constructor(options: { kc: KubeConfig; inner: PodApi; onChange: (kind: 'configMap' | 'secret', namespace: string, name: string) => void; log: Logger }) {
    this.inner = options.inner;
    const core = options.kc.makeApiClient(CoreV1Api);
    const listResult = <T>(list: { items: T[]; metadata?: { resourceVersion?: string } }) => ({ items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' });
    this.configMaps = new WatchedObjects<V1ConfigMap>({
      kc: options.kc,
      resource: 'configmaps',
      list: async (namespace, fieldSelector) => listResult(await core.listNamespacedConfigMap({ namespace, fieldSelector })),
      get: (namespace, name) => this.inner.getConfigMap(namespace, name),
      onChange: (namespace, name) => options.onChange('configMap', namespace, name),
      log: options.log,
    });
    this.secrets = new WatchedObjects<V1Secret>({
      kc: options.kc,
      resource: 'secrets',
      list: async (namespace, fieldSelector) => listResult(await core.listNamespacedSecret({ namespace, fieldSelector })),
      get: (namespace, name) => this.inner.getSecret(namespace, name),
      onChange: (namespace, name) => options.onChange('secret', namespace, name),
      log: options.log,
    });
  }

  getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    return this.configMaps.get(namespace, name);
  }

  getSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return this.secrets.get(namespace, name);
  }

  requestToken(...args: Parameters<PodApi['requestToken']>): ReturnType<PodApi['requestToken']> {
    return this.inner.requestToken(...args);
  }

  patchPodStatus(namespace: string, name: string, patch: object): Promise<V1Pod> {
    return this.inner.patchPodStatus(namespace, name, patch);
  }

  deletePodNow(namespace: string, name: string, uid: string): Promise<void> {
    return this.inner.deletePodNow(namespace, name, uid);
  }

  createPod(namespace: string, pod: V1Pod): Promise<V1Pod> {
    return this.inner.createPod(namespace, pod);
  }

  getPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    return this.inner.getPod(namespace, name);
  }

  close(): void {
    this.configMaps.close();
    this.secrets.close();
  }
}
