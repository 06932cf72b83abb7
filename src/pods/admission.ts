import type { V1Container, V1NodeSelectorRequirement, V1NodeSelectorTerm, V1Pod, V1Taint } from '@kubernetes/client-node';
import { parseQuantity } from '../util/quantity.ts';

/** A quantity as a number; one that does not parse counts as 0 (the apiserver has validated the pod's). */
const quantity = (text: string): number => parseQuantity(text) ?? 0;

/**
 * The kubelet's admission of a pod that arrives bound to this node (lifecycle's predicate admit
 * handler): a pod with spec.nodeName set never met the scheduler, so the node checks what the
 * scheduler would have. A refused pod goes to phase Failed with the reason, never runs. Pure.
 */

export interface AdmissionNode {
  /** Node allocatable: cpu, memory, pods (quantities as the Node reports them). */
  allocatable: Record<string, string>;
  labels: Record<string, string>;
  taints: V1Taint[];
}

export type Admission = { admit: true } | { admit: false; reason: string; message: string };

/** kubelet's safe sysctls: namespaced, and unable to affect other pods or the node. */
const safeSysctls = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
]);

function request(c: V1Container, resource: string): number {
  const value = c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource];
  return value === undefined ? 0 : quantity(String(value));
}

/**
 * The pod's effective request for a resource, as the scheduler counts it: the larger of the app
 * containers' sum and any one init container (they run one at a time), plus the pod overhead.
 * A request left unset defaults to the limit, as the apiserver defaults it.
 */
export function podRequest(pod: V1Pod, resource: string): number {
  const spec = pod.spec;
  const sum = (spec?.containers ?? []).reduce((acc, c) => acc + request(c, resource), 0);
  const init = Math.max(0, ...(spec?.initContainers ?? []).map((c) => request(c, resource)));
  const overhead = spec?.overhead?.[resource];
  return Math.max(sum, init) + (overhead === undefined ? 0 : quantity(String(overhead)));
}

function matchesRequirement(labels: Record<string, string>, r: V1NodeSelectorRequirement): boolean {
  const value = labels[r.key];
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const a = Number(value);
      const b = Number(values[0]);
      if (value === undefined || !Number.isInteger(a) || !Number.isInteger(b)) return false;
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** A term matches when all its label expressions do; matchFields may name metadata.name only. */
function matchesTerm(node: AdmissionNode, nodeName: string, term: V1NodeSelectorTerm): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  return exprs.every((r) => matchesRequirement(node.labels, r)) && fields.every((r) => r.key === 'metadata.name' && matchesRequirement({ 'metadata.name': nodeName }, r));
}

export function matchesNodeAffinity(pod: V1Pod, node: AdmissionNode, nodeName: string): boolean {
  for (const [key, value] of Object.entries(pod.spec?.nodeSelector ?? {})) if (node.labels[key] !== value) return false;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms === undefined) return true;
  // The terms are ORed.
  return terms.some((t) => matchesTerm(node, nodeName, t));
}

function tolerates(pod: V1Pod, taint: V1Taint): boolean {
  return (pod.spec?.tolerations ?? []).some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

/**
 * The sysctls the pod asks for that this node refuses: unsafe ones not matched by
 * allowedUnsafeSysctls (a name or a "prefix*"), and net.* with hostNetwork or IPC ones with
 * hostIPC (they would change the node's own namespace).
 */
export function forbiddenSysctl(pod: V1Pod, allowedUnsafe: readonly string[]): string | undefined {
  for (const { name } of pod.spec?.securityContext?.sysctls ?? []) {
    if (pod.spec?.hostNetwork && name.startsWith('net.')) return `forbidden sysctl: "${name}" not allowed with host net enabled`;
    if (pod.spec?.hostIPC && (name.startsWith('kernel.shm') || name.startsWith('kernel.msg') || name.startsWith('kernel.sem') || name.startsWith('fs.mqueue.'))) return `forbidden sysctl: "${name}" not allowed with host ipc enabled`;
    const allowed = safeSysctls.has(name) || allowedUnsafe.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : p === name));
    if (!allowed) return `forbidden sysctl: "${name}" not allowlisted`;
  }
  return undefined;
}

const describeTaint = (t: V1Taint) => `{${t.key}: ${t.value ?? ''}}`;

/**
 * Whether `pod` may run here beside `active` (the pods admitted before it that still run), in
 * kubelet's order: sysctls, then the general predicates (node affinity, taints with NoExecute,
 * resources), with kubelet's reasons and messages.
 */
export function admitPod(pod: V1Pod, active: readonly V1Pod[], node: AdmissionNode, options: { nodeName: string; maxPods: number; allowedUnsafeSysctls?: readonly string[] }): Admission {
  const sysctl = forbiddenSysctl(pod, options.allowedUnsafeSysctls ?? []);
  if (sysctl) return { admit: false, reason: 'SysctlForbidden', message: sysctl };
  if (!matchesNodeAffinity(pod, node, options.nodeName)) return { admit: false, reason: 'NodeAffinity', message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector" };
  const untolerated = node.taints.find((t) => t.effect === 'NoExecute' && !tolerates(pod, t));
  if (untolerated) return { admit: false, reason: 'Taint', message: `Predicate TaintToleration failed: node(s) had untolerated taint ${describeTaint(untolerated)}` };

  const allocatablePods = node.allocatable['pods'] !== undefined ? Math.min(options.maxPods, quantity(node.allocatable['pods'])) : options.maxPods;
  if (active.length + 1 > allocatablePods) {
    return { admit: false, reason: 'OutOfpods', message: `Node didn't have enough resource: pods, requested: 1, used: ${active.length}, capacity: ${allocatablePods}` };
  }
  for (const [resource, unit, scale] of [['cpu', 'cpu', 1000], ['memory', 'memory', 1]] as const) {
    const capacity = node.allocatable[resource];
    if (capacity === undefined) continue;
    const wanted = podRequest(pod, resource);
    if (wanted === 0) continue;
    const used = active.reduce((acc, p) => acc + podRequest(p, resource), 0);
    const total = quantity(capacity);
    if (used + wanted > total) {
      const r = (n: number) => Math.round(n * scale);
      return { admit: false, reason: `OutOf${unit}`, message: `Node didn't have enough resource: ${resource}, requested: ${r(wanted)}, used: ${r(used)}, capacity: ${r(total)}` };
    }
  }
  return { admit: true };
}
