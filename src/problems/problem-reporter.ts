import type { EventRecorder } from '../kube/event-recorder.ts';
import type { ProblemCondition, ProblemSink, TemporaryProblem } from './problem-types.ts';

export interface ProblemReporterDeps {
  nodeName: string;
  /** The recorder for one monitor: its name is the Events' source.component. */
  eventsFor: (source: string) => EventRecorder;
  /** A condition changed: the node status should be written now, not at the next tick. */
  onChange?: () => void;
}

/**
 * node-problem-detector's problem client, in the agent: holds every monitor's conditions for the
 * node status (which adds heartbeat and transition times), posts an Event when a condition turns
 * (a Warning into the problem, Normal out of it) and one per temporary problem, and counts both
 * for the metrics. Floods of one reason become one Event with a count in the recorder.
 */
export class ProblemReporter implements ProblemSink {
  private readonly deps: ProblemReporterDeps;
  private readonly conditions = new Map<string, ProblemCondition>();
  /** problem_counter{reason}: temporary problems and transitions into a problem. */
  readonly counts = new Map<string, number>();

  constructor(deps: ProblemReporterDeps) {
    this.deps = deps;
  }

  /** A monitor's conditions, healthy until it says otherwise. */
  register(defaults: ProblemCondition[]): void {
    for (const c of defaults) if (!this.conditions.has(c.type)) this.conditions.set(c.type, { ...c });
  }

  condition(source: string, next: ProblemCondition): void {
    const before = this.conditions.get(next.type);
    this.conditions.set(next.type, { ...next });
    if (before && before.status === next.status && before.reason === next.reason) return;
    if (next.status === 'True') this.count(next.reason);
    // A condition that first appears healthy says nothing; every other turn is an Event.
    if (before || next.status === 'True') {
      const ref = { kind: 'Node', name: this.deps.nodeName, uid: this.deps.nodeName };
      this.deps.eventsFor(source).record(ref, next.status === 'True' ? 'Warning' : 'Normal', next.reason, next.message);
    }
    this.deps.onChange?.();
  }

  temporary(source: string, problem: TemporaryProblem): void {
    this.count(problem.reason);
    this.deps.eventsFor(source).record({ kind: 'Node', name: this.deps.nodeName, uid: this.deps.nodeName }, 'Warning', problem.reason, problem.message);
  }

  /** The conditions for the Node, in the order they were registered. */
  current(): ProblemCondition[] {
    return [...this.conditions.values()].map((c) => ({ ...c }));
  }

  private count(reason: string): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }
}
