import { createHash } from 'node:crypto';
import type { V1Container, V1Pod } from '@kubernetes/client-node';

/** "namespace/name", the key operators read in logs. */
export function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? ''}`;
}

export function podUid(pod: V1Pod): string {
  return pod.metadata?.uid ?? '';
}

/** kubelet's format.Pod, "name_namespace(uid)", as its messages and events name a pod. */
export function formatPod(pod: V1Pod): string {
  return `${pod.metadata?.name ?? ''}_${pod.metadata?.namespace ?? ''}(${podUid(pod)})`;
}

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export function restartPolicy(pod: V1Pod): RestartPolicy {
  const p = pod.spec?.restartPolicy;
  return p === 'OnFailure' || p === 'Never' ? p : 'Always';
}

/** Kubernetes' default: Always for the :latest tag or no tag, IfNotPresent otherwise (digests too). */
export function imagePullPolicy(container: V1Container): 'Always' | 'IfNotPresent' | 'Never' {
  const set = container.imagePullPolicy;
  if (set === 'Always' || set === 'IfNotPresent' || set === 'Never') return set;
  const image = container.image ?? '';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/**
 * A hash of what a running container was made from. A change (the pod was edited: image,
 * command, env…) means the container must be replaced, which is how kubelet notices an updated
 * spec. Probes and resources that can change in place are left out.
 */
export function containerHash(container: V1Container): string {
  const { livenessProbe: _l, readinessProbe: _r, startupProbe: _s, resources: _res, ...rest } = container;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 16);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Grace period for a deletion: the deletion's, else the spec's, else 30 s (the API default). */
export function gracePeriodSeconds(pod: V1Pod): number {
  return pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
}

export function isStaticPod(pod: V1Pod): boolean {
  const source = pod.metadata?.annotations?.['kubernetes.io/config.source'];
  return source !== undefined && source !== 'api';
}

export function isMirrorPod(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined;
}
