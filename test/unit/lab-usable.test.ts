import { describe, expect, it } from 'vitest';
import { whatIsMissing } from '../../src/lab/cluster-usable.ts';

const ready = (name: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name },
  spec: { podCIDR: '10.244.0.0/24', ...extra },
  status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
});

describe('when lab up may return', () => {
  it('says nothing is missing once every worker is Ready with a podCIDR, untainted, and the default ServiceAccount exists', () => {
    expect(whatIsMissing(['worker-1', 'worker-2'], [ready('worker-1'), ready('worker-2')], true)).toEqual([]);
  });

  it('names each thing still missing', () => {
    const notReady = { metadata: { name: 'worker-1' }, spec: { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] }, status: { conditions: [{ type: 'Ready', status: 'False', message: 'container runtime network not ready' }] } };
    expect(whatIsMissing(['worker-1', 'worker-2'], [notReady], false)).toEqual([
      'worker-1: Ready=False (container runtime network not ready)',
      'worker-1: no podCIDR yet (kube-controller-manager assigns it)',
      'worker-1: tainted node.kubernetes.io/not-ready:NoSchedule',
      'worker-2: not registered',
      'the default ServiceAccount in namespace default (kube-controller-manager makes it)',
    ]);
    // Other taints are the operator's: they do not hold the lab back.
    expect(whatIsMissing(['worker-1'], [ready('worker-1', { taints: [{ key: 'dedicated', effect: 'NoSchedule' }] })], true)).toEqual([]);
  });
});
