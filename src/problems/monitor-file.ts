import { isRecord } from '../util/is-record.ts';
import type { ProblemCondition } from './problem-types.ts';

/** What node-problem-detector's monitor files have in common: their checks, shared by the kernel and plugin monitors. */


/** Condition types and reasons are CamelCase words, as Kubernetes writes them. */
export const CAMEL_CASE = /^[A-Z][A-Za-z0-9]{0,127}$/;

/** Keys the file may hold; each other one is a problem (a misspelt key would be ignored otherwise). */
export function unknownKeys(raw: Record<string, unknown>, known: string[], problems: string[]): void {
  for (const key of Object.keys(raw)) if (!known.includes(key)) problems.push(`"${key}" is not a known key`);
}

/** Conditions the agent sets itself: a monitor declaring one would put it twice on the Node. */
const AGENT_CONDITIONS = new Set(['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure', 'ContainerRuntimeUnhealthy', 'NetworkUnavailable', 'FrequentNodeAgentRestart']);

/** The `conditions` list: the monitor's conditions as they are with no problem (status False). */
export function parseDefaultConditions(raw: unknown, problems: string[]): ProblemCondition[] {
  const conditions: ProblemCondition[] = [];
  if (raw === undefined) return conditions;
  if (!Array.isArray(raw)) {
    problems.push('conditions must be a list');
    return conditions;
  }
  raw.forEach((c: unknown, i) => {
    if (!isRecord(c) || typeof c['type'] !== 'string' || !CAMEL_CASE.test(c['type']) || typeof c['reason'] !== 'string' || !CAMEL_CASE.test(c['reason'])) {
      problems.push(`conditions[${i}] needs a CamelCase type and reason`);
      return;
    }
    if (AGENT_CONDITIONS.has(c['type'])) {
      problems.push(`conditions[${i}]: ${c['type']} is the agent's own condition; name the monitor's condition otherwise (e.g. Kernel${c['type']})`);
      return;
    }
    if (conditions.some((d) => d.type === c['type'])) {
      problems.push(`conditions[${i}]: ${c['type']} is listed twice`);
      return;
    }
    conditions.push({ type: c['type'], status: 'False', reason: c['reason'], message: typeof c['message'] === 'string' ? c['message'] : '' });
  });
  return conditions;
}

/** A permanent rule's condition, which must be one the file lists; undefined (and a problem) otherwise. */
export function permanentCondition(rule: Record<string, unknown>, index: number, conditions: ProblemCondition[], problems: string[]): string | undefined {
  const condition = rule['condition'];
  if (typeof condition === 'string' && conditions.some((c) => c.type === condition)) return condition;
  problems.push(`rules[${index}] is permanent, so its condition must be one of the listed conditions (${conditions.map((c) => c.type).join(', ') || 'none listed'})`);
  return undefined;
}
