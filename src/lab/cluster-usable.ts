/**
 * When a lab is usable: every worker registered, Ready, with a podCIDR and no not-ready taint, and the `default`
 * ServiceAccount made (until the ServiceAccount controller has run, the apiserver refuses every
 * pod in `default`). `lab up` returns only then, so a script may apply a pod right after it.
 * Pure: what is still missing, from what the apiserver showed; empty when nothing is.
 */

interface NodeView {
  metadata?: { name?: string };
  spec?: { podCIDR?: string; taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export function whatIsMissing(workers: string[], nodes: NodeView[], defaultServiceAccount: boolean): string[] {
  const missing: string[] = [];
  for (const worker of workers) {
    const node = nodes.find((n) => n.metadata?.name === worker);
    if (!node) {
      missing.push(`${worker}: not registered`);
      continue;
    }
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== 'True') {
      missing.push(`${worker}: Ready=${ready?.status ?? 'Unknown'}${ready?.message ? ` (${ready.message})` : ''}`);
    }
    if (!node.spec?.podCIDR) missing.push(`${worker}: no podCIDR yet (kube-controller-manager assigns it)`);
    // The node lifecycle controller lifts these a moment after Ready; until then nothing is scheduled there.
    const held = (node.spec?.taints ?? []).filter((t) => t.key === 'node.kubernetes.io/not-ready' || t.key === 'node.kubernetes.io/unreachable');
    if (held.length > 0) missing.push(`${worker}: tainted ${held.map((t) => `${t.key}:${t.effect}`).join(', ')}`);
  }
  if (!defaultServiceAccount) missing.push('the default ServiceAccount in namespace default (kube-controller-manager makes it)');
  return missing;
}
