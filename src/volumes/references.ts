import type { V1Pod } from '@kubernetes/client-node';
import { projectedReferences } from './projections.ts';

/**
 * The ConfigMaps and Secrets whose content a pod's volumes show (configMap, secret and projected
 * volumes), by name in the pod's namespace: when one of them changes, that pod's volumes must be
 * written again. Pure. (Environment variables read at container start are not here: a running
 * container keeps the values it started with, as with kubelet.)
 */
export function volumeObjectReferences(pod: V1Pod): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const v of pod.spec?.volumes ?? []) {
    if (v.configMap?.name) configMaps.add(v.configMap.name);
    if (v.secret?.secretName) secrets.add(v.secret.secretName);
    if (v.projected) {
      const refs = projectedReferences(pod, v.projected);
      for (const name of refs.configMaps) if (name) configMaps.add(name);
      for (const name of refs.secrets) if (name) secrets.add(name);
    }
  }
  return { configMaps, secrets };
}
