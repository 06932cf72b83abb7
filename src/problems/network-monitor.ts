import { sleep } from '../util/sleep.ts';
import type { ProblemCondition, ProblemMonitor, ProblemSink } from './problem-types.ts';

export interface NetworkMonitorDeps {
  /** NetworkUnavailable as the kernel has the pod network now; undefined while it is not set up. */
  check: () => Promise<ProblemCondition | undefined>;
  /** Puts every missing piece back. */
  repair: () => Promise<void>;
  /** Re-applies the peers when all is well (drops stale entries); cheap when nothing changed. */
  refresh: () => void;
  intervalMs: number;
}

/**
 * Watches the pod network every interval and reports NetworkUnavailable. A missing piece (the
 * bridge, forwarding, a peer's route or VXLAN entry) is reported True at once and repaired at
 * the next round, so the condition and its Event show what was missing for one interval, for a
 * person to see, before the repair clears it.
 */
export class NetworkMonitor implements ProblemMonitor {
  readonly source = 'network-monitor';
  /** None until the network is set up: a node with no pod CIDR yet has only Ready to say so. */
  readonly defaults: ProblemCondition[] = [];
  readonly stats = { checks: 0, problems: 0, repairs: 0 };
  private readonly deps: NetworkMonitorDeps;

  constructor(deps: NetworkMonitorDeps) {
    this.deps = deps;
  }

  async run(sink: ProblemSink, signal: AbortSignal): Promise<void> {
    let broken = false;
    while (!signal.aborted) {
      if (broken) {
        await this.deps.repair();
        this.stats.repairs++;
      }
      const condition = await this.deps.check();
      this.stats.checks++;
      broken = condition?.status === 'True';
      if (broken) this.stats.problems++;
      if (condition) sink.condition(this.source, condition);
      if (condition && !broken) this.deps.refresh();
      await sleep(this.deps.intervalMs, signal);
    }
  }
}
