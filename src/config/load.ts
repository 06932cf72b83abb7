import { readFile } from 'node:fs/promises';
import yaml from 'js-yaml';
import { AgentError, ErrorCode, describeError } from '../errors.ts';
import type { ConfigInput } from './types.ts';

/** Reads a YAML (or JSON) configuration file into raw input; validation happens separately. */
export async function readConfigFile(path: string): Promise<ConfigInput> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AgentError(ErrorCode.ConfigUnreadable, `cannot read the configuration file ${path}: ${describeError(err)}. Fix: check the path given to --config`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = yaml.load(text, { filename: path });
  } catch (err) {
    throw new AgentError(ErrorCode.ConfigInvalid, `the configuration file ${path} is not valid YAML: ${describeError(err)}`, { cause: err });
  }
  if (parsed === undefined || parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AgentError(ErrorCode.ConfigInvalid, `the configuration file ${path} must hold a map of settings (nodeName: ..., nodeIP: ...)`);
  }
  return parsed as ConfigInput;
}

/** Lays flag values over file values, one nested key at a time ("runtime.endpoint"). */
export function mergeConfigInput(file: ConfigInput, overrides: Record<string, unknown>): ConfigInput {
  const merged: ConfigInput = structuredClone(file);
  for (const [path, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const keys = path.split('.');
    let target: Record<string, unknown> = merged;
    for (const key of keys.slice(0, -1)) {
      const next = target[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    target[keys[keys.length - 1] ?? path] = value;
  }
  return merged;
}
