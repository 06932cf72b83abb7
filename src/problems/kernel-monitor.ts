import type { Logger } from '../log/logger.ts';
import { type KernelMonitorRules, matchKernelMessage } from './kernel-rules.ts';
import { followKmsg, uptimeUsec } from './kmsg-follow.ts';
import { parseKmsgLine } from './kmsg.ts';
import type { ProblemMonitor, ProblemSink } from './problem-types.ts';

export interface KernelMonitorOptions {
  rules: KernelMonitorRules;
  /** /dev/kmsg, or a file of kmsg-format lines standing in for it. */
  path: string;
  pollMs?: number;
  log: Logger;
  uptime?: () => Promise<number>;
}

/**
 * node-problem-detector's kernel monitor: every kernel message matched against the rules; a
 * temporary rule is an Event, a permanent one sets its condition True with the rule's reason and
 * the kernel's message. On start, messages within the look-back window count too, so a problem
 * logged just before the agent (re)started is not missed.
 */
export class KernelMonitor implements ProblemMonitor {
  readonly source: string;
  readonly defaults;
  readonly reasons: readonly string[];
  readonly stats = { records: 0, matched: 0, lost: 0 };
  private readonly options: KernelMonitorOptions;

  constructor(options: KernelMonitorOptions) {
    this.options = options;
    this.source = options.rules.source;
    this.defaults = options.rules.conditions;
    this.reasons = [...new Set(options.rules.rules.map((r) => r.reason))];
  }

  async run(sink: ProblemSink, signal: AbortSignal): Promise<void> {
    const { rules, path } = this.options;
    const from = (await (this.options.uptime ?? uptimeUsec)()) - rules.lookbackMs * 1000;
    await followKmsg({
      path,
      pollMs: this.options.pollMs ?? 1000,
      signal,
      onLost: () => this.stats.lost++,
      onLine: (line) => {
        const record = parseKmsgLine(line);
        if (!record || record.usec < from) return;
        this.stats.records++;
        const matched = matchKernelMessage(rules, record.message);
        if (matched.length > 0) this.stats.matched++;
        for (const rule of matched) {
          if (rule.type === 'temporary') sink.temporary(this.source, { reason: rule.reason, message: record.message });
          else sink.condition(this.source, { type: rule.condition ?? '', status: 'True', reason: rule.reason, message: record.message });
        }
      },
    });
  }
}
