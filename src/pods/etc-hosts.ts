import type { V1Pod } from '@kubernetes/client-node';

/**
 * The /etc/hosts kubelet manages for each pod (pkg/kubelet/kubelet_pods.go): the standard local
 * entries, the pod's own IP with its hostname (and FQDN when it has a subdomain), then the pod's
 * hostAliases. Host-network pods get the node's /etc/hosts followed by the aliases. Pure.
 */

export function managedHostsFile(pod: V1Pod, podIP: string, clusterDomain: string, nodeHosts: string): string {
  const aliases = (pod.spec?.hostAliases ?? [])
    .filter((a) => a.ip && (a.hostnames?.length ?? 0) > 0)
    .map((a) => `${a.ip}\t${(a.hostnames ?? []).join('\t')}`);
  const aliasBlock = aliases.length > 0 ? `\n# Entries added by HostAliases.\n${aliases.join('\n')}\n` : '';

  if (pod.spec?.hostNetwork) {
    const base = nodeHosts.endsWith('\n') || nodeHosts === '' ? nodeHosts : `${nodeHosts}\n`;
    return `# Kubernetes-managed hosts file (host network).\n${base}${aliasBlock}`;
  }
  const name = pod.metadata?.name ?? '';
  const hostname = (pod.spec?.hostname ?? name).slice(0, 63);
  const namespace = pod.metadata?.namespace ?? 'default';
  const subdomain = pod.spec?.subdomain;
  const self = podIP
    ? subdomain
      ? `${podIP}\t${hostname}.${subdomain}.${namespace}.svc.${clusterDomain}\t${hostname}\n`
      : `${podIP}\t${hostname}\n`
    : '';
  return (
    '# Kubernetes-managed hosts file.\n' +
    '127.0.0.1\tlocalhost\n' +
    '::1\tlocalhost ip6-localhost ip6-loopback\n' +
    'fe00::0\tip6-localnet\n' +
    'fe00::0\tip6-mcastprefix\n' +
    'fe00::1\tip6-allnodes\n' +
    'fe00::2\tip6-allrouters\n' +
    self +
    aliasBlock
  );
}
