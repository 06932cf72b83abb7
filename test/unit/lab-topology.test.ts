import { describe, expect, it } from 'vitest';
import { defaultLabOptions, labTopology } from '../../src/lab/topology.ts';

describe('labTopology', () => {
  it('lays out the Vagrant addresses: host .1, control plane .10, workers from .11', () => {
    const t = labTopology({ ...defaultLabOptions, workers: 3 });
    expect(t.hostIP).toBe('192.168.56.1');
    expect(t.controlPlane.ip).toBe('192.168.56.10');
    expect(t.workers.map((w) => [w.name, w.ip, w.netns])).toEqual([
      ['worker-1', '192.168.56.11', 'nalab-worker-1'],
      ['worker-2', '192.168.56.12', 'nalab-worker-2'],
      ['worker-3', '192.168.56.13', 'nalab-worker-3'],
    ]);
    expect(t.apiserverURL).toBe('https://192.168.56.10:6443');
  });
  it('keeps link names within the kernel limit of 15 characters', () => {
    const t = labTopology({ ...defaultLabOptions, prefix: 'abcdef', workers: 50 });
    for (const name of [t.bridge, t.controlPlane.hostLink, ...t.workers.map((w) => w.hostLink)]) expect(name.length).toBeLessThanOrEqual(15);
  });
  it('refuses bad options with a clear message', () => {
    expect(() => labTopology({ ...defaultLabOptions, workers: 0 })).toThrow(/--nodes/);
    expect(() => labTopology({ ...defaultLabOptions, prefix: 'Bad-Prefix' })).toThrow(/prefix/);
  });
});
