import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { parseResolvConf, podDnsConfig, resolvConfText } from '../../src/pods/dns-config.ts';
import { managedHostsFile } from '../../src/pods/etc-hosts.ts';

const host = parseResolvConf('# node\nnameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch corp.example\noptions edns0\n');
const cluster = { servers: ['10.96.0.10'], domain: 'cluster.local' };
const pod = (spec: Record<string, unknown> = {}): V1Pod => ({ metadata: { name: 'web', namespace: 'shop', uid: 'u1' }, spec: { containers: [], ...spec } });

describe('pod DNS', () => {
  it('reads the node resolv.conf', () => {
    expect(host).toEqual({ servers: ['192.168.1.1', '192.168.1.2'], searches: ['corp.example'], options: ['edns0'] });
  });

  it('ClusterFirst: cluster servers, namespace searches then the node ones, ndots:5', () => {
    const { config, warnings } = podDnsConfig(pod(), cluster, host);
    expect(config).toEqual({
      servers: ['10.96.0.10'],
      searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example'],
      options: ['ndots:5'],
    });
    expect(warnings).toEqual([]);
    expect(resolvConfText(config)).toBe('search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n');
  });

  it('host network uses the node settings unless ClusterFirstWithHostNet', () => {
    expect(podDnsConfig(pod({ hostNetwork: true }), cluster, host).config.servers).toEqual(['192.168.1.1', '192.168.1.2']);
    expect(podDnsConfig(pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), cluster, host).config.servers).toEqual(['10.96.0.10']);
  });

  it('falls back to Default without cluster DNS, and says so', () => {
    const { config, warnings } = podDnsConfig(pod(), { servers: [], domain: 'cluster.local' }, host);
    expect(config.servers).toEqual(['192.168.1.1', '192.168.1.2']);
    expect(warnings[0]?.[0]).toBe('MissingClusterDNS');
  });

  it('None takes dnsConfig only; options override by name; nameservers capped at 3', () => {
    const spec = { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }, { name: 'rotate' }] } };
    expect(podDnsConfig(pod(spec), cluster, host).config).toEqual({ servers: ['1.1.1.1'], searches: ['a.example'], options: ['ndots:2', 'rotate'] });
    const many = podDnsConfig(pod({ dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3'], options: [{ name: 'ndots', value: '1' }] } }), cluster, host);
    expect(many.config.servers).toEqual(['10.96.0.10', '1.1.1.1', '2.2.2.2']);
    expect(many.config.options).toEqual(['ndots:1']);
    expect(many.warnings[0]?.[0]).toBe('DNSConfigForming');
  });
});

describe('managed /etc/hosts', () => {
  it('has the local entries, the pod IP with its hostname (FQDN with a subdomain) and host aliases', () => {
    const text = managedHostsFile(pod({ hostname: 'h', subdomain: 'svc', hostAliases: [{ ip: '10.1.1.1', hostnames: ['a', 'b'] }] }), '10.244.1.5', 'cluster.local', '');
    expect(text.startsWith('# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n')).toBe(true);
    expect(text).toContain('10.244.1.5\th.svc.shop.svc.cluster.local\th\n');
    expect(text).toContain('# Entries added by HostAliases.\n10.1.1.1\ta\tb\n');
  });

  it('host-network pods get the node file plus aliases', () => {
    const text = managedHostsFile(pod({ hostNetwork: true }), '192.168.56.11', 'cluster.local', '127.0.0.1 localhost\n192.168.56.11 worker-1');
    expect(text).toBe('# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.168.56.11 worker-1\n');
  });
});
