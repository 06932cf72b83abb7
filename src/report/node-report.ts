import type { CoreV1Event, V1Node, V1Pod } from '@kubernetes/client-node';
import type { PeerHealth } from '../net/network-health.ts';
import type { RecentProblem } from '../problems/problem-reporter.ts';

/**
 * `node-agent report`, the data half: what a person asks first about a node (is it Ready, what is
 * wrong, since when, what runs on it, can it reach the other nodes) built from the Node and its
 * pods in the apiserver and from the local agent's own view. Pure; the text is format-report.ts.
 */

export interface ReportInput {
  nodeName: string;
  now: number;
  /** Undefined when the apiserver could not be read; `apiError` says why. */
  node?: V1Node;
  pods?: V1Pod[];
  apiError?: string;
  /** From the local agent (/problems, /network/peers); undefined when it does not answer. */
  agent?: {
    problems: { conditions: { type: string; status: string; reason: string; message: string }[]; recent: RecentProblem[] };
    network: { mode: string; podCIDR?: string | undefined; peers: PeerHealth[] };
  };
  agentError?: string;
  /** Node Events from the apiserver, used for recent problems when the agent does not answer. */
  events?: CoreV1Event[];
}

export interface ReportCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  /** Seconds since lastTransitionTime, when the apiserver has it. */
  ageSeconds?: number;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
  /** Whether this condition, as it is, is something wrong with the node. */
  problem: boolean;
}

export interface ReportPod {
  namespace: string;
  name: string;
  /** kubectl's STATUS column: a container's waiting or terminated reason, else the phase. */
  status: string;
  ready: string;
  restarts: number;
  ip: string;
  ageSeconds?: number;
}

export interface NodeReport {
  node: string;
  generatedAt: string;
  ready: { status: string; reason: string; message: string };
  /** One line per condition in trouble: the "at a glance" part. */
  problems: string[];
  info: { podCIDR?: string; internalIP?: string; agentVersion?: string; runtime?: string; kernel?: string; os?: string };
  conditions: ReportCondition[];
  recentProblems: (RecentProblem & { ageSeconds: number })[];
  pods: ReportPod[] | undefined;
  network: { mode: string; podCIDR?: string | undefined; peers: PeerHealth[] } | undefined;
  /** What could not be read, and so is missing from the report. */
  unavailable: string[];
}

/** Ready is healthy when True; every other condition (NetworkUnavailable, the pressures, the problem conditions) when False. */
const HEALTHY_WHEN_TRUE = new Set(['Ready']);

export function isProblem(type: string, status: string): boolean {
  if (status === 'Unknown') return true;
  return HEALTHY_WHEN_TRUE.has(type) ? status !== 'True' : status === 'True';
}

const secondsSince = (now: number, iso: string | Date | undefined): number | undefined => {
  if (iso === undefined) return undefined;
  const t = new Date(iso).getTime();
  return Number.isFinite(t) ? Math.max(0, Math.round((now - t) / 1000)) : undefined;
};

const iso = (t: string | Date | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());

export function podStatusColumn(pod: V1Pod): string {
  if (pod.metadata?.deletionTimestamp) return 'Terminating';
  if (pod.status?.reason) return pod.status.reason;
  for (const cs of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const waiting = cs.state?.waiting?.reason;
    if (waiting && waiting !== 'PodInitializing') return waiting;
    const terminated = cs.state?.terminated;
    if (terminated && terminated.reason && terminated.reason !== 'Completed' && pod.status?.phase !== 'Succeeded') return terminated.reason;
  }
  return pod.status?.phase ?? 'Unknown';
}

function reportPod(pod: V1Pod, now: number): ReportPod {
  const statuses = pod.status?.containerStatuses ?? [];
  const age = secondsSince(now, pod.status?.startTime ?? pod.metadata?.creationTimestamp);
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    status: podStatusColumn(pod),
    ready: `${statuses.filter((s) => s.ready).length}/${pod.spec?.containers.length ?? statuses.length}`,
    restarts: statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0),
    ip: pod.status?.podIP ?? '',
    ...(age !== undefined ? { ageSeconds: age } : {}),
  };
}

/** Recent problems from Node Events (Warnings), when the agent's own list cannot be had. */
function problemsFromEvents(events: CoreV1Event[]): RecentProblem[] {
  return events
    .filter((e) => e.type === 'Warning')
    .map((e) => {
      const last = iso(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp) ?? '';
      return {
        source: e.source?.component ?? e.reportingComponent ?? '',
        kind: 'temporary' as const,
        reason: e.reason ?? '',
        message: e.message ?? '',
        count: e.series?.count ?? e.count ?? 1,
        firstSeen: iso(e.firstTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp) ?? last,
        lastSeen: last,
      };
    })
    .sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
}

const MAX_RECENT_SHOWN = 20;

export function buildNodeReport(input: ReportInput): NodeReport {
  const { now } = input;
  const unavailable: string[] = [];
  if (input.apiError !== undefined) unavailable.push(`apiserver: ${input.apiError}`);
  if (input.agentError !== undefined) unavailable.push(`local agent: ${input.agentError}`);

  // The apiserver's conditions carry the times; without it, the agent's own (problem monitors only).
  const conditions: ReportCondition[] = input.node
    ? (input.node.status?.conditions ?? []).map((c) => {
        const age = secondsSince(now, c.lastTransitionTime);
        const transition = iso(c.lastTransitionTime);
        const heartbeat = iso(c.lastHeartbeatTime);
        return {
          type: c.type,
          status: c.status,
          reason: c.reason ?? '',
          message: c.message ?? '',
          ...(age !== undefined ? { ageSeconds: age } : {}),
          ...(transition ? { lastTransitionTime: transition } : {}),
          ...(heartbeat ? { lastHeartbeatTime: heartbeat } : {}),
          problem: isProblem(c.type, c.status),
        };
      })
    : (input.agent?.problems.conditions ?? []).map((c) => ({ ...c, problem: isProblem(c.type, c.status) }));
  const readyCondition = conditions.find((c) => c.type === 'Ready');
  const ready = readyCondition
    ? { status: readyCondition.status, reason: readyCondition.reason, message: readyCondition.message }
    : { status: 'Unknown', reason: '', message: input.node ? 'the Node has no Ready condition' : 'the Node could not be read' };
  const problems = conditions.filter((c) => c.problem).map((c) => `${c.type} ${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`);
  for (const p of input.agent?.network.peers ?? []) if (p.state === 'broken') problems.push(`peer ${p.name} unreachable: ${p.problems.join('; ')}`);

  const recent = input.agent ? input.agent.problems.recent : problemsFromEvents(input.events ?? []);
  const addresses = input.node?.status?.addresses ?? [];
  const nodeInfo = input.node?.status?.nodeInfo;
  const info: NodeReport['info'] = {};
  const podCIDR = input.node?.spec?.podCIDR ?? input.agent?.network.podCIDR;
  if (podCIDR) info.podCIDR = podCIDR;
  const internalIP = addresses.find((a) => a.type === 'InternalIP')?.address;
  if (internalIP) info.internalIP = internalIP;
  if (nodeInfo?.kubeletVersion) info.agentVersion = nodeInfo.kubeletVersion;
  if (nodeInfo?.containerRuntimeVersion) info.runtime = nodeInfo.containerRuntimeVersion;
  if (nodeInfo?.kernelVersion) info.kernel = nodeInfo.kernelVersion;
  if (nodeInfo?.osImage) info.os = nodeInfo.osImage;

  return {
    node: input.nodeName,
    generatedAt: new Date(now).toISOString(),
    ready,
    problems,
    info,
    conditions,
    recentProblems: recent.slice(0, MAX_RECENT_SHOWN).map((p) => ({ ...p, ageSeconds: secondsSince(now, p.lastSeen) ?? 0 })),
    pods: input.pods
      ?.map((p) => reportPod(p, now))
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)),
    network: input.agent?.network,
    unavailable,
  };
}
