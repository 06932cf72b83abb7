import type { ProblemCondition } from '../problems/problem-types.ts';
import { describeAction, type PeerAction } from './peer-plan.ts';

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
