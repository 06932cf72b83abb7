/**
 * The seam between problem monitors and the one reporter, after node-problem-detector: each
 * monitor watches one source (the kernel log, a plugin, ...) and says what it found; the reporter
 * turns permanent problems into Node conditions and temporary ones into Events.
 */

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A Node condition as a monitor sees it; the status manager adds the times. */
export interface ProblemCondition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** A problem that passes (an OOM kill, a hung task): an Event, no condition. */
export interface TemporaryProblem {
  reason: string;
  message: string;
}

/** Where monitors report; the monitor's name is its Events' source.component. */
export interface ProblemSink {
  condition(source: string, condition: ProblemCondition): void;
  temporary(source: string, problem: TemporaryProblem): void;
}

/** One problem daemon. It must not throw for bad input it reads; it may throw when its source fails. */
export interface ProblemMonitor {
  readonly source: string;
  /** The conditions it owns, as they are while no problem is seen (NPD's default conditions). */
  readonly defaults: ProblemCondition[];
  /** The reasons its rules can report, so their counters exist (at 0) before the first problem. */
  readonly reasons?: readonly string[];
  run(sink: ProblemSink, signal: AbortSignal): Promise<void>;
}
