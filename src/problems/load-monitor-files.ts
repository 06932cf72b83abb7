import { readFile } from 'node:fs/promises';
import yaml from 'js-yaml';
import { AgentError, ErrorCode, describeError } from '../errors.ts';
import { parseCustomPluginRules, type CustomPluginMonitorRules } from './custom-plugin-rules.ts';
import { defaultKernelRules, parseKernelRules, type KernelMonitorRules } from './kernel-rules.ts';

/**
 * Monitor files in node-problem-detector's layouts (JSON or YAML), each checked whole at start: a
 * bad one stops the agent with every problem listed and the setting that named it.
 */
async function readMonitorFile<T>(path: string, setting: string, parse: (raw: unknown) => { ok: true; rules: T } | { ok: false; problems: string[] }): Promise<T> {
  let parsed: unknown;
  try {
    parsed = yaml.load(await readFile(path, 'utf8'), { filename: path });
  } catch (err) {
    throw new AgentError(ErrorCode.ConfigInvalid, `cannot read the monitor file ${path}: ${describeError(err)}. Fix: check ${setting}`, { cause: err });
  }
  const result = parse(parsed);
  if (!result.ok) throw new AgentError(ErrorCode.ConfigInvalid, `the monitor file ${path} (${setting}) is not valid:\n${result.problems.map((p) => `  - ${p}`).join('\n')}`);
  return result.rules;
}

/** The kernel monitor's rules: the built-in ones, or an operator's kernel-monitor.json. */
export async function loadKernelRules(path: string | undefined): Promise<KernelMonitorRules> {
  return path === undefined ? defaultKernelRules : readMonitorFile(path, 'problemDetector.kernelMonitor.rulesFile', parseKernelRules);
}

/** Each custom-plugin-monitor.json named in problemDetector.customPluginMonitors. */
export async function loadCustomPluginMonitors(paths: string[]): Promise<CustomPluginMonitorRules[]> {
  const out: CustomPluginMonitorRules[] = [];
  for (const path of paths) out.push(await readMonitorFile(path, 'problemDetector.customPluginMonitors', parseCustomPluginRules));
  return out;
}
