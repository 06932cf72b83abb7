import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { admitPod, forbiddenSysctl, podRequest, type AdmissionNode } from '../../src/pods/admission.ts';

// The node's admission of pods bound to it, on plain objects, with kubelet's reasons and messages.
const node: AdmissionNode = { allocatable: { cpu: '2', memory: '4Gi', pods: '110' }, labels: { 'kubernetes.io/hostname': 'worker-1', disk: 'ssd' }, taints: [] };
const opts = { nodeName: 'worker-1', maxPods: 3 };
const pod = (spec: Partial<V1Pod['spec']> = {}, requests: Record<string, string> = {}): V1Pod => ({
  metadata: { name: 'p', namespace: 'default', uid: 'u' },
  spec: { containers: [{ name: 'c', image: 'i', resources: { requests } }], ...spec },
});

describe('admitPod', () => {
  it('maxPods: the pod after the last slot is OutOfpods', () => {
    expect(admitPod(pod(), [pod(), pod()], node, opts)).toEqual({ admit: true });
    expect(admitPod(pod(), [pod(), pod(), pod()], node, opts)).toEqual({ admit: false, reason: 'OutOfpods', message: "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3" });
    // Node allocatable pods lower than maxPods wins.
    expect(admitPod(pod(), [pod()], { ...node, allocatable: { ...node.allocatable, pods: '1' } }, opts)).toMatchObject({ reason: 'OutOfpods' });
  });

  it('cpu and memory requests against allocatable, beside what the active pods request', () => {
    expect(admitPod(pod({}, { cpu: '1000' }), [], node, opts)).toEqual({ admit: false, reason: 'OutOfcpu', message: "Node didn't have enough resource: cpu, requested: 1000000, used: 0, capacity: 2000" });
    expect(admitPod(pod({}, { cpu: '1500m' }), [pod({}, { cpu: '600m' })], node, opts)).toEqual({ admit: false, reason: 'OutOfcpu', message: "Node didn't have enough resource: cpu, requested: 1500, used: 600, capacity: 2000" });
    expect(admitPod(pod({}, { memory: '5Gi' }), [], node, opts)).toEqual({ admit: false, reason: 'OutOfmemory', message: `Node didn't have enough resource: memory, requested: ${5 * 2 ** 30}, used: 0, capacity: ${4 * 2 ** 30}` });
    expect(admitPod(pod({}, { cpu: '1', memory: '1Gi' }), [pod({}, { cpu: '500m' })], node, opts)).toEqual({ admit: true });
  });

  it('effective request: the larger of the containers\' sum and one init container, plus overhead; unset requests default to limits', () => {
    const p: V1Pod = {
      spec: {
        initContainers: [{ name: 'i', image: 'i', resources: { requests: { cpu: '3' } } }],
        containers: [{ name: 'a', image: 'i', resources: { requests: { cpu: '1' } } }, { name: 'b', image: 'i', resources: { limits: { cpu: '500m' } } }],
        overhead: { cpu: '250m' },
      },
    };
    expect(podRequest(p, 'cpu')).toBe(3.25);
    p.spec!.initContainers = [];
    expect(podRequest(p, 'cpu')).toBe(1.75);
  });

  it('nodeSelector and required node affinity: NodeAffinity', () => {
    const refused = { admit: false, reason: 'NodeAffinity', message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector" };
    expect(admitPod(pod({ nodeSelector: { disk: 'hdd' } }), [], node, opts)).toEqual(refused);
    expect(admitPod(pod({ nodeSelector: { disk: 'ssd' } }), [], node, opts)).toEqual({ admit: true });
    const affinity = (operator: string, values?: string[], key = 'disk') => pod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key, operator, ...(values ? { values } : {}) }] }] } } } });
    expect(admitPod(affinity('In', ['ssd', 'nvme']), [], node, opts)).toEqual({ admit: true });
    expect(admitPod(affinity('NotIn', ['ssd']), [], node, opts)).toEqual(refused);
    expect(admitPod(affinity('DoesNotExist'), [], node, opts)).toEqual(refused);
    expect(admitPod(affinity('Exists', undefined, 'gpu'), [], node, opts)).toEqual(refused);
    const byName = pod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-2'] }] }, { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-1'] }] }] } } } });
    expect(admitPod(byName, [], node, opts)).toEqual({ admit: true });
  });

  it('a NoExecute taint the pod does not tolerate: Taint; NoSchedule is the scheduler\'s business', () => {
    const tainted = { ...node, taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }, { key: 'x', effect: 'NoSchedule' }] };
    expect(admitPod(pod(), [], tainted, opts)).toEqual({ admit: false, reason: 'Taint', message: 'Predicate TaintToleration failed: node(s) had untolerated taint {dedicated: db}' });
    expect(admitPod(pod({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoExecute' }] }), [], tainted, opts)).toEqual({ admit: true });
    expect(admitPod(pod({ tolerations: [{ operator: 'Exists' }] }), [], tainted, opts)).toEqual({ admit: true });
    expect(admitPod(pod({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web' }] }), [], tainted, opts)).toMatchObject({ reason: 'Taint' });
  });

  it('sysctls: safe ones pass, unsafe ones need allowedUnsafeSysctls, host namespaces refuse theirs', () => {
    const sysctl = (name: string, spec: Partial<V1Pod['spec']> = {}) => pod({ securityContext: { sysctls: [{ name, value: '1' }] }, ...spec });
    expect(forbiddenSysctl(sysctl('net.ipv4.ip_unprivileged_port_start'), [])).toBeUndefined();
    expect(admitPod(sysctl('kernel.msgmax'), [], node, opts)).toEqual({ admit: false, reason: 'SysctlForbidden', message: 'forbidden sysctl: "kernel.msgmax" not allowlisted' });
    expect(forbiddenSysctl(sysctl('kernel.msgmax'), ['kernel.msg*'])).toBeUndefined();
    expect(forbiddenSysctl(sysctl('net.ipv4.tcp_syncookies', { hostNetwork: true }), [])).toBe('forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled');
    expect(forbiddenSysctl(sysctl('kernel.shm_rmid_forced', { hostIPC: true }), [])).toBe('forbidden sysctl: "kernel.shm_rmid_forced" not allowed with host ipc enabled');
  });
});
