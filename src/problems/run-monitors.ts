import type { Logger } from '../log/logger.ts';
import { describeError } from '../errors.ts';
import { Backoff } from '../util/backoff.ts';
import { sleep } from '../util/sleep.ts';
import type { ProblemReporter } from './problem-reporter.ts';
import type { ProblemMonitor } from './problem-types.ts';

/**
 * Runs each monitor on its own: one that fails (its source unreadable, a bug) is logged once per
 * distinct error and started again after a backoff, and never stops the others or the agent.
 */
export async function runMonitors(monitors: ProblemMonitor[], reporter: ProblemReporter, signal: AbortSignal, log: Logger): Promise<void> {
  for (const m of monitors) {
    reporter.register(m.defaults);
    reporter.declareReasons(m.reasons ?? []);
  }
  await Promise.all(
    monitors.map(async (monitor) => {
      const backoff = new Backoff({ initialMs: 5_000, maxMs: 60_000 });
      let lastComplaint = '';
      while (!signal.aborted) {
        try {
          await monitor.run(reporter, signal);
        } catch (err) {
          const message = describeError(err);
          if (message !== lastComplaint) log.error({ monitor: monitor.source, err: message }, 'problem monitor failed; it is started again after a backoff');
          lastComplaint = message;
        }
        if (!signal.aborted) await sleep(backoff.next(), signal);
      }
    }),
  );
}
