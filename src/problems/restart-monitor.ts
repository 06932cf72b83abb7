import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sleep } from '../util/sleep.ts';
import type { ProblemCondition, ProblemMonitor, ProblemSink } from './problem-types.ts';

/**
 * node-problem-detector's FrequentKubeletRestart, for the agent: every start is written down (the
 * last `keep` of them, in a file under the agent's root), and the condition is True while at least
 * `count` starts fall within `windowMs` (NPD's defaults: 5 in 20 minutes). It clears as the starts
 * age out of the window.
 */

export const FREQUENT_RESTART = 'FrequentNodeAgentRestart';

export interface RestartWindow {
  count: number;
  windowMs: number;
}

export const defaultRestartWindow: RestartWindow = { count: 5, windowMs: 20 * 60_000 };

/** Pure: the condition for these start times (ms) at `now`. */
export function restartCondition(starts: number[], now: number, window: RestartWindow = defaultRestartWindow): ProblemCondition {
  const recent = starts.filter((t) => now - t <= window.windowMs && t <= now).length;
  const minutes = Math.round(window.windowMs / 60_000);
  return recent >= window.count
    ? { type: FREQUENT_RESTART, status: 'True', reason: FREQUENT_RESTART, message: `node-agent was started ${recent} times in the last ${minutes} minutes` }
    : { type: FREQUENT_RESTART, status: 'False', reason: 'NoFrequentNodeAgentRestart', message: 'node-agent is functioning properly' };
}

/** Reads the start times written so far, adds `now`, keeps the newest `keep`, and writes them back atomically. */
export async function recordStart(path: string, now: number, keep = 100): Promise<number[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const starts = text.split('\n').map(Number).filter((t) => Number.isSafeInteger(t) && t > 0);
  starts.push(now);
  const kept = starts.slice(-keep);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${kept.join('\n')}\n`, { mode: 0o600 });
  await rename(tmp, path);
  return kept;
}

export interface RestartMonitorOptions {
  /** Where the start times live (under the agent's root, so they survive restarts). */
  path: string;
  window?: RestartWindow;
  intervalMs?: number;
  now?: () => number;
}

export class RestartMonitor implements ProblemMonitor {
  readonly source = 'restart-monitor';
  readonly defaults: ProblemCondition[] = [restartCondition([], 0)];
  private readonly options: RestartMonitorOptions;
  private starts: number[] | undefined;

  constructor(options: RestartMonitorOptions) {
    this.options = options;
  }

  async run(sink: ProblemSink, signal: AbortSignal): Promise<void> {
    const now = this.options.now ?? Date.now;
    // Once per agent start, even when the monitor itself is restarted after a failure.
    this.starts ??= await recordStart(this.options.path, now());
    while (!signal.aborted) {
      sink.condition(this.source, restartCondition(this.starts, now(), this.options.window));
      await sleep(this.options.intervalMs ?? 60_000, signal);
    }
  }
}
