import type {
  V1ConfigMap,
  V1Container,
  V1DownwardAPIVolumeFile,
  V1KeyToPath,
  V1Pod,
  V1ProjectedVolumeSource,
  V1ResourceFieldSelector,
  V1Secret,
  V1ServiceAccountTokenProjection,
} from '@kubernetes/client-node';
import type { FileProjection } from './atomic-writer.ts';
import { ceilDiv, ceilMilliValue, ceilValue, isZero, parseQuantityExact, type Fraction } from './quantity.ts';

/**
 * The files of configMap, secret, downwardAPI and projected volumes, computed from the volume
 * source and the objects fetched for it: pure, so every rule below is a unit test away. Errors are
 * thrown as plain Errors worded as kubelet words them; the volume manager puts them after
 * `MountVolume.SetUp failed for volume "<name>" : `.
 */

export type Payload = Map<string, FileProjection>;

/** The API default for defaultMode of configMap, secret, downwardAPI and projected volumes (0644). */
export const defaultFileMode = 0o644;
export const defaultTokenExpirationSeconds = 3600;
/** The API rejects shorter tokens; the TokenRequest API's minimum. */
export const minTokenExpirationSeconds = 600;
const maxTokenExpirationSeconds = 2 ** 32;

/** Several errors as one, the way Go's utilerrors.NewAggregate prints them. */
export function aggregateErrors(messages: string[]): Error | undefined {
  if (messages.length === 0) return undefined;
  return new Error(messages.length === 1 ? messages[0] : `[${messages.join(', ')}]`);
}

/** A source referring to a configMap or secret by name, with optional items. */
export interface KeyedSource {
  items?: V1KeyToPath[];
  optional?: boolean;
}

function keyedPayload(data: ReadonlyMap<string, Buffer>, source: KeyedSource, defaultMode: number | undefined, missingKey: (key: string) => string): Payload {
  const mode = defaultMode ?? defaultFileMode;
  const payload: Payload = new Map();
  if (!source.items || source.items.length === 0) {
    for (const [key, value] of data) payload.set(key, { data: value, mode });
    return payload;
  }
  for (const item of source.items) {
    const value = data.get(item.key);
    if (value === undefined) {
      if (source.optional) continue;
      throw new Error(missingKey(item.key));
    }
    payload.set(item.path, { data: value, mode: item.mode ?? mode });
  }
  return payload;
}

/**
 * A configMap volume (or projection): all keys of data and binaryData, or just `items`. A missing
 * configMap is an empty volume when optional, else `configmap "<name>" not found`.
 */
export function configMapPayload(name: string, source: KeyedSource, configMap: V1ConfigMap | undefined, defaultMode: number | undefined): Payload {
  if (!configMap) {
    if (source.optional) return new Map();
    throw new Error(`configmap "${name}" not found`);
  }
  const data = new Map<string, Buffer>();
  for (const [key, value] of Object.entries(configMap.data ?? {})) data.set(key, Buffer.from(value, 'utf8'));
  // binaryData travels base64-encoded in JSON.
  for (const [key, value] of Object.entries(configMap.binaryData ?? {})) data.set(key, Buffer.from(value, 'base64'));
  return keyedPayload(data, source, defaultMode, (key) => `configmap references non-existent config key: ${key}`);
}

/** The decoded data of a secret: `data` is base64 in the API; `stringData` (write-only there) wins. */
export function secretData(secret: V1Secret): Map<string, Buffer> {
  const data = new Map<string, Buffer>();
  for (const [key, value] of Object.entries(secret.data ?? {})) data.set(key, Buffer.from(value, 'base64'));
  for (const [key, value] of Object.entries(secret.stringData ?? {})) data.set(key, Buffer.from(value, 'utf8'));
  return data;
}

/** A secret volume (or projection); a missing secret is `secret "<name>" not found` unless optional. */
export function secretPayload(name: string, source: KeyedSource, secret: V1Secret | undefined, defaultMode: number | undefined): Payload {
  if (!secret) {
    if (source.optional) return new Map();
    throw new Error(`secret "${name}" not found`);
  }
  return keyedPayload(secretData(secret), source, defaultMode, (key) => `references non-existent secret key: ${key}`);
}

/** Go's %q: what kubelet uses to quote label and annotation values in downward API files. */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (ch === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch)) out += ch;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

/** Labels or annotations as kubelet's fieldpath.FormatMap writes them: `key="value"` lines sorted by key, no final newline. */
export function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((key) => `${key}=${goQuote(map?.[key] ?? '')}`)
    .join('\n');
}

/**
 * A fieldRef of a downwardAPI volume: kubelet's ExtractFieldPathAsString, which knows only the
 * metadata fields (status.podIP and friends are for env only and the API rejects them here).
 */
export function podFieldValue(pod: V1Pod, fieldPath: string): string {
  const m = pod.metadata ?? {};
  const subscripted = /^(metadata\.[a-z]+)\['(.*)'\]$/.exec(fieldPath);
  if (subscripted) {
    const key = subscripted[2] ?? '';
    if (subscripted[1] === 'metadata.labels') return m.labels?.[key] ?? '';
    if (subscripted[1] === 'metadata.annotations') return m.annotations?.[key] ?? '';
    throw new Error(`fieldPath "${subscripted[1] ?? ''}" does not support subscript`);
  }
  switch (fieldPath) {
    case 'metadata.annotations': return formatMap(m.annotations);
    case 'metadata.labels': return formatMap(m.labels);
    case 'metadata.name': return m.name ?? '';
    // Static pods without a namespace land in "default", as kubelet's file source defaults them.
    case 'metadata.namespace': return m.namespace ?? 'default';
    case 'metadata.uid': return m.uid ?? '';
    default: throw new Error(`unsupported fieldPath: ${fieldPath}`);
  }
}

function quantity(text: string | undefined, what: string): Fraction | undefined {
  if (text === undefined || text === '') return undefined;
  const q = parseQuantityExact(String(text));
  if (!q) throw new Error(`invalid quantity "${text}" for ${what}`);
  return q;
}

/**
 * A resourceFieldRef, as kubelet's ExtractResourceValueByContainerNameAndNodeAllocatable: a limit
 * that is not set reads as node allocatable; a request not set reads as the limit when one is set
 * (the API's defaulting) and otherwise 0. Values are in divisor units rounded up: cpu by
 * millicores, memory and ephemeral-storage by bytes. A zero or missing divisor means 1.
 */
export function resourceFieldValue(pod: V1Pod, ref: V1ResourceFieldSelector, nodeAllocatable: { cpu: string; memory: string; 'ephemeral-storage'?: string }): string {
  const containerName = ref.containerName ?? '';
  const container: V1Container | undefined = pod.spec?.containers.find((c) => c.name === containerName) ?? pod.spec?.initContainers?.find((c) => c.name === containerName);
  if (!container) throw new Error(`container ${containerName} not found`);
  const [kind, name] = ref.resource.split('.', 2) as [string, string | undefined];
  if ((kind !== 'limits' && kind !== 'requests') || (name !== 'cpu' && name !== 'memory' && name !== 'ephemeral-storage')) {
    throw new Error(`unsupported container resource : ${ref.resource}`);
  }
  const limit = quantity(container.resources?.limits?.[name], ref.resource) ?? quantity(nodeAllocatable[name], `node allocatable ${name}`);
  const value =
    kind === 'limits'
      ? limit
      : (quantity(container.resources?.requests?.[name], ref.resource) ?? quantity(container.resources?.limits?.[name], ref.resource));
  const divisorQ = quantity(ref.divisor, 'divisor');
  const divisor = divisorQ && !isZero(divisorQ) ? divisorQ : { num: 1n, den: 1n };
  if (!value) return '0';
  if (name === 'cpu') return String(ceilDiv(ceilMilliValue(value), ceilMilliValue(divisor)));
  return String(ceilDiv(ceilValue(value), ceilValue(divisor)));
}

/** The files of a downwardAPI volume or projection. All item errors are reported, aggregated. */
export function downwardAPIPayload(pod: V1Pod, items: V1DownwardAPIVolumeFile[] | undefined, defaultMode: number | undefined, nodeAllocatable: { cpu: string; memory: string }): Payload {
  const payload: Payload = new Map();
  const errors: string[] = [];
  for (const item of items ?? []) {
    let value = '';
    try {
      if (item.fieldRef) value = podFieldValue(pod, item.fieldRef.fieldPath);
      else if (item.resourceFieldRef) value = resourceFieldValue(pod, item.resourceFieldRef, nodeAllocatable);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
      continue;
    }
    payload.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? defaultMode ?? defaultFileMode });
  }
  const error = aggregateErrors(errors);
  if (error) throw error;
  return payload;
}

/** The pod's service account, as the API defaults it. */
export function serviceAccountName(pod: V1Pod): string {
  return pod.spec?.serviceAccountName || pod.spec?.serviceAccount || 'default';
}

/** What to ask the TokenRequest API for one serviceAccountToken projection. */
export interface TokenSpec {
  serviceAccountName: string;
  audience: string | undefined;
  expirationSeconds: number;
}

export function tokenSpec(pod: V1Pod, projection: V1ServiceAccountTokenProjection): TokenSpec {
  const expirationSeconds = projection.expirationSeconds ?? defaultTokenExpirationSeconds;
  if (expirationSeconds < minTokenExpirationSeconds) {
    throw new Error(`expirationSeconds: Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`);
  }
  if (expirationSeconds > maxTokenExpirationSeconds) {
    throw new Error(`expirationSeconds: Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds`);
  }
  return { serviceAccountName: serviceAccountName(pod), audience: projection.audience || undefined, expirationSeconds };
}

/** A stable key for a token spec, for the fetched-token map and the token cache. */
export function tokenKey(spec: TokenSpec): string {
  return JSON.stringify([spec.serviceAccountName, spec.audience ?? '', spec.expirationSeconds]);
}

/** The objects a projected volume needs fetched before its payload can be computed. */
export interface ProjectedReferences {
  configMaps: Set<string>;
  secrets: Set<string>;
  tokens: TokenSpec[];
}

export function projectedReferences(pod: V1Pod, source: V1ProjectedVolumeSource): ProjectedReferences {
  const refs: ProjectedReferences = { configMaps: new Set(), secrets: new Set(), tokens: [] };
  const seen = new Set<string>();
  for (const s of source.sources ?? []) {
    if (s.configMap) refs.configMaps.add(s.configMap.name ?? '');
    if (s.secret) refs.secrets.add(s.secret.name ?? '');
    if (s.serviceAccountToken) {
      const spec = tokenSpec(pod, s.serviceAccountToken);
      if (!seen.has(tokenKey(spec))) refs.tokens.push(spec);
      seen.add(tokenKey(spec));
    }
  }
  return refs;
}

/** What was fetched for a projected volume; a name missing from a map (or mapped to undefined) was not found. */
export interface ProjectedInputs {
  configMaps: ReadonlyMap<string, V1ConfigMap | undefined>;
  secrets: ReadonlyMap<string, V1Secret | undefined>;
  /** Token per tokenKey(spec); a missing entry becomes the error in `tokenErrors` or "no token". */
  tokens: ReadonlyMap<string, string>;
  tokenErrors?: ReadonlyMap<string, string>;
  nodeAllocatable: { cpu: string; memory: string };
}

/** Paths a projection source declares (so the API can check them): items, downward API paths, token path. */
function declaredPaths(s: NonNullable<V1ProjectedVolumeSource['sources']>[number]): string[] {
  if (s.configMap) return (s.configMap.items ?? []).map((i) => i.path);
  if (s.secret) return (s.secret.items ?? []).map((i) => i.path);
  if (s.downwardAPI) return (s.downwardAPI.items ?? []).map((i) => i.path);
  if (s.serviceAccountToken) return [s.serviceAccountToken.path];
  return [];
}

/**
 * A projected volume: its sources' files together, all with the volume's defaultMode unless an
 * item says otherwise. Two sources declaring the same path is an error ("conflicting duplicate
 * paths", the API's validation, which static pods never went through). Keys of a whole
 * configMap or secret cannot be checked up front; there the later source wins, as in kubelet.
 * Errors of all sources are reported together, as kubelet aggregates them.
 */
export function projectedPayload(pod: V1Pod, source: V1ProjectedVolumeSource, inputs: ProjectedInputs): Payload {
  const declared = new Set<string>();
  for (const s of source.sources ?? []) {
    for (const path of declaredPaths(s)) {
      if (declared.has(path)) throw new Error(`conflicting duplicate paths: ${path}`);
      declared.add(path);
    }
  }
  const mode = source.defaultMode;
  const payload: Payload = new Map();
  const errors: string[] = [];
  for (const s of source.sources ?? []) {
    try {
      let part: Payload;
      if (s.configMap) {
        const name = s.configMap.name ?? '';
        part = configMapPayload(name, s.configMap, inputs.configMaps.get(name), mode);
      } else if (s.secret) {
        const name = s.secret.name ?? '';
        part = secretPayload(name, s.secret, inputs.secrets.get(name), mode);
      } else if (s.downwardAPI) {
        part = downwardAPIPayload(pod, s.downwardAPI.items, mode, inputs.nodeAllocatable);
      } else if (s.serviceAccountToken) {
        const key = tokenKey(tokenSpec(pod, s.serviceAccountToken));
        const token = inputs.tokens.get(key);
        if (token === undefined) throw new Error(inputs.tokenErrors?.get(key) ?? 'no service account token was obtained');
        // Without fsGroup (not supported here) kubelet writes the token with the volume's mode.
        part = new Map([[s.serviceAccountToken.path, { data: Buffer.from(token, 'utf8'), mode: mode ?? defaultFileMode }]]);
      } else {
        const kind = Object.keys(s).find((k) => (s as Record<string, unknown>)[k] !== undefined) ?? 'unknown';
        throw new Error(`projected source ${kind} is not supported`);
      }
      for (const [path, content] of part) payload.set(path, content);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  }
  const error = aggregateErrors(errors);
  if (error) throw error;
  return payload;
}
