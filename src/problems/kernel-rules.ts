import { parseDuration } from '../util/duration.ts';
import { isRecord } from '../util/is-record.ts';
import { CAMEL_CASE, parseDefaultConditions, permanentCondition, unknownKeys } from './monitor-file.ts';
import type { ProblemCondition } from './problem-types.ts';

/**
 * The kernel monitor's rules, in node-problem-detector's kernel-monitor.json layout so an
 * operator's file carries over: `conditions` are the permanent conditions with their healthy
 * defaults, `rules` map a pattern in a kernel message to a temporary problem (an Event) or a
 * permanent one (the condition turns True with the rule's reason). The default set is NPD's.
 */

export interface KernelRule {
  type: 'temporary' | 'permanent';
  /** permanent only: the condition it sets. */
  condition?: string;
  reason: string;
  pattern: RegExp;
}

export interface KernelMonitorRules {
  source: string;
  /** Records older than this at start are skipped (NPD's lookback). */
  lookbackMs: number;
  conditions: ProblemCondition[];
  rules: KernelRule[];
}

const temporary = (reason: string, pattern: string): KernelRule => ({ type: 'temporary', reason, pattern: new RegExp(pattern) });
const permanent = (condition: string, reason: string, pattern: string): KernelRule => ({ type: 'permanent', condition, reason, pattern: new RegExp(pattern) });

export const defaultKernelRules: KernelMonitorRules = {
  source: 'kernel-monitor',
  lookbackMs: 5 * 60_000,
  conditions: [
    { type: 'KernelDeadlock', status: 'False', reason: 'KernelHasNoDeadlock', message: 'kernel has no deadlock' },
    { type: 'ReadonlyFilesystem', status: 'False', reason: 'FilesystemIsNotReadOnly', message: 'Filesystem is not read-only' },
  ],
  rules: [
    temporary('OOMKilling', String.raw`Killed process \d+ \(.+\) total-vm:\d+kB, anon-rss:\d+kB, file-rss:\d+kB.*`),
    temporary('TaskHung', String.raw`task \S+:\w+ blocked for more than \w+ seconds\.`),
    temporary('UnregisterNetDevice', String.raw`unregister_netdevice: waiting for \w+ to become free. Usage count = \d+`),
    temporary('KernelOops', String.raw`BUG: unable to handle kernel NULL pointer dereference at .*`),
    temporary('KernelOops', String.raw`divide error: 0000 \[#\d+\] SMP`),
    temporary('Ext4Error', String.raw`EXT4-fs error .*`),
    temporary('Ext4Warning', String.raw`EXT4-fs warning .*`),
    temporary('IOError', String.raw`Buffer I/O error .*`),
    temporary('MemoryReadError', String.raw`CE memory read error .*`),
    // A hung container runtime task: the runtime is stuck in the kernel and will not recover.
    permanent('KernelDeadlock', 'DockerHung', String.raw`task (docker|dockerd):\w+ blocked for more than \w+ seconds\.`),
    permanent('KernelDeadlock', 'ContainerdHung', String.raw`task containerd:\w+ blocked for more than \w+ seconds\.`),
    permanent('KernelDeadlock', 'AUFSUmountHung', String.raw`task umount\.aufs:\w+ blocked for more than \w+ seconds\.`),
    permanent('ReadonlyFilesystem', 'FilesystemIsReadOnly', 'Remounting filesystem read-only'),
  ],
};

/**
 * Reads a rules file's content (already parsed from JSON or YAML). Every problem is listed, each
 * naming the entry; a rule that would never fire (a permanent rule for an undeclared condition, a
 * pattern that does not compile) is an error, not a silent no-op.
 */
export function parseKernelRules(raw: unknown): { ok: true; rules: KernelMonitorRules } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  if (!isRecord(raw)) return { ok: false, problems: ['the rules file must hold a map with "conditions" and "rules"'] };
  unknownKeys(raw, ['plugin', 'logPath', 'lookback', 'bufferSize', 'source', 'conditions', 'rules'], problems);
  const source = raw['source'] === undefined ? defaultKernelRules.source : raw['source'];
  if (typeof source !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(source)) problems.push(`source ${JSON.stringify(source)} must be a lower-case name like kernel-monitor`);
  const lookbackText = raw['lookback'] === undefined ? '5m' : raw['lookback'];
  const lookbackMs = typeof lookbackText === 'string' ? parseDuration(lookbackText) : undefined;
  if (lookbackMs === undefined) problems.push(`lookback ${JSON.stringify(lookbackText)} is not a duration like "5m"`);

  const conditions = parseDefaultConditions(raw['conditions'], problems);
  const rules: KernelRule[] = [];
  const rawRules = raw['rules'] ?? [];
  if (!Array.isArray(rawRules)) problems.push('rules must be a list');
  else {
    rawRules.forEach((r: unknown, i) => {
      if (!isRecord(r)) return void problems.push(`rules[${i}] must be a map`);
      const type = r['type'];
      const reason = r['reason'];
      const pattern = r['pattern'];
      if (type !== 'temporary' && type !== 'permanent') return void problems.push(`rules[${i}].type must be temporary or permanent`);
      if (typeof reason !== 'string' || !CAMEL_CASE.test(reason)) return void problems.push(`rules[${i}].reason must be CamelCase, e.g. OOMKilling`);
      if (typeof pattern !== 'string' || pattern === '' || pattern.length > 1024) return void problems.push(`rules[${i}].pattern must be a regular expression of up to 1024 characters`);
      let compiled: RegExp;
      try {
        compiled = new RegExp(pattern);
      } catch (err) {
        return void problems.push(`rules[${i}].pattern does not compile: ${(err as Error).message}`);
      }
      if (type === 'permanent') {
        const condition = permanentCondition(r, i, conditions, problems);
        if (condition) rules.push({ type, condition, reason, pattern: compiled });
      } else {
        rules.push({ type, reason, pattern: compiled });
      }
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, rules: { source: source as string, lookbackMs: lookbackMs ?? 0, conditions, rules } };
}

/**
 * Every rule whose pattern is in the message: as in NPD, each rule stands alone, so a hung
 * containerd task is both a TaskHung event and the KernelDeadlock condition.
 */
export function matchKernelMessage(rules: KernelMonitorRules, message: string): KernelRule[] {
  return rules.rules.filter((r) => r.pattern.test(message));
}
