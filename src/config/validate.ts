import { hostname as osHostname } from 'node:os';
import { LogFormats, LogLevels } from '../log/logger.ts';
import { cidrsOverlap, parseCidr, parseIpv4 } from '../util/cidr.ts';
import { parseDuration } from '../util/duration.ts';
import { parseThreshold, parseQuantity } from '../util/quantity.ts';
import { configDefaults } from './defaults.ts';
import { schemaProblems } from './schema.ts';
import { NetworkModes, RuntimeTypes, type AgentConfig, type ConfigInput, type Taint } from './types.ts';

/** One thing wrong with the configuration, and what to do about it. */
export interface ConfigProblem {
  field: string;
  problem: string;
  fix: string;
}

export type ValidationResult = { ok: true; config: AgentConfig } | { ok: false; problems: ConfigProblem[] };

// RFC 1123 subdomain: what the apiserver accepts as a Node name.
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Turns raw input (file merged with flags) into a validated configuration. Pure: the caller
 * supplies the machine's hostname so tests need no machine. Every problem is collected, so an
 * operator fixes them all in one go rather than one per restart.
 */
export function validateConfig(input: ConfigInput, env: { hostname?: string } = {}): ValidationResult {
  const problems: ConfigProblem[] = [];
  const add = (field: string, problem: string, fix: string): void => {
    problems.push({ field, problem, fix });
  };
  const str = (path: string, keys?: string[]): string | undefined => {
    const value = lookup(input, path, keys);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    add(path, `must be a string, got ${typeof value}`, `write ${path} as a plain string`);
    return undefined;
  };
  const num = (path: string, fallback: number, min: number, max: number): number => {
    const raw = lookup(input, path);
    if (raw === undefined || raw === null || raw === '') return fallback;
    const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : Number.NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      add(path, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`, `set ${path} to a number in that range`);
      return fallback;
    }
    return value;
  };
  const duration = (path: string, fallback: string, minMs: number): number => {
    const text = str(path) ?? fallback;
    const ms = parseDuration(text);
    if (ms === undefined || ms < minMs) {
      add(path, `"${text}" is not a duration of at least ${minMs} ms`, `write it like "10s", "1m30s" or "500ms"`);
      return parseDuration(fallback) ?? 0;
    }
    return ms;
  };
  const oneOf = <T extends string>(path: string, allowed: readonly T[], fallback: T): T => {
    const value = str(path) ?? fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    add(path, `"${value}" is not one of ${allowed.join(', ')}`, `set ${path} to one of: ${allowed.join(', ')}`);
    return fallback;
  };
  const bool = (path: string, fallback: boolean): boolean => {
    const raw = lookup(input, path);
    if (raw === undefined || raw === null || raw === '') return fallback;
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === 'false') return raw === 'true';
    add(path, `must be true or false, got ${JSON.stringify(raw)}`, `set ${path}: true or false`);
    return fallback;
  };

  for (const p of schemaProblems(input)) add(p.field, p.problem, p.fix);

  const nodeName = str('nodeName');
  if (nodeName === undefined) {
    add('nodeName', 'is missing', 'set nodeName in the config file or pass --node-name <name> (e.g. worker-1)');
  } else if (nodeName.length > 253 || !dnsSubdomain.test(nodeName)) {
    add('nodeName', `"${nodeName}" is not a valid Node name`, 'use lower-case letters, digits, "-" and "." (RFC 1123), e.g. worker-1');
  }

  const nodeIP = str('nodeIP');
  if (nodeIP === undefined) {
    add('nodeIP', 'is missing', "set nodeIP to this machine's address on the cluster network, or pass --node-ip <ip>");
  } else if (parseIpv4(nodeIP) === undefined) {
    add('nodeIP', `"${nodeIP}" is not an IPv4 address`, 'write it as a.b.c.d, e.g. 192.168.56.11');
  }

  const standalone = bool('standalone', false);
  const kubeconfig = str('kubeconfig');
  if (!standalone && kubeconfig === undefined) {
    add('kubeconfig', 'is missing and standalone mode is off', 'pass --kubeconfig <file> to join a cluster, or --standalone to run static pods only');
  }
  if (standalone && kubeconfig !== undefined) {
    add('standalone', 'is true but a kubeconfig is also given', 'drop one of them: standalone mode talks to no apiserver');
  }

  const runtimeType = oneOf('runtime.type', RuntimeTypes, 'docker');
  const endpoint = str('runtime.endpoint') ?? configDefaults.runtimeEndpoints[runtimeType];
  if (!/^unix:\/\/\/.+/.test(endpoint)) {
    add('runtime.endpoint', `"${endpoint}" is not a unix socket endpoint`, 'write it as unix:///path/to/socket, e.g. unix:///var/run/docker.sock');
  }
  const requestTimeoutMs = duration('runtime.requestTimeout', configDefaults.runtimeRequestTimeout, 1000);

  const cidrField = (path: string): string | undefined => {
    const text = str(path);
    if (text === undefined) return undefined;
    const parsed = parseCidr(text);
    if (!parsed.ok) {
      add(path, parsed.error, `set ${path} to a network address with its prefix, e.g. 10.244.1.0/24`);
      return undefined;
    }
    if (parsed.cidr.prefix > 30) {
      add(path, `"${text}" leaves no room for pods`, `use a prefix of /30 or shorter (a /24 gives 254 addresses)`);
      return undefined;
    }
    return text;
  };
  const podCIDR = cidrField('podCIDR');
  const clusterCIDR = cidrField('clusterCIDR');
  if (podCIDR !== undefined && clusterCIDR !== undefined) {
    const pod = parseCidr(podCIDR);
    const cluster = parseCidr(clusterCIDR);
    if (pod.ok && cluster.ok && !(cidrsOverlap(pod.cidr, cluster.cidr) && pod.cidr.prefix >= cluster.cidr.prefix)) {
      add('podCIDR', `${podCIDR} is not inside clusterCIDR ${clusterCIDR}`, 'pick a podCIDR inside the cluster CIDR, or fix clusterCIDR');
    }
  }
  if (podCIDR !== undefined && nodeIP !== undefined) {
    const pod = parseCidr(podCIDR);
    const ip = parseIpv4(nodeIP);
    if (pod.ok && ip !== undefined && cidrsOverlap(pod.cidr, { network: ip, prefix: 32 })) {
      add('podCIDR', `${podCIDR} contains the node IP ${nodeIP}`, 'pods and nodes need separate networks: pick a podCIDR away from the node network');
    }
  }

  const networkMode = oneOf('network.mode', NetworkModes, configDefaults.networkMode);
  const networkMtu = num('network.mtu', 0, 0, 65_535);
  if (networkMtu !== 0 && networkMtu < 576) add('network.mtu', `${networkMtu} is too small`, 'leave it out (0) to follow the node interface, or use at least 576');
  const vxlanPort = num('network.vxlanPort', configDefaults.vxlanPort, 1, 65_535);
  const disableGC = bool('network.disableGC', false);
  const clusterDNSRaw = lookup(input, 'clusterDNS');
  const clusterDNS: string[] = [];
  if (clusterDNSRaw !== undefined) {
    const list = typeof clusterDNSRaw === 'string' ? clusterDNSRaw.split(',').filter(Boolean) : clusterDNSRaw;
    if (!Array.isArray(list) || list.some((ip) => typeof ip !== 'string' || parseIpv4(ip.trim()) === undefined)) {
      add('clusterDNS', `${JSON.stringify(clusterDNSRaw)} is not a list of IPv4 addresses`, 'write the cluster DNS service IPs, e.g. [10.96.0.10]');
    } else {
      clusterDNS.push(...(list as string[]).map((ip) => ip.trim()));
    }
  }
  const clusterDomain = str('clusterDomain') ?? configDefaults.clusterDomain;
  if (!dnsSubdomain.test(clusterDomain)) add('clusterDomain', `"${clusterDomain}" is not a DNS domain`, 'use e.g. cluster.local');

  const dir = (key: keyof AgentConfig['directories']): string => {
    const path = `directories.${key}`;
    const value = str(path) ?? configDefaults.directories[key];
    if (!value.startsWith('/')) add(path, `"${value}" is not an absolute path`, `write ${path} as an absolute path`);
    return value;
  };
  const directories = { root: dir('root'), logs: dir('logs'), containerLogs: dir('containerLogs'), manifests: dir('manifests'), cniBin: dir('cniBin'), cniConf: dir('cniConf') };

  const nodeLabels: Record<string, string> = {};
  const labelsRaw = lookup(input, 'nodeLabels');
  if (labelsRaw !== undefined && labelsRaw !== null) {
    if (typeof labelsRaw !== 'object' || Array.isArray(labelsRaw)) {
      add('nodeLabels', 'must be a map of label keys to values', 'write nodeLabels as key: value pairs');
    } else {
      for (const [key, value] of Object.entries(labelsRaw)) {
        if (typeof value !== 'string' || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value) || value.length > 63) {
          add(`nodeLabels.${key}`, `value ${JSON.stringify(value)} is not a valid label value`, 'use up to 63 letters, digits, "-", "_" or "."');
        } else {
          nodeLabels[key] = value;
        }
      }
    }
  }

  const registerWithTaints: Taint[] = [];
  const taintsRaw = lookup(input, 'registerWithTaints');
  if (taintsRaw !== undefined && taintsRaw !== null) {
    if (!Array.isArray(taintsRaw)) {
      add('registerWithTaints', 'must be a list', 'write a list of {key, value, effect}');
    } else {
      taintsRaw.forEach((raw: unknown, index) => {
        const taint = raw as Partial<Taint> | null;
        const effects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
        if (!taint || typeof taint.key !== 'string' || !effects.includes(String(taint.effect))) {
          add(`registerWithTaints[${index}]`, 'needs a key and an effect', `effect is one of ${effects.join(', ')}`);
        } else {
          registerWithTaints.push({ key: taint.key, effect: taint.effect as Taint['effect'], ...(typeof taint.value === 'string' ? { value: taint.value } : {}) });
        }
      });
    }
  }

  const evictionHard = { ...configDefaults.evictionHard } as AgentConfig['evictionHard'];
  for (const key of Object.keys(evictionHard) as (keyof AgentConfig['evictionHard'])[]) {
    // Threshold names contain dots, so they are looked up as one key.
    const value = str(`evictionHard.${key}`, ['evictionHard', key]);
    if (value === undefined) continue;
    if (parseThreshold(value) === undefined) {
      add(`evictionHard.${key}`, `"${value}" is not a quantity or a percentage`, 'write it like "100Mi" or "10%"');
    } else {
      evictionHard[key] = value;
    }
  }
  const systemReserved: AgentConfig['systemReserved'] = {};
  for (const key of ['cpu', 'memory', 'ephemeral-storage'] as const) {
    const value = str(`systemReserved.${key}`);
    if (value === undefined) continue;
    if (key === 'cpu' ? !/^[0-9]+(\.[0-9]+)?m?$/.test(value) : parseQuantity(value) === undefined) {
      add(`systemReserved.${key}`, `"${value}" is not a quantity`, key === 'cpu' ? 'write it like "500m" or "1"' : 'write it like "512Mi"');
    } else {
      systemReserved[key] = value;
    }
  }

  const kernelMonitor = {
    enabled: bool('problemDetector.kernelMonitor.enabled', true),
    logPath: str('problemDetector.kernelMonitor.logPath') ?? configDefaults.kmsgPath,
    rulesFile: str('problemDetector.kernelMonitor.rulesFile'),
  };
  for (const [key, path] of [['logPath', kernelMonitor.logPath], ['rulesFile', kernelMonitor.rulesFile]] as const) {
    if (path !== undefined && !path.startsWith('/')) add(`problemDetector.kernelMonitor.${key}`, `"${path}" is not an absolute path`, 'write it as an absolute path');
  }

  const customPluginMonitors: string[] = [];
  const pluginFiles = lookup(input, 'problemDetector.customPluginMonitors');
  if (pluginFiles !== undefined && pluginFiles !== null) {
    if (!Array.isArray(pluginFiles) || pluginFiles.some((f) => typeof f !== 'string' || !f.startsWith('/'))) {
      add('problemDetector.customPluginMonitors', `${JSON.stringify(pluginFiles)} is not a list of absolute paths`, 'list the monitor files, e.g. [/etc/node-agent/monitors/ntp.json]');
    } else {
      customPluginMonitors.push(...(pluginFiles as string[]));
    }
  }

  const pathOrUndefined = (key: string): string | undefined => {
    const value = str(key);
    if (value !== undefined && !value.startsWith('/')) add(key, `"${value}" is not an absolute path`, 'write it as an absolute path');
    return value;
  };
  const tlsCertFile = pathOrUndefined('tlsCertFile');
  const tlsPrivateKeyFile = pathOrUndefined('tlsPrivateKeyFile');
  if ((tlsCertFile === undefined) !== (tlsPrivateKeyFile === undefined)) {
    add(tlsCertFile ? 'tlsPrivateKeyFile' : 'tlsCertFile', 'is needed with the other one', 'set both tlsCertFile and tlsPrivateKeyFile, or neither (a self-signed certificate is made)');
  }
  const address = str('address') ?? configDefaults.address;
  if (parseIpv4(address) === undefined) add('address', `"${address}" is not an IPv4 address`, 'use 0.0.0.0 (all addresses) or the node IP');
  const authentication = {
    anonymous: bool('authentication.anonymous.enabled', false),
    webhook: { enabled: bool('authentication.webhook.enabled', true), cacheTTLMs: duration('authentication.webhook.cacheTTL', configDefaults.authnCacheTTL, 0) },
    x509: { clientCAFile: pathOrUndefined('authentication.x509.clientCAFile') },
  };
  const authorization = {
    mode: oneOf('authorization.mode', ['Webhook', 'AlwaysAllow'] as const, 'Webhook'),
    webhook: {
      cacheAuthorizedTTLMs: duration('authorization.webhook.cacheAuthorizedTTL', configDefaults.authzCacheAuthorizedTTL, 0),
      cacheUnauthorizedTTLMs: duration('authorization.webhook.cacheUnauthorizedTTL', configDefaults.authzCacheUnauthorizedTTL, 0),
    },
  };

  const statusUpdate = duration('nodeStatusUpdateFrequency', configDefaults.nodeStatusUpdateFrequency, 1000);
  const statusReport = duration('nodeStatusReportFrequency', configDefaults.nodeStatusReportFrequency, 1000);
  const leaseSeconds = num('nodeLeaseDurationSeconds', configDefaults.nodeLeaseDurationSeconds, 4, 3600);
  const config: AgentConfig = {
    nodeName: nodeName ?? '',
    nodeIP: nodeIP ?? '',
    hostname: str('hostname') ?? env.hostname ?? osHostname(),
    kubeconfig: standalone ? undefined : kubeconfig,
    standalone,
    runtime: { type: runtimeType, endpoint, requestTimeoutMs },
    podCIDR,
    clusterCIDR,
    network: { mode: networkMode, mtu: networkMtu, vxlanPort, disableGC },
    clusterDNS,
    clusterDomain,
    resolvConf: str('resolvConf') ?? configDefaults.resolvConf,
    directories,
    nodeLabels,
    registerWithTaints,
    maxPods: num('maxPods', configDefaults.maxPods, 1, 10_000),
    port: num('port', configDefaults.port, 0, 65_535),
    address,
    tlsCertFile,
    tlsPrivateKeyFile,
    authentication,
    authorization,
    healthz: { bindAddress: str('healthzBindAddress') ?? configDefaults.healthzBindAddress, port: num('healthzPort', configDefaults.healthzPort, 0, 65_535) },
    nodeStatusUpdateFrequencyMs: statusUpdate,
    nodeStatusReportFrequencyMs: Math.max(statusReport, statusUpdate),
    nodeLeaseDurationSeconds: leaseSeconds,
    evictionHard,
    systemReserved,
    log: { format: oneOf('log.format', LogFormats, configDefaults.logFormat), level: oneOf('log.level', LogLevels, configDefaults.logLevel) },
    problemDetector: { kernelMonitor, customPluginMonitors },
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config };
}

/** Reads "a.b.c" from nested objects; undefined when any step is missing. */
function lookup(input: ConfigInput, path: string, keys = path.split('.')): unknown {
  let current: unknown = input;
  for (const key of keys) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

export function formatProblems(problems: ConfigProblem[], source: string): string {
  const lines = problems.map((p) => `  - ${p.field}: ${p.problem}. Fix: ${p.fix}.`);
  return `node-agent: the configuration${source ? ` (${source})` : ''} is not valid:\n${lines.join('\n')}`;
}
