import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sleep } from '../util/sleep.ts';
import type { ProblemCondition, ProblemMonitor, ProblemSink } from './problem-types.ts';

/**
 * node-problem-detector's FrequentKubeletRestart, for the agent: every start is written down (the
 * last `keep` of them, in a file under the agent's root), and the condition is True while at least
 * `count` starts fall within `windowMs` (NPD's defaults: 5 in 20 minutes). It clears as the starts
 * age out of the window. The runtime's restarts (runtime-restart-monitor.ts) are counted the same way.
 */

/** Whose restarts a condition counts, in NPD's names. */
export interface RestartSubject {
  type: string;
  healthyReason: string;
  /** The program, as the message names it. */
  name: string;
}

export const AGENT_RESTARTS: RestartSubject = { type: 'FrequentNodeAgentRestart', healthyReason: 'NoFrequentNodeAgentRestart', name: 'node-agent' };
export const DOCKER_RESTARTS: RestartSubject = { type: 'FrequentDockerRestart', healthyReason: 'NoFrequentDockerRestart', name: 'docker' };
export const CONTAINERD_RESTARTS: RestartSubject = { type: 'FrequentContainerdRestart', healthyReason: 'NoFrequentContainerdRestart', name: 'containerd' };

export interface RestartWindow {
  count: number;
  windowMs: number;
}

export const defaultRestartWindow: RestartWindow = { count: 5, windowMs: 20 * 60_000 };

/** Pure: the condition for these start times (ms) at `now`. */
export function restartCondition(starts: number[], now: number, window: RestartWindow = defaultRestartWindow, subject: RestartSubject = AGENT_RESTARTS): ProblemCondition {
  const recent = starts.filter((t) => now - t <= window.windowMs && t <= now).length;
  const minutes = Math.round(window.windowMs / 60_000);
  return recent >= window.count
    ? { type: subject.type, status: 'True', reason: subject.type, message: `${subject.name} was started ${recent} times in the last ${minutes} minutes` }
    : { type: subject.type, status: 'False', reason: subject.healthyReason, message: `${subject.name} is functioning properly` };
}

/** The start times written so far (ms), oldest first, with the key each was written with; none when the file is missing. */
async function readLines(path: string): Promise<{ at: number; key: string }[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => {
      const [at, key = ''] = line.trim().split(' ');
      return { at: Number(at), key };
    })
    .filter((l) => Number.isSafeInteger(l.at) && l.at > 0);
}

export async function readStarts(path: string): Promise<number[]> {
  return (await readLines(path)).map((l) => l.at);
}

/**
 * Reads the start times written so far, adds `at`, keeps the newest `keep`, and writes them back
 * atomically. With a `key` (which process started), a start already written under that key is
 * not written again: the same process seen at the next look.
 */
export async function recordStart(path: string, at: number, keep = 100, key?: string): Promise<number[]> {
  const lines = await readLines(path);
  if (key !== undefined && lines.some((l) => l.key === key)) return lines.map((l) => l.at);
  lines.push({ at, key: key ?? '' });
  const kept = lines.slice(-keep);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, kept.map((l) => (l.key ? `${l.at} ${l.key}` : String(l.at))).join('\n') + '\n', { mode: 0o600 });
  await rename(tmp, path);
  return kept.map((l) => l.at);
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
