import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { ContainerStatus } from '../runtime/types.ts';
import { Annotations } from '../runtime/labels.ts';
import { CrashBackoff } from './crash-backoff.ts';
import { attemptsOf, latestSandbox, sandboxLive, type ObservedPod } from './observed.ts';
import { containerHash, podUid, restartPolicy } from './pod-util.ts';

export interface ContainerToStart {
  name: string;
  /** The new container's attempt number: its restartCount once it runs. */
  attempt: number;
  init: boolean;
  reason: string;
  /** Set when this start is a restart after a failure: the finish time that feeds the backoff. */
  restartAfterFinishAt?: number;
}

export interface ContainerToKill {
  id: string;
  name: string;
  /** The Killing event's message. */
  reason: string;
  /** A failed probe's own terminationGracePeriodSeconds, which overrides the pod's. */
  gracePeriodSeconds?: number;
}

export interface PodActions {
  /** Stop every container and the sandbox: before a new sandbox, or because the pod is done. */
  killPod: boolean;
  createSandbox: boolean;
  /** The sandbox to use when not creating one. */
  sandboxId: string | undefined;
  /** Attempt number for a new sandbox. */
  sandboxAttempt: number;
  containersToStart: ContainerToStart[];
  containersToKill: ContainerToKill[];
  /** Containers that would restart but wait out their CrashLoopBackOff. */
  backingOff: { name: string; init: boolean; remainingMs: number; message: string }[];
  /** Exited containers no status needs any more (all but the two newest attempts per name). */
  containersToRemove: string[];
  /** The pod is finished (Succeeded/Failed): nothing is to run again. */
  podDone: boolean;
}

export interface ActionContext {
  now: number;
  backoff: CrashBackoff;
  /**
   * The liveness or startup probe that has failed for this running container (by id), if any:
   * the prober's verdict, which this function turns into a kill and perhaps a restart.
   */
  failedProbe?: (containerName: string, containerId: string) => { kind: 'liveness' | 'startup'; gracePeriodSeconds?: number } | undefined;
}

/**
 * What to do to bring the pod's containers to what its spec asks, given what the runtime holds.
 * Pure: the pod worker carries the result out. Follows kubelet's kuberuntime computePodActions:
 * a missing or dead sandbox means a new one (and all containers with it); init containers run
 * one at a time, in order, each to success; then every app container runs, restarted per
 * restartPolicy with CrashLoopBackOff between failures; a changed spec replaces the container.
 */
export function computePodActions(pod: V1Pod, observed: ObservedPod, ctx: ActionContext): PodActions {
  const policy = restartPolicy(pod);
  const uid = podUid(pod);
  const initContainers = pod.spec?.initContainers ?? [];
  const containers = pod.spec?.containers ?? [];
  const actions: PodActions = {
    killPod: false,
    createSandbox: false,
    sandboxId: undefined,
    sandboxAttempt: 0,
    containersToStart: [],
    containersToKill: [],
    backingOff: [],
    containersToRemove: staleContainers(observed, [...initContainers, ...containers]),
    podDone: false,
  };
  const nextAttempt = (name: string): number => (attemptsOf(observed, name)[0]?.attempt ?? -1) + 1;
  const sandbox = latestSandbox(observed);
  const ready = sandbox?.state === 'ready' ? sandbox : undefined;

  if (podFinished(pod, observed)) {
    actions.podDone = true;
    // A finished pod keeps nothing running; its sandbox is stopped (kept for status until deleted).
    actions.killPod = observed.containers.some((c) => c.state === 'running') || observed.sandboxes.some(sandboxLive);
    actions.sandboxId = sandbox?.id;
    return actions;
  }

  if (!ready) {
    // With restartPolicy Never, a pod whose containers already ran is not run a second time in a
    // new sandbox: it is finished, and its status says how.
    const appRan = containers.some((c) => attemptsOf(observed, c.name).length > 0);
    if (policy === 'Never' && appRan) {
      actions.podDone = true;
      actions.killPod = observed.containers.some((c) => c.state === 'running') || observed.sandboxes.some(sandboxLive);
      return actions;
    }
    actions.createSandbox = true;
    actions.killPod = observed.sandboxes.length > 0 || observed.containers.some((c) => c.state === 'running');
    actions.sandboxAttempt = sandbox ? sandbox.pod.attempt + 1 : 0;
    const first = initContainers[0] ?? undefined;
    const toStart = first ? [first] : containers;
    actions.containersToStart = toStart.map((c) => ({ name: c.name, attempt: nextAttempt(c.name), init: first !== undefined, reason: sandbox ? 'SandboxChanged' : 'new pod' }));
    return actions;
  }
  actions.sandboxId = ready.id;

  // Init containers: one at a time, in order, each to success.
  for (const init of initContainers) {
    const latest = attemptsOf(observed, init.name, ready.id)[0];
    if (!latest) {
      actions.containersToStart.push({ name: init.name, attempt: nextAttempt(init.name), init: true, reason: 'init container not started' });
      return actions;
    }
    if (latest.state === 'running' || latest.state === 'created') return actions;
    if (latest.state === 'exited' && latest.exitCode === 0) continue;
    // It failed (Never was handled by podFinished): restart it, after its backoff.
    restartOrBackoff(actions, init, latest, true, uid, ctx);
    return actions;
  }

  for (const container of containers) {
    const latest = attemptsOf(observed, container.name, ready.id)[0];
    if (!latest) {
      actions.containersToStart.push({ name: container.name, attempt: nextAttempt(container.name), init: false, reason: 'container not started' });
      continue;
    }
    if (latest.state === 'running') {
      const hash = latest.annotations[Annotations.containerHash];
      const failed = ctx.failedProbe?.(container.name, latest.id);
      if (hash !== undefined && hash !== containerHash(container)) {
        actions.containersToKill.push({ id: latest.id, name: container.name, reason: `Container ${container.name} definition changed, will be restarted` });
        actions.containersToStart.push({ name: container.name, attempt: latest.attempt + 1, init: false, reason: 'spec changed' });
      } else if (failed) {
        killForProbe(actions, container, latest, failed, policy, observed, uid, ctx);
      }
      continue;
    }
    if (latest.state === 'created' || latest.state === 'unknown') {
      // Created but never started (the agent died in between, or start failed): replace it.
      actions.containersToKill.push({ id: latest.id, name: container.name, reason: 'container never started' });
      actions.containersToStart.push({ name: container.name, attempt: latest.attempt + 1, init: false, reason: 'container never started' });
      continue;
    }
    const failed = latest.exitCode !== 0;
    if (policy === 'Always' || (policy === 'OnFailure' && failed)) restartOrBackoff(actions, container, latest, false, uid, ctx);
  }
  return actions;
}

/**
 * A liveness or startup probe failed: kill the container and, unless restartPolicy is Never,
 * start it again in the same sync, as kubelet's computePodActions does. The backoff is judged
 * from the attempt before the killed one (kubelet's doBackOff looks at the latest exited
 * container, and the killed one has not exited yet), so failure episodes spaced by the probe's
 * thresholds restart at once and each adds one to restartCount.
 */
function killForProbe(
  actions: PodActions,
  spec: V1Container,
  latest: ContainerStatus,
  failed: { kind: 'liveness' | 'startup'; gracePeriodSeconds?: number },
  policy: string,
  observed: ObservedPod,
  uid: string,
  ctx: ActionContext,
): void {
  const restart = policy !== 'Never';
  const message = `Container ${spec.name} failed ${failed.kind} probe`;
  actions.containersToKill.push({
    id: latest.id,
    name: spec.name,
    reason: restart ? `${message}, will be restarted` : message,
    ...(failed.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: failed.gracePeriodSeconds } : {}),
  });
  if (!restart) return;
  const previous = attemptsOf(observed, spec.name).find((c) => c.id !== latest.id && c.state === 'exited');
  if (!previous) {
    actions.containersToStart.push({ name: spec.name, attempt: latest.attempt + 1, init: false, reason: `${failed.kind} probe failed` });
    return;
  }
  restartOrBackoff(actions, spec, previous, false, uid, ctx, { attempt: latest.attempt + 1, reason: `${failed.kind} probe failed` });
}

/**
 * Restarts the container unless its backoff, counted from `latest`'s finish, says wait. `start`
 * names the new attempt when it is not simply the one after `latest` (a probe kill).
 */
function restartOrBackoff(
  actions: PodActions,
  spec: V1Container,
  latest: ContainerStatus,
  init: boolean,
  uid: string,
  ctx: ActionContext,
  start: { attempt: number; reason: string } = { attempt: latest.attempt + 1, reason: 'restart' },
): void {
  const finishedAt = latest.finishedAt?.getTime() ?? ctx.now;
  const key = CrashBackoff.key(uid, spec.name);
  const state = ctx.backoff.inBackoff(key, finishedAt, ctx.now);
  if (state.waiting) {
    actions.backingOff.push({
      name: spec.name,
      init,
      remainingMs: state.remainingMs,
      message: `back-off ${Math.round(state.delayMs / 1000)}s restarting failed container=${spec.name}`,
    });
    return;
  }
  actions.containersToStart.push({ name: spec.name, attempt: start.attempt, init, reason: start.reason, restartAfterFinishAt: finishedAt });
}

/**
 * Whether the pod has run to its end: restartPolicy Never with every app container exited (or an
 * init container failed), OnFailure with every app container exited 0. Always never ends.
 */
export function podFinished(pod: V1Pod, observed: ObservedPod): boolean {
  const policy = restartPolicy(pod);
  if (policy === 'Always') return false;
  const initFailed = (pod.spec?.initContainers ?? []).some((c) => {
    const latest = attemptsOf(observed, c.name)[0];
    return latest?.state === 'exited' && latest.exitCode !== 0;
  });
  if (policy === 'Never' && initFailed) return true;
  const containers = pod.spec?.containers ?? [];
  if (containers.length === 0) return false;
  return containers.every((c) => {
    const latest = attemptsOf(observed, c.name)[0];
    if (latest?.state !== 'exited') return false;
    return policy === 'Never' || latest.exitCode === 0;
  });
}

/** Exited containers beyond the newest two attempts per name: the kubelet's container GC keeps those. */
function staleContainers(observed: ObservedPod, specs: V1Container[]): string[] {
  const stale: string[] = [];
  const names = new Set([...specs.map((c) => c.name), ...observed.containers.map((c) => c.name)]);
  for (const name of names) {
    const attempts = attemptsOf(observed, name);
    for (const c of attempts.slice(2)) if (c.state === 'exited') stale.push(c.id);
  }
  return stale;
}
