import type { ContainerStatus, SandboxStatus } from '../runtime/types.ts';

/** What the runtime holds for one pod: every sandbox and container carrying its uid. */
export interface ObservedPod {
  sandboxes: SandboxStatus[];
  containers: ContainerStatus[];
}

/**
 * Whether a sandbox still holds a network namespace (and perhaps an address): ready ones, and
 * running ones that are not ready because their network set-up never finished. Those must be
 * stopped even when the pod is done with them.
 */
export function sandboxLive(sandbox: SandboxStatus): boolean {
  return sandbox.state === 'ready' || sandbox.netnsPath !== '';
}

/** The newest sandbox (highest attempt, then newest), ready or not. */
export function latestSandbox(observed: ObservedPod): SandboxStatus | undefined {
  return [...observed.sandboxes].sort((a, b) => b.pod.attempt - a.pod.attempt || b.createdAt.getTime() - a.createdAt.getTime())[0];
}

/** A container's attempts, newest first (attempt, then creation time, breaks ties). */
export function attemptsOf(observed: ObservedPod, name: string, sandboxId?: string): ContainerStatus[] {
  return observed.containers
    .filter((c) => c.name === name && (sandboxId === undefined || c.sandboxId === sandboxId))
    .sort((a, b) => b.attempt - a.attempt || b.createdAt.getTime() - a.createdAt.getTime());
}
