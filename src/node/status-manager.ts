import type { V1Node } from '@kubernetes/client-node';
import type { AgentConfig } from '../config/types.ts';
import type { Logger } from '../log/logger.ts';
import { classifyApiError } from '../kube/api-error.ts';
import { apiErrorCode, explainApiError } from '../kube/explain.ts';
import type { NodeApi } from '../kube/node-api.ts';
import type { ProblemCondition } from '../problems/problem-types.ts';
import type { Runtime, RuntimeVersion } from '../runtime/types.ts';
import { formatRuntimeVersion } from '../runtime/types.ts';
import { Backoff } from '../util/backoff.ts';
import { sleep } from '../util/sleep.ts';
import type { EventRecorder } from '../kube/event-recorder.ts';
import type { MachineInfo, MachineUsage } from './machine-info.ts';
import { conditionEvents } from './node-events.ts';
import { kubeTime, type NodeStatus } from './node-types.ts';
import { computeNodeStatus, runtimeReadiness, statusChanged, withPodNetwork } from './status-setters.ts';

/** kubelet's nodeStatusUpdateRetry: attempts per sync before giving up until the next tick. */
const updateRetries = 5;

export interface StatusManagerDeps {
  api: NodeApi;
  config: AgentConfig;
  agentVersion: string;
  machine: MachineInfo;
  readUsage: () => Promise<MachineUsage>;
  runtime: Runtime;
  server: string;
  log: Logger;
  /** Receives NodeReady, NodeNotReady, NodeHasDiskPressure… when a condition changes. */
  events?: EventRecorder;
  /** Why pods cannot get a network yet (undefined once they can); no pod network, no check. */
  podNetworkNotReady?: () => string | undefined;
  /** The problem monitors' conditions (ProblemReporter.current). */
  problemConditions?: () => ProblemCondition[];
  now?: () => Date;
}

/**
 * Keeps Node.status true. Every nodeStatusUpdateFrequency it computes the status; it patches
 * when something changed, or when nodeStatusReportFrequency has passed since the last report.
 * Each patch carries the resourceVersion it was computed from, so it can never overwrite a newer
 * Node: on 409 it re-reads the Node and computes again.
 */
export class NodeStatusManager {
  private readonly deps: StatusManagerDeps;
  private readonly now: () => Date;
  /** The Node as the apiserver last returned it: the base of the next patch. */
  private cached: V1Node | undefined;
  private lastReportAt = 0;
  private lastRuntime: RuntimeVersion | undefined;
  /** Counters tests and /healthz read: how often a patch met a newer Node. */
  readonly stats = { patches: 0, conflicts: 0, skipped: 0, failures: 0 };

  constructor(deps: StatusManagerDeps, registered?: V1Node) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
    this.cached = registered;
  }

  /** The last Node seen, for other parts of the agent (podCIDR, uid). */
  get node(): V1Node | undefined {
    return this.cached;
  }

  /** Lets the node watch refresh the cache so the next patch starts from the newest version. */
  observe(node: V1Node): void {
    const seen = Number(node.metadata?.resourceVersion ?? 0);
    const mine = Number(this.cached?.metadata?.resourceVersion ?? 0);
    if (!this.cached || seen > mine) this.cached = node;
  }

  /** One sync: returns true when a patch was sent. Throws only what retries could not fix. */
  async syncOnce(): Promise<boolean> {
    const { api, config } = this.deps;
    const inputs = await this.gatherInputs();
    for (let attempt = 0; attempt < updateRetries; attempt++) {
      if (!this.cached || attempt > 0) this.cached = await api.getNode(config.nodeName);
      const base = this.cached;
      const previous = fromApiNodeStatus(base);
      const next = computeNodeStatus(inputs, previous);
      const due = inputs.now.getTime() - this.lastReportAt >= config.nodeStatusReportFrequencyMs;
      // Compared with the Node as the apiserver has it, not with what this agent last sent:
      // the node lifecycle controller sets Ready=Unknown on its own when it heard nothing for a
      // while (an apiserver restart, say), and that must be corrected at the next tick rather
      // than at the next report in 5 minutes (kubelet's nodeStatusHasChanged compares the same).
      if (!due && !statusChanged(previous, next)) {
        this.stats.skipped++;
        return false;
      }
      try {
        this.cached = await api.patchNodeStatus(config.nodeName, {
          metadata: { resourceVersion: base.metadata?.resourceVersion },
          status: next,
        });
        for (const e of conditionEvents(config.nodeName, previous, next)) {
          this.deps.events?.record({ kind: 'Node', name: config.nodeName, uid: config.nodeName }, e.type, e.reason, e.message);
        }
        this.lastReportAt = inputs.now.getTime();
        this.stats.patches++;
        return true;
      } catch (err) {
        if (classifyApiError(err).kind !== 'conflict') throw err;
        this.stats.conflicts++;
        this.deps.log.debug({ resourceVersion: base.metadata?.resourceVersion }, 'node changed under the status update; re-reading it');
      }
    }
    throw new Error(`node status update kept conflicting after ${updateRetries} attempts`);
  }

  /** Runs syncOnce every nodeStatusUpdateFrequency until aborted; errors are logged, never thrown. */
  async run(signal: AbortSignal): Promise<void> {
    const { config, log } = this.deps;
    const backoff = new Backoff({ initialMs: 200, maxMs: config.nodeStatusUpdateFrequencyMs });
    let lastComplaint = '';
    while (!signal.aborted) {
      let wait = config.nodeStatusUpdateFrequencyMs;
      this.kicked = false;
      try {
        await this.syncOnce();
        if (lastComplaint) log.info('node status updates work again');
        lastComplaint = '';
        backoff.reset();
      } catch (err) {
        this.stats.failures++;
        const message = explainApiError(err, 'update node status', { server: this.deps.server, nodeName: config.nodeName });
        if (message !== lastComplaint) log.error({ code: apiErrorCode(err) }, message);
        lastComplaint = message;
        wait = backoff.next();
      }
      // Until the wait ends, or kick() calls for a status now (a kick during the sync included).
      if (this.kicked) continue;
      const early = new AbortController();
      this.wakeEarly = () => early.abort();
      await sleep(wait, AbortSignal.any([signal, early.signal]));
      this.wakeEarly = undefined;
    }
  }

  private wakeEarly: (() => void) | undefined;
  private kicked = false;

  /**
   * Something the status depends on changed (the pod network came up): the next sync runs now
   * rather than at the end of nodeStatusUpdateFrequency, so Ready follows within a moment.
   */
  kick(): void {
    this.kicked = true;
    this.wakeEarly?.();
  }

  private async gatherInputs() {
    const { runtime, config } = this.deps;
    try {
      this.lastRuntime = await runtime.version();
    } catch {
      // status() below explains; the last known version stays on the Node.
    }
    const conditions = withPodNetwork(await runtime.status(), this.deps.podNetworkNotReady?.());
    const readiness = runtimeReadiness(conditions, this.lastRuntime?.runtimeName ?? config.runtime.type);
    return {
      config,
      agentVersion: this.deps.agentVersion,
      machine: this.deps.machine,
      usage: await this.deps.readUsage(),
      runtimeVersion: this.lastRuntime ? formatRuntimeVersion(this.lastRuntime) : undefined,
      notReadyReasons: readiness.notReadyReasons,
      runtimeHealth: readiness.health,
      problemConditions: this.deps.problemConditions?.() ?? [],
      now: this.now(),
    };
  }
}

/** The status part of a Node read through client-node, as the plain shape the setters use. */
export function fromApiNodeStatus(node: V1Node | undefined): NodeStatus | undefined {
  const status = node?.status;
  if (!status) return undefined;
  const time = (value: unknown): string => (value instanceof Date ? kubeTime(value) : typeof value === 'string' ? value : '');
  return {
    capacity: { ...(status.capacity ?? {}) },
    allocatable: { ...(status.allocatable ?? {}) },
    addresses: (status.addresses ?? []).map((a) => ({ type: a.type as 'InternalIP', address: a.address })),
    daemonEndpoints: { kubeletEndpoint: { Port: status.daemonEndpoints?.kubeletEndpoint?.Port ?? 0 } },
    nodeInfo: { ...(status.nodeInfo ?? {}) } as NodeStatus['nodeInfo'],
    conditions: (status.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status as 'True',
      reason: c.reason ?? '',
      message: c.message ?? '',
      lastHeartbeatTime: time(c.lastHeartbeatTime),
      lastTransitionTime: time(c.lastTransitionTime),
    })),
  };
}
