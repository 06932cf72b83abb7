import type { DaemonStart } from '../runtime/daemon-start.ts';
import { sleep } from '../util/sleep.ts';
import type { ProblemCondition, ProblemMonitor, ProblemSink } from './problem-types.ts';
import { defaultRestartWindow, recordStart, readStarts, restartCondition, type RestartMonitorOptions, type RestartSubject } from './restart-monitor.ts';

/**
 * node-problem-detector's FrequentDockerRestart / FrequentContainerdRestart. NPD counts the
 * service's start lines in the journal; the agent looks at the daemon itself: every round it
 * finds the process serving the runtime endpoint, and a process it has not seen before is a start,
 * written down with its start time (under the agent's root, so restarts of the agent lose none).
 * Two restarts between rounds count as one; the round is short (10 s) for that reason.
 */

export interface RuntimeRestartMonitorOptions extends RestartMonitorOptions {
  subject: RestartSubject;
  /** Finds the daemon now; undefined while none serves the endpoint (it is down: not a start). */
  find: () => Promise<DaemonStart | undefined>;
}

export class RuntimeRestartMonitor implements ProblemMonitor {
  readonly source = 'runtime-restart-monitor';
  readonly defaults: ProblemCondition[];
  /** Rounds run and the daemon's pid at the last one (0: none found). */
  readonly stats = { rounds: 0, pid: 0 };
  private readonly options: RuntimeRestartMonitorOptions;

  constructor(options: RuntimeRestartMonitorOptions) {
    this.options = options;
    this.defaults = [restartCondition([], 0, defaultRestartWindow, options.subject)];
  }

  async run(sink: ProblemSink, signal: AbortSignal): Promise<void> {
    const { subject, path } = this.options;
    const now = this.options.now ?? Date.now;
    while (!signal.aborted) {
      const daemon = await this.options.find();
      this.stats.rounds++;
      this.stats.pid = daemon?.pid ?? 0;
      const starts = daemon ? await recordStart(path, daemon.startedAt, 100, daemon.key) : await readStarts(path);
      sink.condition(this.source, restartCondition(starts, now(), this.options.window, subject));
      await sleep(this.options.intervalMs ?? 10_000, signal);
    }
  }
}
