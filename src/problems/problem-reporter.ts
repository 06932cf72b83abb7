import type { EventRecorder } from '../kube/event-recorder.ts';
import type { ProblemCondition, ProblemSink, TemporaryProblem } from './problem-types.ts';

/** A bound on the gauge's series per condition type, should a monitor mint reasons freely. */
const MAX_REASONS_PER_TYPE = 64;
/** How many reasons `node-agent report` can list as recent problems; the least recent fall off. */
const MAX_RECENT = 50;
const MAX_RECENT_MESSAGE = 1024;

/** A problem as the report lists it: repeats of one (same source and reason) are counted; the message is the latest. */
export interface RecentProblem {
  source: string;
  /** temporary: an Event only; condition: a condition turned True. */
  kind: 'temporary' | 'condition';
  reason: string;
  message: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export interface ProblemReporterDeps {
  nodeName: string;
  /** The recorder for one monitor: its name is the Events' source.component. */
  eventsFor: (source: string) => EventRecorder;
  /** A condition changed: the node status should be written now, not at the next tick. */
  onChange?: () => void;
  now?: () => number;
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
  /**
   * Every reason seen per condition type, for problem_gauge{type,reason}: a reason that was a
   * problem stays listed (at 0) after it clears, as NPD's gauge does, so a scrape sees it fall.
   * Reasons come from rules and monitors, not from what they read, so this stays small.
   */
  private readonly reasons = new Map<string, Set<string>>();
  /** Newest last; a repeat moves to the end with its count raised. */
  private readonly recentProblems = new Map<string, RecentProblem>();

  constructor(deps: ProblemReporterDeps) {
    this.deps = deps;
  }

  /** A monitor's conditions, healthy until it says otherwise. */
  register(defaults: ProblemCondition[]): void {
    for (const c of defaults) {
      if (!this.conditions.has(c.type)) this.conditions.set(c.type, { ...c });
      this.noteReason(c.type, c.reason);
    }
  }

  /** Reasons a monitor can report (its rules'), counted at 0 until they happen, as NPD starts its counters. */
  declareReasons(reasons: readonly string[]): void {
    for (const r of reasons) if (!this.counts.has(r)) this.counts.set(r, 0);
  }

  condition(source: string, next: ProblemCondition): void {
    const before = this.conditions.get(next.type);
    this.conditions.set(next.type, { ...next });
    this.noteReason(next.type, next.reason);
    if (before && before.status === next.status && before.reason === next.reason) return;
    if (next.status === 'True') {
      this.count(next.reason);
      this.remember(source, 'condition', next.reason, next.message);
    }
    // A condition that first appears healthy says nothing; every other turn is an Event.
    if (before || next.status === 'True') {
      const ref = { kind: 'Node', name: this.deps.nodeName, uid: this.deps.nodeName };
      this.deps.eventsFor(source).record(ref, next.status === 'True' ? 'Warning' : 'Normal', next.reason, next.message);
    }
    this.deps.onChange?.();
  }

  temporary(source: string, problem: TemporaryProblem): void {
    this.count(problem.reason);
    this.remember(source, 'temporary', problem.reason, problem.message);
    this.deps.eventsFor(source).record({ kind: 'Node', name: this.deps.nodeName, uid: this.deps.nodeName }, 'Warning', problem.reason, problem.message);
  }

  /** The conditions for the Node, in the order they were registered. */
  current(): ProblemCondition[] {
    return [...this.conditions.values()].map((c) => ({ ...c }));
  }

  /** problem_gauge{type,reason}: 1 where the condition is True with that reason, 0 for every other reason seen. */
  gauges(): { type: string; reason: string; value: 0 | 1 }[] {
    const out: { type: string; reason: string; value: 0 | 1 }[] = [];
    for (const [type, reasons] of this.reasons) {
      const c = this.conditions.get(type);
      for (const reason of reasons) out.push({ type, reason, value: c?.status === 'True' && c.reason === reason ? 1 : 0 });
    }
    return out;
  }

  /** The most recent problems, newest first. */
  recent(): RecentProblem[] {
    return [...this.recentProblems.values()].reverse().map((p) => ({ ...p }));
  }

  private remember(source: string, kind: RecentProblem['kind'], reason: string, message: string): void {
    message = message.slice(0, MAX_RECENT_MESSAGE);
    // One entry per source and reason, with the latest message: forty OOM kills are one line
    // with a count, so a flood does not push every other problem out of the list.
    const key = JSON.stringify([source, kind, reason]);
    const at = new Date(this.deps.now?.() ?? Date.now()).toISOString();
    const seen = this.recentProblems.get(key);
    this.recentProblems.delete(key);
    this.recentProblems.set(key, seen ? { ...seen, message, count: seen.count + 1, lastSeen: at } : { source, kind, reason, message, count: 1, firstSeen: at, lastSeen: at });
    if (this.recentProblems.size > MAX_RECENT) this.recentProblems.delete(this.recentProblems.keys().next().value!);
  }

  private noteReason(type: string, reason: string): void {
    let set = this.reasons.get(type);
    if (!set) this.reasons.set(type, (set = new Set()));
    if (set.size < MAX_REASONS_PER_TYPE) set.add(reason);
  }

  private count(reason: string): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }
}
