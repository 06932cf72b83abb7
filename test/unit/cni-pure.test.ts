import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../cni/conf.ts';
import { parseCniArgs, parseCniEnv, validIfname } from '../../cni/env.ts';
import { inRange, ipRange, macForIp, nextFreeIp, rangeCapacity } from '../../cni/ip-range.ts';
import { CniError } from '../../cni/types.ts';
import { podRulesRestoreInput } from '../../src/net/masquerade.ts';

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof CniError ? err.cniCode : -1;
  }
}

describe('IP range', () => {
  const range = ipRange('10.244.1.0/24', '10.244.1.1');

  it('excludes network, gateway and broadcast', () => {
    expect(rangeCapacity(range)).toBe(253);
    expect(inRange(range, 0x0af40100)).toBe(false); // .0
    expect(inRange(range, 0x0af40101)).toBe(false); // gateway
    expect(inRange(range, 0x0af401ff)).toBe(false); // broadcast
    expect(inRange(range, 0x0af40102)).toBe(true);
  });

  it('continues after the last reservation and wraps, skipping used addresses', () => {
    expect(nextFreeIp(range, new Set())).toBe('10.244.1.2');
    expect(nextFreeIp(range, new Set(), '10.244.1.7')).toBe('10.244.1.8');
    expect(nextFreeIp(range, new Set(['10.244.1.8', '10.244.1.9']), '10.244.1.7')).toBe('10.244.1.10');
    expect(nextFreeIp(range, new Set(), '10.244.1.254')).toBe('10.244.1.2');
    // A last reservation outside the range (the CIDR changed) starts from the beginning.
    expect(nextFreeIp(range, new Set(), '10.9.9.9')).toBe('10.244.1.2');
  });

  it('says when the range is full', () => {
    const small = ipRange('10.0.0.0/30', '10.0.0.1');
    expect(nextFreeIp(small, new Set(['10.0.0.2']))).toBeUndefined();
  });

  it('derives the pod MAC from the IP', () => {
    expect(macForIp('10.244.1.2')).toBe('0a:58:0a:f4:01:02');
  });
});

describe('network configuration', () => {
  const base = { cniVersion: '1.0.0', name: 'net', type: 'node-agent-bridge', subnet: '10.244.1.0/24' };

  it('fills defaults: cni0, first address as gateway, MTU 1500', () => {
    const conf = parseNetConf(JSON.stringify(base), { requireSubnet: true });
    expect(conf).toMatchObject({ bridge: 'cni0', gateway: '10.244.1.1', mtu: 1500, dataDir: '/var/lib/cni/networks' });
  });

  it('maps each problem to the spec code', () => {
    const parse = (o: unknown) => () => parseNetConf(typeof o === 'string' ? o : JSON.stringify(o), { requireSubnet: true });
    expect(codeOf(parse('{'))).toBe(6);
    expect(codeOf(parse({ ...base, cniVersion: '0.4.0' }))).toBe(1);
    expect(codeOf(parse({ ...base, subnet: '10.244.1.5/24' }))).toBe(7);
    expect(codeOf(parse({ ...base, subnet: '' }))).toBe(7);
    expect(codeOf(parse({ ...base, gateway: '10.9.0.1' }))).toBe(7);
    expect(codeOf(parse({ ...base, mtu: 70000 }))).toBe(7);
    expect(codeOf(parse({ ...base, bridge: 'a-name-that-is-too-long' }))).toBe(7);
    expect(codeOf(parse({ ...base, name: '../etc' }))).toBe(7);
    // The owner becomes a line of an allocation file: a line break would forge another field.
    expect(codeOf(parse({ ...base, owner: 'docker\nnode-agent-docker' }))).toBe(7);
    expect(codeOf(parse({ ...base, owner: 7 }))).toBe(7);
    expect(parseNetConf(JSON.stringify({ ...base, owner: 'node-agent-docker' }), { requireSubnet: true }).owner).toBe('node-agent-docker');
    expect(parseNetConf(JSON.stringify(base), { requireSubnet: true }).owner).toBe('');
  });

  it('DEL and GC do not need a subnet; GC reads the valid attachments', () => {
    const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 't', 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }), { requireSubnet: false });
    expect(conf.validAttachments).toEqual([{ containerID: 'a', ifname: 'eth0' }]);
  });
});

describe('CNI environment', () => {
  it('requires container, netns and ifname for ADD, but not the netns for DEL', () => {
    const add = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/proc/1/ns/net', CNI_IFNAME: 'eth0' };
    expect(parseCniEnv(add).command).toBe('ADD');
    expect(codeOf(() => parseCniEnv({ ...add, CNI_NETNS: '' }))).toBe(4);
    expect(parseCniEnv({ ...add, CNI_COMMAND: 'DEL', CNI_NETNS: '' }).netns).toBe('');
    expect(codeOf(() => parseCniEnv({ ...add, CNI_CONTAINERID: '-bad' }))).toBe(4);
    expect(codeOf(() => parseCniEnv({ CNI_COMMAND: 'FROB' }))).toBe(4);
    expect(parseCniEnv({ CNI_COMMAND: 'VERSION' }).command).toBe('VERSION');
  });

  it('checks interface names and parses CNI_ARGS', () => {
    expect(validIfname('eth0')).toBe(true);
    expect(validIfname('a/b')).toBe(false);
    expect(validIfname('sixteen-chars-xx')).toBe(false);
    expect(parseCniArgs('K8S_POD_NAME=web;IgnoreUnknown=1')).toEqual({ K8S_POD_NAME: 'web', IgnoreUnknown: '1' });
    expect(codeOf(() => parseCniArgs('novalue'))).toBe(4);
  });
});

describe('masquerade rules', () => {
  it('returns early for pod-to-pod and masquerades the rest of the pod traffic', () => {
    const text = podRulesRestoreInput('10.244.1.0/24', '10.244.0.0/16');
    const nat = text.split('*filter')[0] ?? '';
    const lines = nat.split('\n').filter((l) => l.startsWith('-A'));
    expect(lines[0]).toMatch(/-s 10\.244\.1\.0\/24 -d 10\.244\.0\.0\/16 .* -j RETURN$/);
    expect(lines.at(-1)).toMatch(/-s 10\.244\.1\.0\/24 .*-j MASQUERADE/);
    expect(text).toContain('-A NODE-AGENT-FORWARD -d 10.244.0.0/16');
  });
});
