import type { NodeStatus } from './node-types.ts';

export interface NodeEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** kubelet's event reasons for each condition, by [condition type][status]. */
const reasons: Record<string, Record<string, string>> = {
  Ready: { True: 'NodeReady', False: 'NodeNotReady' },
  MemoryPressure: { True: 'NodeHasInsufficientMemory', False: 'NodeHasSufficientMemory' },
  DiskPressure: { True: 'NodeHasDiskPressure', False: 'NodeHasNoDiskPressure' },
  PIDPressure: { True: 'NodeHasInsufficientPID', False: 'NodeHasSufficientPID' },
};

/**
 * The Events a status change deserves: one per condition whose status moved (or appeared), with
 * kubelet's reasons and message ("Node worker-1 status is now: NodeReady"). Pure.
 */
export function conditionEvents(nodeName: string, previous: NodeStatus | undefined, next: NodeStatus): NodeEvent[] {
  const events: NodeEvent[] = [];
  for (const condition of next.conditions) {
    const reason = reasons[condition.type]?.[condition.status];
    if (!reason) continue;
    const before = previous?.conditions.find((c) => c.type === condition.type);
    if (before?.status === condition.status) continue;
    const bad = (condition.type === 'Ready') !== (condition.status === 'True');
    events.push({ type: bad ? 'Warning' : 'Normal', reason, message: `Node ${nodeName} status is now: ${reason}` });
  }
  return events;
}
