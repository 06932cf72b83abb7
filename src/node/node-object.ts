import type { V1Node } from '@kubernetes/client-node';
import type { AgentConfig } from '../config/types.ts';

/** The labels the kubelet always sets on its Node, then the configured ones. */
export function nodeLabels(config: AgentConfig, architecture: string): Record<string, string> {
  return {
    'kubernetes.io/hostname': config.hostname,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': architecture,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': architecture,
    ...config.nodeLabels,
  };
}

/** The Node the agent creates when none exists: metadata and spec; status follows in a patch. */
export function initialNode(config: AgentConfig, architecture: string): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: config.nodeName,
      labels: nodeLabels(config, architecture),
      // Attach/detach is the controller manager's job, as on every modern kubelet.
      annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
    },
    spec: {
      ...(config.podCIDR ? { podCIDR: config.podCIDR, podCIDRs: [config.podCIDR] } : {}),
      ...(config.registerWithTaints.length > 0 ? { taints: config.registerWithTaints.map((t) => ({ ...t })) } : {}),
    },
  };
}

/**
 * The label changes an existing Node needs (a re-registering kubelet reconciles its default labels
 * and leaves everyone else's alone). Undefined when nothing is to change.
 */
export function labelReconcilePatch(existing: V1Node, desired: Record<string, string>): object | undefined {
  const current = existing.metadata?.labels ?? {};
  const changes: Record<string, string> = {};
  for (const [key, value] of Object.entries(desired)) {
    if (current[key] !== value) changes[key] = value;
  }
  return Object.keys(changes).length > 0 ? { metadata: { labels: changes } } : undefined;
}
