import type { V1ConfigMap, V1Container, V1Pod, V1Secret } from '@kubernetes/client-node';
import { parseResource } from './qos.ts';

/** The objects a container's environment refers to, fetched before it is built. */
export interface EnvSources {
  configMaps: ReadonlyMap<string, V1ConfigMap | undefined>;
  secrets: ReadonlyMap<string, V1Secret | undefined>;
  nodeName: string;
  hostIP: string;
  podIP: string;
  /** Node allocatable, the value resourceFieldRef reports for a limit that is not set. */
  nodeAllocatable: { cpu: string; memory: string };
}

export type EnvResult = { ok: true; env: { name: string; value: string }[] } | { ok: false; message: string };

/** Names of the configMaps and secrets a container's env and envFrom mention. */
export function envReferences(container: V1Container): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const e of container.env ?? []) {
    if (e.valueFrom?.configMapKeyRef?.name) configMaps.add(e.valueFrom.configMapKeyRef.name);
    if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
  }
  for (const f of container.envFrom ?? []) {
    if (f.configMapRef?.name) configMaps.add(f.configMapRef.name);
    if (f.secretRef?.name) secrets.add(f.secretRef.name);
  }
  return { configMaps, secrets };
}

/**
 * A container's environment as kubelet's makeEnvironmentVariables builds it: envFrom first (with
 * its prefix; keys that are not valid variable names are skipped), then env in order, later
 * names overriding earlier ones; `$(NAME)` refers to a variable defined before it. A reference to
 * something missing fails the container (CreateContainerConfigError) unless marked optional.
 */
export function resolveEnv(pod: V1Pod, container: V1Container, sources: EnvSources): EnvResult {
  const namespace = pod.metadata?.namespace ?? 'default';
  const vars = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    let data: Record<string, string> | undefined;
    if (from.configMapRef) {
      const cm = sources.configMaps.get(from.configMapRef.name ?? '');
      if (!cm) {
        if (from.configMapRef.optional) continue;
        return { ok: false, message: `configmap "${from.configMapRef.name ?? ''}" not found` };
      }
      data = cm.data ?? {};
    } else if (from.secretRef) {
      const secret = sources.secrets.get(from.secretRef.name ?? '');
      if (!secret) {
        if (from.secretRef.optional) continue;
        return { ok: false, message: `secret "${from.secretRef.name ?? ''}" not found` };
      }
      data = decodeSecret(secret);
    }
    for (const [key, value] of Object.entries(data ?? {})) {
      if (/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(prefix + key)) vars.set(prefix + key, value);
    }
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) {
      vars.set(e.name, expand(e.value ?? '', vars));
      continue;
    }
    const v = e.valueFrom;
    if (v.fieldRef) {
      const value = fieldValue(pod, v.fieldRef.fieldPath, sources);
      if (value === undefined) return { ok: false, message: `unsupported fieldPath: ${v.fieldRef.fieldPath}` };
      vars.set(e.name, value);
    } else if (v.resourceFieldRef) {
      const target = v.resourceFieldRef.containerName ? pod.spec?.containers.find((c) => c.name === v.resourceFieldRef?.containerName) : container;
      if (!target) return { ok: false, message: `resourceFieldRef names unknown container "${v.resourceFieldRef.containerName ?? ''}"` };
      const value = resourceValue(target, v.resourceFieldRef.resource, v.resourceFieldRef.divisor, sources.nodeAllocatable);
      if (value === undefined) return { ok: false, message: `unsupported container resource: ${v.resourceFieldRef.resource}` };
      vars.set(e.name, value);
    } else if (v.configMapKeyRef) {
      const ref = v.configMapKeyRef;
      const cm = sources.configMaps.get(ref.name ?? '');
      const value = cm?.data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        return { ok: false, message: cm ? `couldn't find key ${ref.key} in ConfigMap ${namespace}/${ref.name ?? ''}` : `configmap "${ref.name ?? ''}" not found` };
      }
      vars.set(e.name, value);
    } else if (v.secretKeyRef) {
      const ref = v.secretKeyRef;
      const secret = sources.secrets.get(ref.name ?? '');
      const value = secret ? decodeSecret(secret)[ref.key] : undefined;
      if (value === undefined) {
        if (ref.optional) continue;
        return { ok: false, message: secret ? `couldn't find key ${ref.key} in Secret ${namespace}/${ref.name ?? ''}` : `secret "${ref.name ?? ''}" not found` };
      }
      vars.set(e.name, value);
    }
  }
  return { ok: true, env: [...vars].map(([name, value]) => ({ name, value })) };
}

/** `$(NAME)` becomes NAME's value when defined; `$$(NAME)` stays `$(NAME)`; unknown names are kept. */
export function expand(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([-._a-zA-Z0-9]+)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && vars.has(name) ? (vars.get(name) ?? '') : match;
  });
}

function decodeSecret(secret: V1Secret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] = v;
  return out;
}

/** The downward API's fields, for env (labels and annotations only by key there). */
export function fieldValue(pod: V1Pod, path: string, sources: Pick<EnvSources, 'nodeName' | 'hostIP' | 'podIP'>): string | undefined {
  const m = pod.metadata ?? {};
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed) return (keyed[1] === 'labels' ? m.labels : m.annotations)?.[keyed[2] ?? ''] ?? '';
  switch (path) {
    case 'metadata.name': return m.name ?? '';
    case 'metadata.namespace': return m.namespace ?? 'default';
    case 'metadata.uid': return m.uid ?? '';
    case 'spec.nodeName': return pod.spec?.nodeName ?? sources.nodeName;
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP': return sources.hostIP;
    case 'status.hostIPs': return sources.hostIP;
    case 'status.podIP': return sources.podIP;
    case 'status.podIPs': return sources.podIP;
    default: return undefined;
  }
}

/** limits/requests cpu/memory/ephemeral-storage in divisor units, rounded up as kubelet does. */
export function resourceValue(container: V1Container, resource: string, divisor: string | undefined, allocatable: { cpu: string; memory: string }): string | undefined {
  const [kind, name] = resource.split('.');
  if ((kind !== 'limits' && kind !== 'requests') || !name || !['cpu', 'memory', 'ephemeral-storage'].includes(name)) return undefined;
  const table = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
  let raw = table?.[name];
  if (raw === undefined && kind === 'limits') raw = name === 'cpu' ? allocatable.cpu : name === 'memory' ? allocatable.memory : undefined;
  if (raw === undefined) return '0';
  const value = parseResource(String(raw));
  const unit = divisor !== undefined && divisor !== '' ? parseResource(String(divisor)) : 1;
  return String(Math.ceil(value / unit - 1e-9));
}
