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
    if (problemConditions.has(condition.type)) {
      const event = problemEvent(previous, condition);
      if (event) events.push(event);
      continue;
    }
    const reason = reasons[condition.type]?.[condition.status];
    if (!reason) continue;
    const before = previous?.conditions.find((c) => c.type === condition.type);
    if (before?.status === condition.status) continue;
    const bad = (condition.type === 'Ready') !== (condition.status === 'True');
    events.push({ type: bad ? 'Warning' : 'Normal', reason, message: `Node ${nodeName} status is now: ${reason}` });
  }
  return events;
}

/** Problem conditions in node-problem-detector's style: True is the problem. */
const problemConditions = new Set(['ContainerRuntimeUnhealthy']);

/**
 * node-problem-detector's event for a problem condition that changed: the condition's own reason
 * and message, a Warning when the problem starts and Normal when it ends. A condition that first
 * appears healthy says nothing.
 */
function problemEvent(previous: NodeStatus | undefined, condition: NodeStatus['conditions'][number]): NodeEvent | undefined {
  const before = previous?.conditions.find((c) => c.type === condition.type);
  if (before?.status === condition.status) return undefined;
  if (!before && condition.status !== 'True') return undefined;
  return { type: condition.status === 'True' ? 'Warning' : 'Normal', reason: condition.reason, message: condition.message };
}
