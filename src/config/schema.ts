import { isRecord } from '../util/is-record.ts';

/**
 * Every key the configuration file may hold, nested as in the file. validateConfig reads values;
 * this is what makes a misspelt key an error rather than a setting quietly left at its default
 * (`network.vxlanport: 4789` would otherwise leave the VXLAN port at 8472 with no word said).
 * The kubelet is as strict: its config file is decoded strictly, and an unknown field stops it.
 */

/** A plain value (string, number, boolean) or a list of them. */
type Leaf = 'value';
/** A map whose keys are the user's own (node labels). */
type FreeMap = 'map';
/** Marks a list of objects; a symbol, so it can never clash with a setting's name. */
const ITEM = Symbol('list item');
/** A list of objects, each of the given shape. */
interface ListOf {
  readonly [ITEM]: Shape;
}
const listOf = (item: Shape): ListOf => ({ [ITEM]: item });
export type Shape = Leaf | FreeMap | ListOf | { readonly [key: string]: Shape };

export const configSchema: Shape = {
  nodeName: 'value',
  nodeIP: 'value',
  hostname: 'value',
  kubeconfig: 'value',
  standalone: 'value',
  runtime: { type: 'value', endpoint: 'value', requestTimeout: 'value' },
  podCIDR: 'value',
  clusterCIDR: 'value',
  network: { mode: 'value', mtu: 'value', vxlanPort: 'value', disableGC: 'value' },
  clusterDNS: 'value',
  clusterDomain: 'value',
  resolvConf: 'value',
  directories: { root: 'value', logs: 'value', containerLogs: 'value', manifests: 'value', cniBin: 'value', cniConf: 'value' },
  nodeLabels: 'map',
  registerWithTaints: listOf({ key: 'value', value: 'value', effect: 'value' }),
  maxPods: 'value',
  port: 'value',
  address: 'value',
  tlsCertFile: 'value',
  tlsPrivateKeyFile: 'value',
  authentication: { anonymous: { enabled: 'value' }, webhook: { enabled: 'value', cacheTTL: 'value' }, x509: { clientCAFile: 'value' } },
  authorization: { mode: 'value', webhook: { cacheAuthorizedTTL: 'value', cacheUnauthorizedTTL: 'value' } },
  healthzBindAddress: 'value',
  healthzPort: 'value',
  nodeStatusUpdateFrequency: 'value',
  nodeStatusReportFrequency: 'value',
  nodeLeaseDurationSeconds: 'value',
  // Signal names hold a dot; they are keys of their own, not paths.
  evictionHard: { 'memory.available': 'value', 'nodefs.available': 'value', 'nodefs.inodesFree': 'value', 'imagefs.available': 'value', 'pid.available': 'value' },
  systemReserved: { cpu: 'value', memory: 'value', 'ephemeral-storage': 'value' },
  log: { format: 'value', level: 'value' },
  problemDetector: { kernelMonitor: { enabled: 'value', logPath: 'value', rulesFile: 'value' }, customPluginMonitors: 'value' },
};

export interface SchemaProblem {
  field: string;
  problem: string;
  fix: string;
}


/** Edit distance, for "did you mean": keys are short, so the plain table is cheap. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0;
      row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

/** The known key a typo most likely meant: same letters in another case, or one or two edits away. */
export function nearestKey(key: string, known: string[]): string | undefined {
  const folded = known.find((k) => k.toLowerCase() === key.toLowerCase());
  if (folded) return folded;
  let best: { key: string; d: number } | undefined;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (d <= 2 && (!best || d < best.d)) best = { key: k, d };
  }
  return best?.key;
}

/**
 * Unknown keys and objects where the schema has none, at any depth, named by their full path
 * ("network.vxlanport", "registerWithTaints[0].efect"). Type and value checks stay in
 * validateConfig; this only says whether the key is one the agent reads.
 */
export function schemaProblems(input: unknown, shape: Shape = configSchema, path = ''): SchemaProblem[] {
  if (shape === 'value' || shape === 'map') return [];
  if (ITEM in shape) {
    const item = shape[ITEM];
    if (!Array.isArray(input)) return [];
    return input.flatMap((element, index) => schemaProblems(element, item, `${path}[${index}]`));
  }
  const fields = shape;
  if (!isRecord(input)) {
    if (input === undefined || input === null || path === '') return [];
    return [{ field: path, problem: `must be a map of settings, got ${Array.isArray(input) ? 'a list' : JSON.stringify(input)}`, fix: `write ${path} with its keys: ${Object.keys(fields).join(', ')}` }];
  }
  const known = Object.keys(fields);
  const problems: SchemaProblem[] = [];
  for (const [key, value] of Object.entries(input)) {
    const field = path ? `${path}.${key}` : key;
    const sub = fields[key];
    if (!Object.hasOwn(fields, key) || sub === undefined) {
      const near = nearestKey(key, known);
      problems.push({
        field,
        problem: 'is not a known setting',
        fix: near ? `did you mean ${path ? `${path}.` : ''}${near}?` : `remove it; known ${path ? `keys of ${path}` : 'settings'} are ${known.join(', ')}`,
      });
      continue;
    }
    problems.push(...schemaProblems(value, sub, field));
  }
  return problems;
}
