import type { ProblemCondition } from '../problems/problem-types.ts';
import { describeAction, type NodeNet, type PeerAction, type PeerPlan, type SkippedPeer } from './peer-plan.ts';

/**
 * NetworkUnavailable, as a CNI or the cloud route controller sets it: False while the node's pod
 * network is in place, True with the first missing piece as the reason and every piece in the
 * message. Pure.
 */

export interface NetworkProblem {
  reason: string;
  message: string;
}

export const NETWORK_UNAVAILABLE = 'NetworkUnavailable';

/** How long the message may grow with many missing pieces: the rest are counted. */
const MAX_LISTED = 5;

export function networkUnavailableCondition(problems: NetworkProblem[]): ProblemCondition {
  const [first] = problems;
  if (!first) return { type: NETWORK_UNAVAILABLE, status: 'False', reason: 'NodeAgentIsUp', message: "node-agent's pod network is in place on this node" };
  const listed = problems.slice(0, MAX_LISTED).map((p) => p.message);
  const more = problems.length > MAX_LISTED ? `; and ${problems.length - MAX_LISTED} more` : '';
  return { type: NETWORK_UNAVAILABLE, status: 'True', reason: first.reason, message: `${listed.join('; ')}${more}` };
}

/** A route, neighbour or FDB entry a peer needs that the kernel does not have (or has wrong). */
export function peerProblem(action: PeerAction & { op: 'add' | 'replace' }): NetworkProblem {
  const what = action.kind === 'route' ? 'route' : action.kind === 'neighbour' ? 'VXLAN neighbour entry' : 'VXLAN FDB entry';
  return {
    reason: action.kind === 'route' ? 'PeerRouteMissing' : 'VxlanEntryMissing',
    message: `${action.op === 'add' ? 'missing' : 'wrong'} ${what} for peer ${action.peer}: ${describeAction(action).replace(/^(add|replace) (route|neighbour|fdb) /, '')}`,
  };
}

/** One peer as `node-agent report` shows it: how its pods are reached from here and whether they are. */
export interface PeerHealth {
  name: string;
  nodeIP: string;
  podCIDR: string;
  /** The next hop for its pod CIDR: its node IP (host-gw) or its tunnel address (vxlan). */
  via: string;
  /** ok: every entry in the kernel; broken: some are missing or wrong; skipped: not programmed, on purpose. */
  state: 'ok' | 'broken' | 'skipped';
  problems: string[];
}

/**
 * Every peer's health from the plan and what the kernel lacks of it. Pure. A peer the plan skips
 * (no podCIDR yet, an overlap) or a foreign route keeps out is "skipped" with why; `deviceMissing`
 * (the VXLAN device is gone) breaks every planned peer at once.
 */
export function peerHealth(peers: readonly NodeNet[], plan: PeerPlan, missing: readonly (PeerAction & { op: 'add' | 'replace' })[], conflicts: readonly SkippedPeer[], deviceMissing?: string): PeerHealth[] {
  const skipped = new Map([...plan.skipped, ...conflicts].map((s) => [s.name, s.reason]));
  return [...peers]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((peer) => {
      const base = { name: peer.name, nodeIP: peer.nodeIP, podCIDR: peer.podCIDR };
      const reason = skipped.get(peer.name);
      const route = plan.routes.find((r) => r.peer === peer.name);
      if (reason !== undefined || !route) return { ...base, via: '', state: 'skipped' as const, problems: [reason ?? 'not in the plan'] };
      const problems = deviceMissing ? [deviceMissing] : missing.filter((a) => a.peer === peer.name).map((a) => peerProblem(a).message);
      return { ...base, via: route.gateway, state: problems.length > 0 ? ('broken' as const) : ('ok' as const), problems };
    });
}
