import { describe, expect, it } from 'vitest';
import { ApiException, type V1Lease } from '@kubernetes/client-node';
import { NodeLeaseController } from '../../src/node/lease-controller.ts';
import type { NodeApi } from '../../src/kube/node-api.ts';
import { silentLogger } from '../../src/log/logger.ts';

const status = (code: number, reason: string) => new ApiException(code, reason, JSON.stringify({ code, reason, message: reason }), {});

/** An in-memory lease store with the apiserver's resourceVersion rule. */
function fakeApi() {
  const leases = new Map<string, V1Lease>();
  let version = 1;
  const calls: string[] = [];
  const api: NodeApi = {
    createNode: () => Promise.reject(new Error('unused')),
    getNode: () => Promise.reject(new Error('unused')),
    patchNode: () => Promise.reject(new Error('unused')),
    patchNodeStatus: () => Promise.reject(new Error('unused')),
    getLease: async (_ns, name) => {
      calls.push('get');
      const lease = leases.get(name);
      if (!lease) throw status(404, 'NotFound');
      return structuredClone(lease);
    },
    createLease: async (_ns, lease) => {
      calls.push('create');
      const stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(version++) } };
      leases.set(lease.metadata!.name!, stored);
      return structuredClone(stored);
    },
    replaceLease: async (_ns, lease) => {
      calls.push('replace');
      const current = leases.get(lease.metadata!.name!);
      if (!current) throw status(404, 'NotFound');
      if (current.metadata?.resourceVersion !== lease.metadata?.resourceVersion) throw status(409, 'Conflict');
      const stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(version++) } };
      leases.set(lease.metadata!.name!, stored);
      return structuredClone(stored);
    },
  };
  return { api, leases, calls, bump: (name: string) => { leases.get(name)!.metadata!.resourceVersion = String(version++); } };
}

describe('NodeLeaseController', () => {
  const deps = (api: NodeApi) => ({ api, nodeName: 'worker-1', leaseDurationSeconds: 40, nodeUid: () => 'uid-1', server: 's', log: silentLogger(), now: () => new Date('2026-11-25T10:00:00Z') });

  it('renews every quarter of the lease duration', () => {
    expect(new NodeLeaseController(deps(fakeApi().api)).renewIntervalMs).toBe(10_000);
  });

  it('creates the lease owned by the Node, then renews it in place', async () => {
    const fake = fakeApi();
    const controller = new NodeLeaseController(deps(fake.api));
    const created = await controller.renewOnce();
    expect(created.spec).toMatchObject({ holderIdentity: 'worker-1', leaseDurationSeconds: 40 });
    expect(created.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: 'worker-1', uid: 'uid-1' }]);
    await controller.renewOnce();
    expect(fake.calls).toEqual(['get', 'create', 'replace']);
  });

  it('on a conflict forgets its copy and starts the next renewal from a fresh read', async () => {
    const fake = fakeApi();
    const controller = new NodeLeaseController(deps(fake.api));
    await controller.renewOnce();
    fake.bump('worker-1');
    await expect(controller.renewOnce()).rejects.toThrow();
    expect(controller.stats.conflicts).toBe(1);
    await controller.renewOnce();
    expect(fake.calls.slice(-2)).toEqual(['get', 'replace']);
  });
});
