import type { V1Pod } from '@kubernetes/client-node';

/**
 * A pod's resolv.conf, decided as kubelet does (pkg/kubelet/network/dns). Pure.
 *
 * - ClusterFirst (the default): the cluster DNS servers, searches `<ns>.svc.<domain>`,
 *   `svc.<domain>`, `<domain>` then the node's own, and `ndots:5`. Host-network pods use the
 *   node's settings instead, unless the policy is ClusterFirstWithHostNet. With no cluster DNS
 *   configured, ClusterFirst falls back to the node's settings and says so (MissingClusterDNS).
 * - Default: the node's resolv.conf.
 * - None: only what `spec.dnsConfig` gives.
 * `spec.dnsConfig` is then merged in: servers and searches appended without duplicates, options
 * overriding by name. Limits as kubelet's: 3 nameservers, 32 search domains.
 */

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface ClusterDns {
  servers: string[];
  domain: string;
}

export const MAX_NAMESERVERS = 3;
export const MAX_SEARCHES = 32;

export interface PodDnsDecision {
  config: DnsConfig;
  /** Warnings for the pod's events: [reason, message]. */
  warnings: [string, string][];
}

export function parseResolvConf(text: string): DnsConfig {
  const out: DnsConfig = { servers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...values] = line.split(/\s+/);
    if (key === 'nameserver' && values[0]) out.servers.push(values[0]);
    // The last search/domain line wins, as the resolver reads it.
    else if (key === 'search' || key === 'domain') out.searches = values;
    else if (key === 'options') out.options.push(...values);
  }
  return out;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

function mergeOptions(base: string[], extra: { name?: string; value?: string }[]): string[] {
  const byName = new Map<string, string>();
  for (const o of base) byName.set(o.split(':')[0] ?? o, o);
  for (const o of extra) {
    if (!o.name) continue;
    byName.set(o.name, o.value !== undefined && o.value !== '' ? `${o.name}:${o.value}` : o.name);
  }
  return [...byName.values()];
}

export function podDnsConfig(pod: V1Pod, cluster: ClusterDns, host: DnsConfig): PodDnsDecision {
  const warnings: [string, string][] = [];
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  const hostNetwork = pod.spec?.hostNetwork ?? false;
  const namespace = pod.metadata?.namespace ?? 'default';

  let useCluster = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !hostNetwork);
  if (useCluster && cluster.servers.length === 0) {
    warnings.push([
      'MissingClusterDNS',
      `pod: "${pod.metadata?.name ?? ''}_${namespace}(${pod.metadata?.uid ?? ''})". kubelet does not have ClusterDNS IP configured and cannot create Pod using "${policy}" policy. Falling back to "Default" policy.`,
    ]);
    useCluster = false;
  }

  let config: DnsConfig;
  if (policy === 'None') config = { servers: [], searches: [], options: [] };
  else if (useCluster) {
    const d = cluster.domain;
    config = {
      servers: [...cluster.servers],
      searches: unique([`${namespace}.svc.${d}`, `svc.${d}`, d, ...host.searches]),
      options: ['ndots:5'],
    };
  } else config = { servers: [...host.servers], searches: [...host.searches], options: [...host.options] };

  const extra = pod.spec?.dnsConfig;
  if (extra) {
    config = {
      servers: unique([...config.servers, ...(extra.nameservers ?? [])]),
      searches: unique([...config.searches, ...(extra.searches ?? [])]),
      options: mergeOptions(config.options, extra.options ?? []),
    };
  }
  if (config.servers.length > MAX_NAMESERVERS) {
    warnings.push([
      'DNSConfigForming',
      `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${config.servers.slice(0, MAX_NAMESERVERS).join(' ')}`,
    ]);
    config.servers = config.servers.slice(0, MAX_NAMESERVERS);
  }
  if (config.searches.length > MAX_SEARCHES) {
    warnings.push(['DNSConfigForming', `Search Line limits were exceeded, some search paths have been omitted`]);
    config.searches = config.searches.slice(0, MAX_SEARCHES);
  }
  return { config, warnings };
}

export function resolvConfText(config: DnsConfig): string {
  const lines: string[] = [];
  if (config.searches.length > 0) lines.push(`search ${config.searches.join(' ')}`);
  for (const s of config.servers) lines.push(`nameserver ${s}`);
  if (config.options.length > 0) lines.push(`options ${config.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
