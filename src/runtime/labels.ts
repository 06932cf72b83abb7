/**
 * Labels every sandbox and container carries, the ones kubelet's kuberuntime uses, plus the node
 * that made it (several agents share one Docker daemon in the lab). The agent lists by these and
 * never touches an object without `managedBy` and its own node.
 */
export const Labels = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  /** "podsandbox" on sandboxes, "container" on containers. */
  type: 'io.kubernetes.docker.type',
  sandboxId: 'io.kubernetes.sandbox.id',
  managedBy: 'node-agent.managed',
  node: 'node-agent.node',
  /** The agent's root directory: tells apart agents that share a node name (labs on one machine). */
  root: 'node-agent.root',
} as const;

export const Annotations = {
  containerAttempt: 'io.kubernetes.container.restartCount',
  sandboxAttempt: 'io.kubernetes.sandbox.attempt',
  containerHash: 'io.kubernetes.container.hash',
  terminationGracePeriod: 'io.kubernetes.pod.terminationGracePeriod',
  terminationMessagePath: 'io.kubernetes.container.terminationMessagePath',
} as const;

/** The labels every backend puts on a sandbox: the pod's own, then what the agent finds it by. */
export function sandboxLabels(pod: { name: string; namespace: string; uid: string }, labels: Record<string, string>): Record<string, string> {
  return { ...labels, [Labels.type]: 'podsandbox', [Labels.podName]: pod.name, [Labels.podNamespace]: pod.namespace, [Labels.podUid]: pod.uid };
}

/** The labels every backend puts on a container: its own, its sandbox, its name and its pod. */
export function containerLabels(sandboxId: string, name: string, pod: { name: string; namespace: string; uid: string }, labels: Record<string, string>): Record<string, string> {
  return {
    ...labels,
    [Labels.type]: 'container',
    [Labels.sandboxId]: sandboxId,
    [Labels.containerName]: name,
    [Labels.podUid]: pod.uid,
    [Labels.podName]: pod.name,
    [Labels.podNamespace]: pod.namespace,
  };
}
