import { execa } from 'execa';
import type { Logger } from '../log/logger.ts';
import { sleep } from '../util/sleep.ts';
import { type CustomPluginMonitorRules, type PluginRule, pluginCondition, pluginMessage, pluginStatus, type PluginStatus } from './custom-plugin-rules.ts';
import type { ProblemMonitor, ProblemSink } from './problem-types.ts';

/** Output read from a plugin at most: a plugin that floods stdout is cut off, not buffered. */
const MAX_PLUGIN_OUTPUT = 64 * 1024;

export interface PluginRun {
  status: PluginStatus;
  message: string;
  timedOut: boolean;
}

/**
 * Runs one plugin once: in a process group of its own, so that at its timeout the whole group is
 * killed (a shell's `sleep` child would otherwise hold stdout open and the run would never end),
 * with no stdin, stdout bounded, stderr dropped.
 */
export async function runPlugin(rule: PluginRule, maxOutputLength: number, signal?: AbortSignal): Promise<PluginRun> {
  const child = execa(rule.path, rule.args, { reject: false, detached: true, stdin: 'ignore', stderr: 'ignore', maxBuffer: MAX_PLUGIN_OUTPUT, cleanup: true });
  let timedOut = false;
  const killGroup = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, rule.timeoutMs);
  // The agent stopping does not wait for a plugin's timeout.
  signal?.addEventListener('abort', killGroup, { once: true });
  try {
    const result = await child;
    const status = pluginStatus(result.exitCode, timedOut);
    const message = timedOut
      ? `Timeout when running plugin "${rule.path}": state - ${rule.timeoutMs / 1000}s`
      : result.exitCode === undefined
        ? `plugin "${rule.path}" could not run: ${result.shortMessage ?? 'unknown error'}`.slice(0, maxOutputLength * 4)
        : pluginMessage(typeof result.stdout === 'string' ? result.stdout : '', maxOutputLength);
    return { status, message, timedOut };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', killGroup);
  }
}

export interface CustomPluginMonitorOptions {
  rules: CustomPluginMonitorRules;
  log: Logger;
}

/**
 * node-problem-detector's custom plugin monitor. Every rule runs on its own schedule, so a plugin
 * that hangs until its timeout delays nobody else; a permanent rule's result is its condition
 * (OK: the healthy default; 1: True with the plugin's message; 2, a crash or a timeout: Unknown),
 * a temporary rule that says 1 is an Event.
 */
export class CustomPluginMonitor implements ProblemMonitor {
  readonly source: string;
  readonly defaults;
  readonly reasons: readonly string[];
  readonly stats = { runs: 0, problems: 0, unknown: 0, timeouts: 0 };
  private readonly options: CustomPluginMonitorOptions;

  constructor(options: CustomPluginMonitorOptions) {
    this.options = options;
    this.source = options.rules.source;
    this.defaults = options.rules.conditions;
    this.reasons = [...new Set(options.rules.rules.map((r) => r.reason))];
  }

  async run(sink: ProblemSink, signal: AbortSignal): Promise<void> {
    const { rules } = this.options;
    await Promise.all(
      rules.rules.map(async (rule) => {
        while (!signal.aborted) {
          const result = await runPlugin(rule, rules.maxOutputLength, signal);
          if (signal.aborted) break;
          this.stats.runs++;
          if (result.timedOut) this.stats.timeouts++;
          if (result.status === 'NonOK') this.stats.problems++;
          if (result.status === 'Unknown') this.stats.unknown++;
          if (rule.type === 'permanent') {
            const defaults = rules.conditions.find((c) => c.type === rule.condition);
            if (defaults) sink.condition(this.source, pluginCondition(rule, defaults, result.status, result.message));
          } else if (result.status === 'NonOK') {
            sink.temporary(this.source, { reason: rule.reason, message: result.message });
          }
          await sleep(rules.intervalMs, signal);
        }
      }),
    );
  }
}
