import { isAbsolute } from 'node:path';
import { parseDuration } from '../util/duration.ts';
import { isRecord } from '../util/is-record.ts';
import { CAMEL_CASE, parseDefaultConditions, permanentCondition, unknownKeys } from './monitor-file.ts';
import type { ProblemCondition } from './problem-types.ts';

/**
 * A custom plugin monitor, in node-problem-detector's custom-plugin-monitor.json layout: each
 * rule runs an executable every invoke_interval, within its timeout; exit 0 is OK, 1 a problem,
 * 2 (or anything else, a crash, a timeout) unknown, and its trimmed stdout, cut to
 * max_output_length, is the message. A permanent rule sets its condition, a temporary one posts
 * an Event.
 */

export interface PluginRule {
  type: 'temporary' | 'permanent';
  condition?: string;
  reason: string;
  path: string;
  args: string[];
  timeoutMs: number;
}

export interface CustomPluginMonitorRules {
  source: string;
  intervalMs: number;
  maxOutputLength: number;
  conditions: ProblemCondition[];
  rules: PluginRule[];
}


export function parseCustomPluginRules(raw: unknown): { ok: true; rules: CustomPluginMonitorRules } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  if (!isRecord(raw)) return { ok: false, problems: ['the monitor file must hold a map with "pluginConfig", "conditions" and "rules"'] };
  unknownKeys(raw, ['plugin', 'pluginConfig', 'source', 'metricsReporting', 'conditions', 'rules'], problems);
  if (raw['plugin'] !== undefined && raw['plugin'] !== 'custom') problems.push(`plugin must be "custom", got ${JSON.stringify(raw['plugin'])}`);
  const source = raw['source'];
  if (typeof source !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(source)) problems.push(`source ${JSON.stringify(source)} must be a lower-case name like ntp-custom-plugin-monitor`);
  const config = raw['pluginConfig'] ?? {};
  if (!isRecord(config)) problems.push('pluginConfig must be a map');
  const cfg = isRecord(config) ? config : {};
  const duration = (value: unknown, fallback: string, field: string): number => {
    const text = value === undefined ? fallback : value;
    const ms = typeof text === 'string' ? parseDuration(text) : undefined;
    if (ms === undefined || ms < 1) {
      problems.push(`${field} ${JSON.stringify(text)} is not a duration like "30s"`);
      return parseDuration(fallback) ?? 1000;
    }
    return ms;
  };
  const intervalMs = duration(cfg['invoke_interval'], '30s', 'pluginConfig.invoke_interval');
  const defaultTimeoutMs = duration(cfg['timeout'], '5s', 'pluginConfig.timeout');
  const maxOutput = cfg['max_output_length'] ?? 80;
  if (typeof maxOutput !== 'number' || !Number.isInteger(maxOutput) || maxOutput < 1 || maxOutput > 4096) problems.push('pluginConfig.max_output_length must be a whole number from 1 to 4096');

  const conditions = parseDefaultConditions(raw['conditions'], problems);
  const rules: PluginRule[] = [];
  const rawRules = raw['rules'] ?? [];
  if (!Array.isArray(rawRules) || rawRules.length === 0) problems.push('rules must be a list of at least one rule');
  else {
    rawRules.forEach((r: unknown, i) => {
      if (!isRecord(r)) return void problems.push(`rules[${i}] must be a map`);
      const { type, reason, path } = r;
      if (type !== 'temporary' && type !== 'permanent') return void problems.push(`rules[${i}].type must be temporary or permanent`);
      if (typeof reason !== 'string' || !CAMEL_CASE.test(reason)) return void problems.push(`rules[${i}].reason must be CamelCase, e.g. NTPIsDown`);
      // Relative paths would depend on the agent's working directory, which systemd sets to /.
      if (typeof path !== 'string' || !isAbsolute(path)) return void problems.push(`rules[${i}].path must be the absolute path of an executable`);
      const args = r['args'] ?? [];
      if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) return void problems.push(`rules[${i}].args must be a list of strings`);
      const timeoutMs = duration(r['timeout'], `${defaultTimeoutMs}ms`, `rules[${i}].timeout`);
      if (type === 'permanent') {
        const condition = permanentCondition(r, i, conditions, problems);
        if (condition) rules.push({ type, condition, reason, path, args: args as string[], timeoutMs });
      } else {
        rules.push({ type, reason, path, args: args as string[], timeoutMs });
      }
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, rules: { source: source as string, intervalMs, maxOutputLength: maxOutput as number, conditions, rules } };
}

export type PluginStatus = 'OK' | 'NonOK' | 'Unknown';

/** NPD's reading of a plugin's exit: 0 OK, 1 a problem, anything else (2, a signal, a timeout) unknown. */
export function pluginStatus(exitCode: number | undefined, timedOut: boolean): PluginStatus {
  if (timedOut || exitCode === undefined) return 'Unknown';
  return exitCode === 0 ? 'OK' : exitCode === 1 ? 'NonOK' : 'Unknown';
}

/** What a permanent rule's result makes of its condition; the default's reason and message when OK. */
export function pluginCondition(rule: PluginRule, defaults: ProblemCondition, status: PluginStatus, output: string): ProblemCondition {
  if (status === 'OK') return { ...defaults, status: 'False' };
  return { type: defaults.type, status: status === 'NonOK' ? 'True' : 'Unknown', reason: rule.reason, message: output };
}

/** stdout trimmed and cut to the configured length, as NPD does; control characters become spaces. */
export function pluginMessage(stdout: string, maxLength: number): string {
  return stdout.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, maxLength);
}
