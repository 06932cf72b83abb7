import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { ContainerStatus as RuntimeContainer } from '../runtime/types.ts';
import { kubeTime } from '../node/node-types.ts';
import { attemptsOf, latestSandbox, type ObservedPod } from './observed.ts';
import { qosClass } from './qos.ts';
import { restartPolicy } from './pod-util.ts';

/** Pod status as plain JSON, the shape written to pods/status (times as RFC 3339 strings). */
export interface ContainerStateJson {
  waiting?: { reason: string; message?: string };
  running?: { startedAt: string };
  terminated?: { exitCode: number; reason: string; message?: string; startedAt?: string; finishedAt?: string; containerID: string };
}

export interface ContainerStatusJson {
  name: string;
  state: ContainerStateJson;
  lastState: ContainerStateJson;
  ready: boolean;
  started: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
}

export interface PodConditionJson {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
  lastProbeTime: null;
  lastTransitionTime: string;
}

export interface PodStatusJson {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  conditions: PodConditionJson[];
  message?: string;
  reason?: string;
  hostIP: string;
  hostIPs: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime: string;
  qosClass: string;
  initContainerStatuses?: ContainerStatusJson[];
  containerStatuses: ContainerStatusJson[];
}

export interface StatusContext {
  now: Date;
  hostIP: string;
  podIP: string | undefined;
  runtimeName: string;
  /** Why containers wait, from the worker's last sync (ErrImagePull, CrashLoopBackOff, …). */
  waiting: ReadonlyMap<string, { reason: string; message: string }>;
  /**
   * What the probes say of each running container: `started` (startup probe passed) and `ready`
   * (readiness probe passed); undefined where the container has no such probe. Kubelet's
   * prober UpdatePodStatus: a container is ready only once started.
   */
  probes?: { started(name: string): boolean | undefined; ready(name: string): boolean | undefined };
  /** The status the apiserver holds now: PodScheduled, startTime and transition times carry over. */
  previous: { conditions?: { type: string; status: string; lastTransitionTime?: unknown; reason?: string; message?: string }[]; startTime?: unknown } | undefined;
  /** A pod-level problem that keeps it from starting (e.g. an unsupported volume). */
  podFailure?: { reason: string; message: string };
}

/**
 * The pod's status from what the runtime holds, the way kubelet's generateAPIPodStatus does it.
 * Pure. Each container shows its newest attempt as `state` and the one before as `lastState`;
 * a container waiting to restart shows `waiting` with the reason and the last run as lastState.
 */
export function generatePodStatus(pod: V1Pod, observed: ObservedPod, ctx: StatusContext): PodStatusJson {
  const sandbox = latestSandbox(observed);
  const initSpecs = pod.spec?.initContainers ?? [];
  const specs = pod.spec?.containers ?? [];
  const initStatuses = initSpecs.map((c) => containerStatus(c, observed, ctx, true, true));
  const initDone = initStatuses.every((s) => s.state.terminated?.exitCode === 0);
  const statuses = specs.map((c) => containerStatus(c, observed, ctx, false, !initDone));

  const phase = podPhase(pod, initStatuses, statuses, ctx);
  const startTime = typeof ctx.previous?.startTime === 'string' ? ctx.previous.startTime : ctx.previous?.startTime instanceof Date ? kubeTime(ctx.previous.startTime) : kubeTime(ctx.now);
  const sandboxReady = sandbox?.state === 'ready';

  const previousConditions = ctx.previous?.conditions ?? [];
  const condition = (type: string, ok: boolean, reason?: string, message?: string): PodConditionJson => {
    const before = previousConditions.find((c) => c.type === type);
    const status = ok ? 'True' : 'False';
    const t = before?.lastTransitionTime;
    const kept = before?.status === status && t ? (t instanceof Date ? kubeTime(t) : typeof t === 'string' ? t : undefined) : undefined;
    return { type, status, ...(reason ? { reason } : {}), ...(message ? { message } : {}), lastProbeTime: null, lastTransitionTime: kept ?? kubeTime(ctx.now) };
  };
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const incompleteInit = initStatuses.filter((s) => s.state.terminated?.exitCode !== 0).map((s) => s.name);
  const done = phase === 'Succeeded' || phase === 'Failed';
  const containersReady = unready.length === 0 && statuses.length > 0;
  const gates = (pod.spec?.readinessGates ?? []).map((g) => g.conditionType);
  const failedGates = gates.filter((g) => previousConditions.find((c) => c.type === g)?.status !== 'True');
  const gateMessage = (gate: string): string => {
    const found = previousConditions.find((c) => c.type === gate);
    return found ? `the status of pod readiness gate "${gate}" is not "True", but ${found.status}` : `corresponding condition of pod readiness gate "${gate}" does not exist.`;
  };
  const notReadyReason = done ? 'PodCompleted' : 'ContainersNotReady';
  const conditions: PodConditionJson[] = [
    condition('PodReadyToStartContainers', sandboxReady && !done),
    initDone
      ? condition('Initialized', true, done && initSpecs.length > 0 ? 'PodCompleted' : undefined)
      : condition('Initialized', false, 'ContainersNotInitialized', `containers with incomplete status: [${incompleteInit.join(' ')}]`),
    containersReady ? condition('ContainersReady', true) : condition('ContainersReady', false, notReadyReason, done ? undefined : `containers with unready status: [${unready.join(' ')}]`),
    containersReady && failedGates.length === 0
      ? condition('Ready', true)
      : containersReady
        ? condition('Ready', false, 'ReadinessGatesNotReady', gateMessage(failedGates[0] ?? ''))
        : condition('Ready', false, notReadyReason, done ? undefined : `containers with unready status: [${unready.join(' ')}]`),
  ];
  // PodScheduled belongs to the scheduler: keep it as it is (a static pod never met a scheduler).
  const scheduled = previousConditions.find((c) => c.type === 'PodScheduled');
  conditions.push(scheduled ? { ...condition('PodScheduled', scheduled.status === 'True', scheduled.reason, scheduled.message) } : condition('PodScheduled', true));

  const status: PodStatusJson = {
    phase,
    conditions,
    hostIP: ctx.hostIP,
    hostIPs: [{ ip: ctx.hostIP }],
    startTime,
    qosClass: qosClass(pod),
    containerStatuses: statuses,
    ...(initStatuses.length > 0 ? { initContainerStatuses: initStatuses } : {}),
  };
  if (ctx.podIP) {
    status.podIP = ctx.podIP;
    status.podIPs = [{ ip: ctx.podIP }];
  }
  if (ctx.podFailure && phase === 'Pending') {
    status.reason = ctx.podFailure.reason;
    status.message = ctx.podFailure.message;
  }
  return status;
}

/** `initializing`: init containers have not all succeeded yet, so this one has not had its turn. */
function containerStatus(spec: V1Container, observed: ObservedPod, ctx: StatusContext, init: boolean, initializing: boolean): ContainerStatusJson {
  const [latest, previous] = attemptsOf(observed, spec.name);
  const waiting = ctx.waiting.get(spec.name);
  const base = { name: spec.name, image: spec.image ?? '', restartCount: latest?.attempt ?? 0 };
  if (!latest) {
    return {
      ...base,
      state: { waiting: waiting ?? { reason: initializing ? 'PodInitializing' : ctx.podFailure?.reason ?? 'ContainerCreating' } },
      lastState: {},
      ready: false,
      started: false,
      imageID: '',
    };
  }
  const containerID = `${ctx.runtimeName}://${latest.id}`;
  let state: ContainerStateJson = toState(latest, ctx.runtimeName);
  let lastState: ContainerStateJson = previous && previous.state === 'exited' ? toState(previous, ctx.runtimeName) : {};
  if (latest.state === 'exited' && waiting) {
    // Waiting to run again: the run that ended is the last state.
    lastState = state;
    state = { waiting };
  } else if (latest.state === 'created' && waiting) {
    state = { waiting };
  }
  const running = latest.state === 'running';
  const started = running && (ctx.probes?.started(spec.name) ?? true);
  return {
    ...base,
    state,
    lastState,
    ready: started && (ctx.probes?.ready(spec.name) ?? true) && !init,
    started,
    imageID: latest.imageRef,
    containerID,
  };
}

function toState(c: RuntimeContainer, runtimeName: string): ContainerStateJson {
  if (c.state === 'running') return { running: { startedAt: kubeTime(c.startedAt ?? c.createdAt) } };
  if (c.state === 'exited') {
    return {
      terminated: {
        exitCode: c.exitCode ?? 0,
        reason: c.reason ?? (c.exitCode === 0 ? 'Completed' : 'Error'),
        ...(c.message ? { message: c.message } : {}),
        ...(c.startedAt ? { startedAt: kubeTime(c.startedAt) } : {}),
        ...(c.finishedAt ? { finishedAt: kubeTime(c.finishedAt) } : {}),
        containerID: `${runtimeName}://${c.id}`,
      },
    };
  }
  return { waiting: { reason: 'ContainerCreating' } };
}

/** kubelet's getPhase over the container statuses. */
export function podPhase(pod: V1Pod, init: ContainerStatusJson[], containers: ContainerStatusJson[], ctx: Pick<StatusContext, 'podFailure'>): PodStatusJson['phase'] {
  const policy = restartPolicy(pod);
  const initFailed = init.some((s) => (s.state.terminated && s.state.terminated.exitCode !== 0) || (s.state.waiting && s.lastState.terminated && s.lastState.terminated.exitCode !== 0));
  if (initFailed && policy === 'Never') return 'Failed';
  const pendingInit = init.some((s) => s.state.terminated?.exitCode !== 0);
  if (pendingInit) return 'Pending';
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of containers) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated) stopped++;
      else waiting++;
    }
  }
  if (ctx.podFailure && running === 0 && stopped === 0) return 'Pending';
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}
