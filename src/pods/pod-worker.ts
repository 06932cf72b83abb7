import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describeError } from '../errors.ts';
import type { EventRecorder, ObjectRef } from '../kube/event-recorder.ts';
import type { PodApi } from '../kube/pod-api.ts';
import type { Logger } from '../log/logger.ts';
import type { Mount, Runtime, SandboxConfig } from '../runtime/types.ts';
import { type ClusterDns, type DnsConfig, podDnsConfig } from './dns-config.ts';
import { managedHostsFile } from './etc-hosts.ts';
import { ensurePrivateDir } from '../node/data-dirs.ts';
import { unsupportedSecurity, verifyRunAsNonRoot } from './security-checks.ts';
import { qosClass } from './qos.ts';
import { buildContainerConfig, containerMounts, podLabels } from './container-config.ts';
import { CrashBackoff } from './crash-backoff.ts';
import { envReferences, resolveEnv } from './env.ts';
import { runLifecycleHook } from '../probes/lifecycle-hook.ts';
import type { ProbeManager } from '../probes/probe-manager.ts';
import { computePodActions, type ContainerToStart } from './pod-actions.ts';
import { generatePodStatus } from './pod-status.ts';
import type { PodStatusSync } from './pod-status-sync.ts';
import { formatPod, gracePeriodSeconds, imagePullPolicy, podKey, podUid } from './pod-util.ts';
import { attemptsOf, latestSandbox, type ObservedPod } from './observed.ts';
import { Labels } from '../runtime/labels.ts';
import { podCgroupParent, podPortMappings, sandboxSecurity } from './sandbox-config.ts';
import { removePodCgroups } from './pod-cgroups.ts';
import type { ContainerLogLinks } from './container-log-links.ts';
import type { SubPathRequest } from '../volumes/volume-manager.ts';
import type { PodStartTracker } from '../metrics/pod-start-tracker.ts';

/** Where each volume of a pod lives on the host, set up before its containers start. */
export interface PodVolumes {
  setUp(pod: V1Pod): Promise<Map<string, { hostPath: string; readOnly: boolean }>>;
  tearDown(podUid: string): Promise<void>;
  /** Checks a volumeMount's subPath stays in its volume and binds it safely; the host path to mount. */
  prepareSubPath(podUid: string, request: SubPathRequest): Promise<string>;
}

export interface PodSyncDeps {
  runtime: Runtime;
  runtimeName: string;
  volumes: PodVolumes;
  api: PodApi | undefined;
  events: EventRecorder;
  statusSync: PodStatusSync;
  nodeName: string;
  nodeIP: string;
  logsDir: string;
  nodeAllocatable: () => { cpu: string; memory: string };
  /** The agent's root directory: each pod's managed /etc/hosts lives in <root>/pods/<uid>/etc-hosts. */
  rootDir: string;
  /** Cluster DNS and the node's own resolver settings and hosts file, for pod resolv.conf and hosts. */
  dns: { cluster: ClusterDns; host: DnsConfig; nodeHosts: string };
  /** Runs the containers' probes; the syncer registers running containers and reads verdicts. */
  probes?: ProbeManager;
  /** /var/log/containers links, made once a container has started. */
  logLinks?: ContainerLogLinks;
  /**
   * Why pods cannot get a network yet (no podCIDR, bridge or CNI config), undefined once they
   * can. While it says something, only host-network pods get a sandbox (kubelet's SyncPod).
   */
  networkNotReady?: () => string | undefined;
  log: Logger;
  now?: () => number;
  /** Removes a gone pod's cgroup directories (pod-cgroups.ts); replaced in unit tests. */
  removePodCgroups?: (uid: string) => Promise<string[]>;
  /** Measures each pod's start (kubelet_pod_start_duration_seconds and its SLI siblings). */
  podStarts?: PodStartTracker;
}

/**
 * kubelet runs postStart without a deadline and kills the container when it fails; a hook that
 * hangs would hold the pod worker forever, so the agent gives it this long.
 */
const POST_START_TIMEOUT_SECONDS = 120;

/** Why a container waits, shown in its status until the next sync says otherwise. */
type Waiting = Map<string, { reason: string; message: string }>;

/**
 * Carries out, for one pod, what computePodActions decides, and terminates pods (preStop, stop
 * with grace, sandbox and volumes torn down). Shared by all pod workers; per-pod state is keyed
 * by uid. Every failure becomes a container's waiting reason plus an Event, never an exception
 * out of here: one pod's bad spec must not disturb any other.
 */
export class PodSyncer {
  private readonly deps: PodSyncDeps;
  readonly crashBackoff = new CrashBackoff();
  readonly pullBackoff = new CrashBackoff();
  /** When each image pull last failed, by CrashBackoff.key(uid, "image:<container>"). */
  private readonly pullFailures = new Map<string, number>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly now: () => number;

  constructor(deps: PodSyncDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  /** Everything the runtime holds for a pod uid. */
  async observe(uid: string): Promise<ObservedPod> {
    const labels = { [Labels.podUid]: uid };
    const [sandboxes, containers] = await Promise.all([this.deps.runtime.listSandboxes({ labels }), this.deps.runtime.listContainers({ labels })]);
    return { sandboxes, containers };
  }

  /** One sync of a running pod. Returns the ms after which it wants to run again (a backoff ends), if any. */
  async sync(pod: V1Pod, statusTarget?: { namespace: string; name: string; uid: string }): Promise<number | undefined> {
    const uid = podUid(pod);
    const log = this.deps.log.child({ pod: podKey(pod), uid });
    const waiting: Waiting = new Map();
    let podFailure: { reason: string; message: string } | undefined;
    let wakeIn: number | undefined;
    const wake = (ms: number): void => {
      wakeIn = wakeIn === undefined ? ms : Math.min(wakeIn, ms);
    };
    this.deps.podStarts?.seen(pod, this.now());
    let observed = await this.observe(uid);
    const probes = this.deps.probes;
    const actions = computePodActions(pod, observed, {
      now: this.now(),
      backoff: this.crashBackoff,
      failedProbe: (name, id) => {
        const failed = probes?.failedProbe(uid, name, id);
        if (!failed) return undefined;
        const grace = failed.spec.terminationGracePeriodSeconds;
        return { kind: failed.kind, ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}) };
      },
    });

    if (actions.killPod) await this.killPod(pod, observed, actions.podDone ? 'pod is done' : 'sandbox changed', log);
    if (!actions.podDone) {
      let volumes: Map<string, { hostPath: string; readOnly: boolean }> | undefined;
      try {
        volumes = await this.deps.volumes.setUp(pod);
      } catch (err) {
        const message = messageOf(err);
        // A pod whose containers already run keeps them (a deleted configMap, a token that could
        // not be renewed): only the event says so, as with kubelet.
        if (observed.containers.length === 0) podFailure = { reason: 'ContainerCreating', message };
        this.event(pod, 'Warning', 'FailedMount', message);
        log.warn({ err: message }, 'volume set-up failed');
        wake(10_000);
      }
      let sandboxId = actions.sandboxId;
      const sandboxConfig = this.sandboxConfig(pod, actions.createSandbox ? actions.sandboxAttempt : latestSandbox(observed)?.pod.attempt ?? 0);
      const networkProblem = pod.spec?.hostNetwork ? undefined : this.deps.networkNotReady?.();
      if (volumes && actions.createSandbox && networkProblem !== undefined) {
        // Waits for the network, which wakes every pod when it comes up (and a retry meanwhile).
        const message = `network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:${networkProblem}`;
        podFailure = { reason: 'ContainerCreating', message };
        this.event(pod, 'Warning', 'NetworkNotReady', message);
        wake(10_000);
      } else if (volumes && actions.createSandbox) {
        if (actions.sandboxAttempt > 0) this.event(pod, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
        for (const [reason, message] of this.dnsDecision(pod).warnings) this.event(pod, 'Warning', reason, message);
        try {
          sandboxId = await this.deps.runtime.runSandbox(sandboxConfig);
          log.info({ sandbox: sandboxId.slice(0, 12), attempt: actions.sandboxAttempt }, 'sandbox started');
        } catch (err) {
          const message = `Failed to create pod sandbox: ${messageOf(err)}`;
          podFailure = { reason: 'ContainerCreating', message };
          this.event(pod, 'Warning', 'FailedCreatePodSandBox', message);
          sandboxId = undefined;
          wake(10_000);
        }
      }
      if (volumes && sandboxId) {
        const sandboxIP = this.podIPOf(pod, observed.sandboxes.find((x) => x.id === sandboxId)?.ip ?? '');
        for (const kill of actions.containersToKill) {
          const spec = specOf(pod, kill.name);
          this.event(pod, 'Normal', 'Killing', kill.reason, kill.name);
          probes?.removeContainer(uid, kill.name);
          await this.stopContainer(pod, spec, kill.id, kill.gracePeriodSeconds ?? gracePeriodSeconds(pod), sandboxConfig, log, sandboxIP);
        }
        for (const start of actions.containersToStart) {
          await this.startContainer(pod, start, sandboxId, sandboxConfig, volumes, waiting, log, wake);
          // Init containers run one at a time: the next waits for this one to finish. An app
          // container that fails to start does not hold up its siblings (kubelet's SyncPod).
          if (start.init) break;
        }
      }
      for (const b of actions.backingOff) {
        waiting.set(b.name, { reason: 'CrashLoopBackOff', message: `${b.message} pod=${formatPod(pod)}` });
        this.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${b.name} in pod ${formatPod(pod)}`, b.name);
        wake(b.remainingMs + 50);
      }
    }
    for (const id of actions.containersToRemove) await this.deps.runtime.removeContainer(id).catch(() => undefined);
    this.waiting.set(uid, waiting);

    // Looked at again only when this sync changed something (most syncs change nothing).
    const acted = actions.killPod || actions.createSandbox || actions.containersToKill.length > 0 || actions.containersToStart.length > 0 || actions.containersToRemove.length > 0;
    if (acted) observed = await this.observe(uid);
    const sandbox = latestSandbox(observed);
    const podIP = sandbox?.state === 'ready' ? this.podIPOf(pod, sandbox.ip) : undefined;
    this.trackProbes(pod, observed, podIP ?? '');
    const status = generatePodStatus(pod, observed, {
      now: new Date(this.now()),
      hostIP: this.deps.nodeIP,
      podIP,
      runtimeName: this.deps.runtimeName,
      ...(probes ? { probes: { started: (name) => probes.started(uid, name), ready: (name) => probes.readiness(uid, name) } } : {}),
      waiting,
      previous: pod.status,
      ...(podFailure ? { podFailure } : {}),
    });
    this.deps.podStarts?.status(pod, status, this.now());
    this.deps.statusSync.set(pod, status, statusTarget);
    return wakeIn;
  }

  /**
   * A pod the node refused at admission (admission.ts): phase Failed with the reason and
   * "Pod was rejected: <message>", and a Warning event with the reason, as kubelet's rejectPod.
   * Nothing of it is created.
   */
  reject(pod: V1Pod, reason: string, message: string, statusTarget?: { namespace: string; name: string; uid: string }): void {
    this.deps.log.warn({ pod: podKey(pod), uid: podUid(pod), reason }, `pod rejected: ${message}`);
    this.event(pod, 'Warning', reason, message);
    this.deps.statusSync.set(pod, {
      phase: 'Failed',
      reason,
      message: `Pod was rejected: ${message}`,
      conditions: [],
      hostIP: this.deps.nodeIP,
      hostIPs: this.deps.nodeIP ? [{ ip: this.deps.nodeIP }] : [],
      startTime: pod.status?.startTime ? new Date(pod.status.startTime).toISOString() : new Date(this.now()).toISOString(),
      qosClass: qosClass(pod),
      containerStatuses: [],
    }, statusTarget);
  }

  /**
   * Stops the pod: preStop hooks, then each container with what is left of the grace period,
   * then the sandbox; with `remove`, also the sandbox, containers and volumes.
   */
  async terminate(pod: V1Pod, options: { remove: boolean; reason: string }): Promise<void> {
    const uid = podUid(pod);
    const log = this.deps.log.child({ pod: podKey(pod), uid });
    // A terminating pod is probed no more: nothing a probe says could change what happens now.
    this.deps.probes?.removePod(uid);
    const observed = await this.observe(uid);
    await this.killPod(pod, observed, options.reason, log);
    if (options.remove) {
      for (const s of observed.sandboxes) await this.deps.runtime.removeSandbox(s.id);
      for (const c of observed.containers) {
        await this.deps.runtime.removeContainer(c.id).catch(() => undefined);
        await this.deps.logLinks?.unlink(pod.metadata?.name ?? '', pod.metadata?.namespace ?? 'default', c.name, c.id).catch(() => undefined);
      }
      await this.deps.volumes.tearDown(uid);
      const left = await (this.deps.removePodCgroups ?? removePodCgroups)(uid);
      if (left.length > 0) log.warn({ cgroups: left }, 'pod cgroups still in use; left in place');
      this.forget(uid);
    }
  }

  /**
   * Drops everything kept for the pod: its restart and pull backoffs, waiting reasons, status and
   * probes. Called once the pod is torn down, or a node that runs pods by the thousand over its
   * life would keep a little of each of them forever. A pod that comes back (same uid) starts
   * with a clean slate, as a new pod does.
   */
  private forget(uid: string): void {
    this.crashBackoff.forgetPod(uid);
    this.pullBackoff.forgetPod(uid);
    for (const key of this.pullFailures.keys()) if (CrashBackoff.isOfPod(key, uid)) this.pullFailures.delete(key);
    this.waiting.delete(uid);
    this.deps.statusSync.forget(uid);
    this.deps.probes?.removePod(uid);
    this.deps.podStarts?.forget(uid);
  }

  /** How many entries of per-pod state the syncer keeps (tests, statusz). */
  retained(): { crashBackoff: number; pullBackoff: number; pullFailures: number; waiting: number } {
    return { crashBackoff: this.crashBackoff.size, pullBackoff: this.pullBackoff.size, pullFailures: this.pullFailures.size, waiting: this.waiting.size };
  }

  private async killPod(pod: V1Pod, observed: ObservedPod, reason: string, log: Logger): Promise<void> {
    const grace = gracePeriodSeconds(pod);
    const running = observed.containers.filter((c) => c.state === 'running');
    const sandbox = latestSandbox(observed);
    const sandboxConfig = this.sandboxConfig(pod, sandbox?.pod.attempt ?? 0);
    await Promise.all(
      running.map(async (c) => {
        this.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`, c.name);
        await this.stopContainer(pod, specOf(pod, c.name), c.id, grace, sandboxConfig, log, this.podIPOf(pod, sandbox?.ip ?? ''));
      }),
    );
    // Every sandbox, not just the ready one: a running sandbox whose network was never finished
    // (the agent died half-way) reads not ready and must still be stopped and its address
    // released. StopPodSandbox is idempotent, as in kubelet's killPodWithSyncResult.
    for (const s of observed.sandboxes) await this.deps.runtime.stopSandbox(s.id);
    log.info({ reason, containers: running.length }, 'pod stopped');
  }

  /** preStop (within the grace period), then stop with what remains of it. */
  private async stopContainer(pod: V1Pod, spec: V1Container | undefined, id: string, grace: number, _sandbox: SandboxConfig, log: Logger, podIP = ''): Promise<void> {
    const started = this.now();
    const preStop = spec?.lifecycle?.preStop;
    if (preStop && spec) {
      const result = await runLifecycleHook({ handler: preStop, pod, container: spec, containerId: id, runtime: this.deps.runtime, podIP, timeoutSeconds: Math.max(1, grace) });
      if (!result.ok) {
        this.event(pod, 'Warning', 'FailedPreStopHook', result.message, spec.name);
        log.warn({ container: spec.name }, result.message);
      }
    }
    const left = Math.max(0, Math.round(grace - (this.now() - started) / 1000));
    const before = this.now();
    try {
      await this.deps.runtime.stopContainer(id, left);
    } catch (err) {
      log.warn({ container: spec?.name, err: describeError(err) }, 'stopping a container failed');
    }
    if (grace > 0 && (this.now() - before) / 1000 >= left + 0.5 && left > 0) {
      this.event(pod, 'Warning', 'ExceededGracePeriod', `Container runtime did not kill the pod within specified grace period.`, spec?.name);
    }
  }

  private async startContainer(
    pod: V1Pod,
    start: ContainerToStart,
    sandboxId: string,
    sandbox: SandboxConfig,
    volumes: Map<string, { hostPath: string; readOnly: boolean }>,
    waiting: Waiting,
    log: Logger,
    wake: (ms: number) => void,
  ): Promise<boolean> {
    const spec = specOf(pod, start.name);
    if (!spec) return false;
    const image = spec.image ?? '';
    const fail = (reason: string, message: string, event?: { reason: string; message: string }): false => {
      waiting.set(spec.name, { reason, message });
      if (event) this.event(pod, 'Warning', event.reason, event.message, spec.name);
      log.warn({ container: spec.name, reason }, message);
      return false;
    };

    // Image, by pull policy.
    const policy = imagePullPolicy(spec);
    const present = await this.deps.runtime.imageStatus(image).catch(() => undefined);
    if (policy === 'Never' && !present) {
      return fail('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`, { reason: 'ErrImageNeverPull', message: `Container image "${image}" is not present with pull policy of Never` });
    }
    if (policy === 'Always' || !present) {
      const key = CrashBackoff.key(podUid(pod), `image:${spec.name}`);
      const lastFailure = this.pullFailures.get(key);
      if (lastFailure !== undefined) {
        const state = this.pullBackoff.inBackoff(key, lastFailure, this.now());
        if (state.waiting) {
          wake(state.remainingMs + 50);
          this.event(pod, 'Normal', 'BackOff', `Back-off pulling image "${image}"`, spec.name);
          return fail('ImagePullBackOff', `Back-off pulling image "${image}"`);
        }
      }
      this.event(pod, 'Normal', 'Pulling', `Pulling image "${image}"`, spec.name);
      const t0 = this.now();
      try {
        await this.deps.runtime.pullImage(image);
        this.pullFailures.delete(key);
        this.deps.podStarts?.pulled(podUid(pod), t0, this.now());
        this.event(pod, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${((this.now() - t0) / 1000).toFixed(3)}s`, spec.name);
      } catch (err) {
        const at = this.now();
        this.pullFailures.set(key, at);
        const delay = this.pullBackoff.next(key, at);
        wake(delay + 50);
        const message = `Failed to pull image "${image}": ${messageOf(err)}`;
        return fail('ErrImagePull', message, { reason: 'Failed', message });
      }
    } else if (start.attempt === 0) {
      this.event(pod, 'Normal', 'Pulled', `Container image "${image}" already present on machine`, spec.name);
    }

    // Security settings the node cannot honour, and kubelet's runAsNonRoot check against the image's user.
    const pulled = policy === 'Always' || !present;
    const imageUser = (pulled ? await this.deps.runtime.imageStatus(image).catch(() => undefined) : present) ?? {};
    const insecure = unsupportedSecurity(pod, spec) ?? verifyRunAsNonRoot(pod, spec, imageUser);
    if (insecure) {
      wake(10_000);
      return fail('CreateContainerConfigError', insecure, { reason: 'Failed', message: `Error: ${insecure}` });
    }

    // Environment and mounts.
    const refs = envReferences(spec);
    const namespace = pod.metadata?.namespace ?? 'default';
    const api = this.deps.api;
    const configMaps = new Map(await Promise.all([...refs.configMaps].map(async (n) => [n, api ? await api.getConfigMap(namespace, n) : undefined] as const)));
    const secrets = new Map(await Promise.all([...refs.secrets].map(async (n) => [n, api ? await api.getSecret(namespace, n) : undefined] as const)));
    const sb = await this.deps.runtime.sandboxStatus(sandboxId).catch(() => undefined);
    const podIP = this.podIPOf(pod, sb?.ip ?? '');
    const env = resolveEnv(pod, spec, { configMaps, secrets, nodeName: this.deps.nodeName, hostIP: this.deps.nodeIP, podIP, nodeAllocatable: this.deps.nodeAllocatable() });
    if (!env.ok) {
      wake(10_000);
      return fail('CreateContainerConfigError', env.message, { reason: 'Failed', message: `Error: ${env.message}` });
    }
    const planned = containerMounts(spec, volumes, new Map(env.env.map((e) => [e.name, e.value])));
    if (!planned.ok) return fail('CreateContainerConfigError', planned.message, { reason: 'Failed', message: `Error: ${planned.message}` });
    const mounts: Mount[] = [];
    for (const m of planned.mounts) {
      if (!m.subPath) {
        mounts.push(m);
        continue;
      }
      const { volume, index, path } = m.subPath;
      try {
        const hostPath = await this.deps.volumes.prepareSubPath(podUid(pod), { volume, container: spec.name, index, volumePath: m.hostPath, subPath: path });
        mounts.push({ hostPath, containerPath: m.containerPath, readOnly: m.readOnly });
      } catch (err) {
        wake(10_000);
        const message = messageOf(err);
        return fail('CreateContainerConfigError', message, { reason: 'Failed', message: `Error: ${message}` });
      }
    }

    const hosts = await this.hostsMount(pod, spec, podIP);
    const config = buildContainerConfig(pod, spec, start.attempt, env.env, hosts ? [...mounts, hosts] : mounts, sandbox);
    let id: string;
    try {
      id = await this.deps.runtime.createContainer(sandboxId, config, sandbox);
    } catch (err) {
      wake(10_000);
      const message = messageOf(err);
      return fail('CreateContainerError', message, { reason: 'Failed', message: `Error: ${message}` });
    }
    this.event(pod, 'Normal', 'Created', `Created container ${spec.name}`, spec.name);
    if (start.restartAfterFinishAt !== undefined) this.crashBackoff.next(CrashBackoff.key(podUid(pod), spec.name), start.restartAfterFinishAt);
    try {
      await this.deps.runtime.startContainer(id);
    } catch (err) {
      const message = messageOf(err);
      return fail('RunContainerError', message, { reason: 'Failed', message: `Error: ${message}` });
    }
    this.event(pod, 'Normal', 'Started', `Started container ${spec.name}`, spec.name);
    log.info({ container: spec.name, attempt: start.attempt, id: id.slice(0, 12) }, 'container started');
    // As the kubelet: a link that cannot be made is logged, and the container runs on regardless.
    await this.deps.logLinks
      ?.link(pod.metadata?.name ?? '', pod.metadata?.namespace ?? 'default', spec.name, id, join(sandbox.logDirectory, config.logPath))
      .catch((err: unknown) => log.warn({ container: spec.name, err: describeError(err) }, 'cannot link the container log into the container logs directory'));

    const postStart = spec.lifecycle?.postStart;
    if (postStart) {
      const result = await runLifecycleHook({ handler: postStart, pod, container: spec, containerId: id, runtime: this.deps.runtime, podIP, timeoutSeconds: POST_START_TIMEOUT_SECONDS });
      if (!result.ok) {
        this.event(pod, 'Warning', 'FailedPostStartHook', `PostStartHook failed: ${result.message}`, spec.name);
        log.warn({ container: spec.name }, result.message);
        this.event(pod, 'Normal', 'Killing', `FailedPostStartHook`, spec.name);
        await this.deps.runtime.stopContainer(id, gracePeriodSeconds(pod)).catch(() => undefined);
        return false;
      }
    }
    return true;
  }

  /**
   * Keeps the prober in step with the runtime: each running app container is probed (a new
   * container id starts its probes afresh), a container that is not running is not.
   */
  private trackProbes(pod: V1Pod, observed: ObservedPod, podIP: string): void {
    const probes = this.deps.probes;
    if (!probes) return;
    const uid = podUid(pod);
    const previous = pod.status?.containerStatuses ?? [];
    for (const spec of pod.spec?.containers ?? []) {
      const latest = attemptsOf(observed, spec.name)[0];
      if (!latest || latest.state !== 'running') {
        probes.removeContainer(uid, spec.name);
        continue;
      }
      if (!spec.livenessProbe && !spec.readinessProbe && !spec.startupProbe) continue;
      const reported = previous.find((c) => c.name === spec.name);
      probes.addContainer(
        {
          podUid: uid,
          podName: pod.metadata?.name ?? '',
          namespace: pod.metadata?.namespace ?? 'default',
          containerName: spec.name,
          containerId: latest.id,
          startedAtMs: (latest.startedAt ?? latest.createdAt).getTime(),
          podIP,
          container: spec,
        },
        { ...(spec.livenessProbe ? { liveness: spec.livenessProbe } : {}), ...(spec.readinessProbe ? { readiness: spec.readinessProbe } : {}), ...(spec.startupProbe ? { startup: spec.startupProbe } : {}) },
        { alreadyStarted: reported?.started === true && reported.containerID === `${this.deps.runtimeName}://${latest.id}` },
      );
    }
  }

  sandboxConfig(pod: V1Pod, attempt: number): SandboxConfig {
    const ref = { name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? 'default', uid: podUid(pod), attempt };
    return {
      pod: ref,
      hostname: (pod.spec?.hostname ?? ref.name).slice(0, 63),
      hostNetwork: pod.spec?.hostNetwork ?? false,
      shareProcessNamespace: pod.spec?.shareProcessNamespace ?? false,
      labels: { ...(pod.metadata?.labels ?? {}), ...podLabels(ref) },
      annotations: { ...(pod.metadata?.annotations ?? {}) },
      logDirectory: join(this.deps.logsDir, `${ref.namespace}_${ref.name}_${ref.uid}`),
      portMappings: podPortMappings(pod),
      cgroupParent: podCgroupParent(pod),
      security: sandboxSecurity(pod),
      dnsConfig: this.dnsDecision(pod).config,
    };
  }

  /** A host-network pod's IP is the node's; any other pod's is its sandbox's. */
  private podIPOf(pod: V1Pod, sandboxIP: string): string {
    return pod.spec?.hostNetwork ? this.deps.nodeIP : sandboxIP;
  }

  private dnsDecision(pod: V1Pod): ReturnType<typeof podDnsConfig> {
    return podDnsConfig(pod, this.deps.dns.cluster, this.deps.dns.host);
  }

  /**
   * Writes the pod's managed /etc/hosts and returns its mount, as kubelet does for every
   * container that does not mount /etc/hosts itself.
   */
  private async hostsMount(pod: V1Pod, spec: V1Container, podIP: string): Promise<Mount | undefined> {
    if ((spec.volumeMounts ?? []).some((m) => m.mountPath === '/etc/hosts')) return undefined;
    const path = join(this.deps.rootDir, 'pods', podUid(pod), 'etc-hosts');
    await ensurePrivateDir(dirname(path));
    await writeFile(path, managedHostsFile(pod, podIP, this.deps.dns.cluster.domain, this.deps.dns.nodeHosts));
    return { hostPath: path, containerPath: '/etc/hosts', readOnly: false };
  }

  private event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string, container?: string): void {
    const ref: ObjectRef = {
      kind: 'Pod',
      apiVersion: 'v1',
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? 'default',
      uid: podUid(pod),
      ...(container ? { fieldPath: fieldPathOf(pod, container) } : {}),
    };
    this.deps.events.record(ref, type, reason, message);
  }
}

/** An error's message for users (events, statuses): without the stable code that logs carry. */
function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function specOf(pod: V1Pod, name: string): V1Container | undefined {
  return pod.spec?.containers.find((c) => c.name === name) ?? pod.spec?.initContainers?.find((c) => c.name === name);
}

function fieldPathOf(pod: V1Pod, name: string): string {
  return pod.spec?.initContainers?.some((c) => c.name === name) ? `spec.initContainers{${name}}` : `spec.containers{${name}}`;
}
