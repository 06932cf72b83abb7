import type { V1Pod } from '@kubernetes/client-node';

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
    for (const s of v.projected?.sources ?? []) {
      if (s.configMap?.name) configMaps.add(s.configMap.name);
      if (s.secret?.name) secrets.add(s.secret.name);
    }
  }
  return { configMaps, secrets };
}
