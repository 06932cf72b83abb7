import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.ts';
import { Reflector } from '../kube/reflector.ts';
import { isMirrorPod, isStaticPod } from './pod-util.ts';
import type { PodManager } from './pod-manager.ts';

/**
 * The apiserver as a pod source: pods bound to this node (fieldSelector spec.nodeName), listed and
 * watched, relisted on 410 Gone. Mirror pods are the apiserver's copies of this node's static pods,
 * not pods to run.
 */
export function apiPodSource(options: { kc: KubeConfig; nodeName: string; manager: PodManager; mirrors: Map<string, V1Pod>; log: Logger }): Reflector<V1Pod> {
  const { kc, nodeName, manager, mirrors, log } = options;
  const key = (pod: V1Pod): string => `${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? ''}`;
  const core = kc.makeApiClient(CoreV1Api);
  const fieldSelector = `spec.nodeName=${nodeName}`;
  return new Reflector<V1Pod>({
    kc,
    path: '/api/v1/pods',
    fieldSelector,
    list: async () => {
      const list = await core.listPodForAllNamespaces({ fieldSelector });
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
    },
    handlers: {
      onSync: (items) => {
        // Mirror pods are how this node's static pods appear in the apiserver: remembered, not run.
        mirrors.clear();
        for (const p of items.filter(isMirrorPod)) mirrors.set(key(p), p);
        manager.setPods('api', items.filter((p) => !isMirrorPod(p)), (p) => !isStaticPod(p));
      },
      onEvent: (type, pod) => {
        if (isMirrorPod(pod)) {
          if (type === 'DELETED') mirrors.delete(key(pod));
          else mirrors.set(key(pod), pod);
          return;
        }
        if (type === 'DELETED') manager.remove(pod.metadata?.uid ?? '');
        else manager.upsert(pod);
      },
    },
    log,
  });
}
