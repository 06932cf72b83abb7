import { describe, expect, it } from 'vitest';
import { validateConfig, formatProblems } from '../../src/config/validate.ts';
import { mergeConfigInput } from '../../src/config/load.ts';

const minimal = { nodeName: 'worker-1', nodeIP: '192.168.56.11', kubeconfig: '/etc/node-agent/kubeconfig' };

function problems(input: Record<string, unknown>) {
  const result = validateConfig(input, { hostname: 'host' });
  return result.ok ? [] : result.problems;
}

describe('validateConfig', () => {
  it('accepts a minimal configuration and fills kubelet defaults', () => {
    const result = validateConfig(minimal, { hostname: 'host-a' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config).toMatchObject({
      nodeName: 'worker-1',
      hostname: 'host-a',
      maxPods: 110,
      port: 10250,
      nodeStatusUpdateFrequencyMs: 10_000,
      nodeStatusReportFrequencyMs: 300_000,
      nodeLeaseDurationSeconds: 40,
      runtime: { type: 'docker', endpoint: 'unix:///var/run/docker.sock' },
      network: { mode: 'host-gw' },
      log: { format: 'json', level: 'info' },
    });
  });

  it('names the fix for a missing node name', () => {
    const [problem] = problems({ ...minimal, nodeName: undefined });
    expect(problem?.field).toBe('nodeName');
    expect(problem?.fix).toContain('--node-name');
  });

  it('rejects node names the apiserver would refuse', () => {
    expect(problems({ ...minimal, nodeName: 'Worker_1' })[0]?.problem).toContain('not a valid Node name');
  });

  it('explains a CIDR with host bits set and gives the network', () => {
    const [problem] = problems({ ...minimal, podCIDR: '10.244.1.7/24' });
    expect(problem?.field).toBe('podCIDR');
    expect(problem?.problem).toContain('10.244.1.0/24');
  });

  it('rejects a garbage CIDR, an IPv6 one and a pod CIDR outside the cluster CIDR', () => {
    expect(problems({ ...minimal, podCIDR: 'ten' })[0]?.problem).toContain('not a CIDR');
    expect(problems({ ...minimal, podCIDR: 'ten/8' })[0]?.problem).toContain('not an IPv4 address');
    expect(problems({ ...minimal, podCIDR: 'fd00::/64' })[0]?.problem).toContain('IPv6');
    expect(problems({ ...minimal, podCIDR: '10.245.0.0/24', clusterCIDR: '10.244.0.0/16' })[0]?.problem).toContain('not inside');
  });

  it('rejects a pod CIDR that holds the node IP', () => {
    expect(problems({ ...minimal, nodeIP: '10.244.1.5', podCIDR: '10.244.1.0/24' })[0]?.problem).toContain('contains the node IP');
  });

  it('needs a kubeconfig unless standalone, and not both', () => {
    expect(problems({ nodeName: 'a', nodeIP: '10.0.0.1' })[0]?.fix).toContain('--standalone');
    expect(validateConfig({ nodeName: 'a', nodeIP: '10.0.0.1', standalone: true }).ok).toBe(true);
    expect(problems({ ...minimal, standalone: true })[0]?.field).toBe('standalone');
  });

  it('collects every problem at once', () => {
    const all = problems({ nodeIP: 'x', 'runtime': { type: 'rkt' }, network: { mode: 'flat' }, nodeStatusUpdateFrequency: 'often' });
    expect(all.map((p) => p.field).sort()).toEqual(['kubeconfig', 'network.mode', 'nodeIP', 'nodeName', 'nodeStatusUpdateFrequency', 'runtime.type']);
  });

  it('suggests the right spelling for a mistyped key', () => {
    const [problem] = problems({ ...minimal, nodename: 'x' });
    expect(problem?.fix).toBe('did you mean nodeName?');
  });

  it('refuses misspelt keys at any depth, naming the full path and the likely key', () => {
    const all = problems({
      ...minimal,
      network: { mode: 'vxlan', vxlanport: 4789 },
      runtime: { type: 'docker', endpiont: 'unix:///x' },
      registerWithTaints: [{ key: 'a', effect: 'NoSchedule', efect: 'NoExecute' }],
      evictionHard: { 'memory.available': '5%', 'imagefs.avialable': '15%' },
      log: { format: 'pretty', colour: true },
    });
    const byField = Object.fromEntries(all.map((p) => [p.field, p]));
    expect(Object.keys(byField).sort()).toEqual([
      'evictionHard.imagefs.avialable', 'log.colour', 'network.vxlanport', 'registerWithTaints[0].efect', 'runtime.endpiont',
    ]);
    expect(byField['network.vxlanport']).toMatchObject({ problem: 'is not a known setting', fix: 'did you mean network.vxlanPort?' });
    expect(byField['runtime.endpiont']?.fix).toBe('did you mean runtime.endpoint?');
    expect(byField['evictionHard.imagefs.avialable']?.fix).toBe('did you mean evictionHard.imagefs.available?');
    expect(byField['registerWithTaints[0].efect']?.fix).toBe('did you mean registerWithTaints[0].effect?');
    // Nothing near: the keys that are known there.
    expect(byField['log.colour']?.fix).toBe('remove it; known keys of log are format, level');
  });

  it('a setting that should hold keys but holds a value is refused; node labels keep free keys', () => {
    const [problem] = problems({ ...minimal, network: 'vxlan' });
    expect(problem).toMatchObject({ field: 'network', problem: 'must be a map of settings, got "vxlan"' });
    expect(problem?.fix).toContain('mode, mtu, vxlanPort, disableGC');
    expect(problems({ ...minimal, nodeLabels: { 'example.com/rack': 'r1', zone: 'a' } })).toEqual([]);
  });

  it('network.disableGC is read as a boolean, off by default', () => {
    const on = validateConfig({ ...minimal, network: { disableGC: true } });
    expect(on.ok && on.config.network.disableGC).toBe(true);
    const off = validateConfig(minimal);
    expect(off.ok && off.config.network.disableGC).toBe(false);
    expect(problems({ ...minimal, network: { disableGC: 'yes' } })[0]?.field).toBe('network.disableGC');
  });

  it('parses durations and thresholds', () => {
    const result = validateConfig({ ...minimal, nodeStatusUpdateFrequency: '1m30s', evictionHard: { 'memory.available': '5%' } });
    expect(result.ok && result.config.nodeStatusUpdateFrequencyMs).toBe(90_000);
    expect(result.ok && result.config.evictionHard['memory.available']).toBe('5%');
    expect(problems({ ...minimal, evictionHard: { 'memory.available': 'lots' } })[0]?.field).toBe('evictionHard.memory.available');
  });

  it('formats problems as one message with a fix per line', () => {
    const text = formatProblems(problems({}), 'agent.yaml');
    expect(text.split('\n')[0]).toContain('agent.yaml');
    expect(text).toMatch(/- nodeName: is missing\. Fix: /);
  });
});

describe('mergeConfigInput', () => {
  it('lays flags over nested file settings without touching siblings', () => {
    const merged = mergeConfigInput({ runtime: { type: 'docker', endpoint: 'unix:///a' }, nodeName: 'a' }, { 'runtime.endpoint': 'unix:///b', nodeName: undefined });
    expect(merged).toEqual({ runtime: { type: 'docker', endpoint: 'unix:///b' }, nodeName: 'a' });
  });
});
