import { describe, expect, it } from 'vitest';
import type { V1Container, V1Pod, V1VolumeMount } from '@kubernetes/client-node';
import { expand, resolveEnv, resourceValue, type EnvSources } from '../../src/pods/env.ts';
import { buildContainerConfig, containerResources, containerMounts, expandSubPathExpr } from '../../src/pods/container-config.ts';
import { isWithin } from '../../src/volumes/subpath-rules.ts';
import { staticPodFromManifest } from '../../src/pods/static-source.ts';

const pod: V1Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { app: 'web' }, annotations: { note: 'x' } },
  spec: { nodeName: 'worker-1', containers: [] },
};
const sources = (over: Partial<EnvSources> = {}): EnvSources => ({
  configMaps: new Map([['cm', { data: { a: '1', b: '2', 'bad key': 'z' } }]]),
  secrets: new Map([['s', { data: { pass: Buffer.from('hunter2').toString('base64') } }]]),
  nodeName: 'worker-1', hostIP: '192.168.56.11', podIP: '10.244.0.5',
  nodeAllocatable: { cpu: '2', memory: '1Gi' },
  ...over,
});
const env = (container: Partial<V1Container>, s = sources()) => resolveEnv(pod, { name: 'c', ...container }, s);

describe('resolveEnv', () => {
  it('envFrom with prefix first, then env overriding, $(VAR) expansion of earlier names', () => {
    const r = env({
      envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
      env: [{ name: 'CM_a', value: 'override' }, { name: 'BOTH', value: '$(CM_a)-$(CM_b)-$(NOPE)-$$(CM_a)' }],
    });
    expect(r).toEqual({ ok: true, env: [{ name: 'CM_a', value: 'override' }, { name: 'CM_b', value: '2' }, { name: 'BOTH', value: 'override-2-$(NOPE)-$(CM_a)' }] });
  });

  it('the downward API: fieldRef and resourceFieldRef', () => {
    const r = env({
      resources: { limits: { memory: '64Mi' }, requests: { cpu: '250m' } },
      env: [
        { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
        { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      ],
    });
    expect(r.ok && Object.fromEntries(r.env.map((e) => [e.name, e.value]))).toEqual({
      NAME: 'p', NS: 'ns', UID: 'u1', APP: 'web', NODE: 'worker-1', HOST_IP: '192.168.56.11', MEM_MI: '64', CPU_M: '250', CPU_LIMIT: '2',
    });
  });

  it('secrets are decoded; missing references fail with kubelet\'s words unless optional', () => {
    expect(env({ env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 's', key: 'pass' } } }] })).toEqual({ ok: true, env: [{ name: 'P', value: 'hunter2' }] });
    expect(env({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k' } } }] })).toEqual({ ok: false, message: 'configmap "gone" not found' });
    expect(env({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } }] })).toEqual({ ok: false, message: "couldn't find key k in ConfigMap ns/cm" });
    expect(env({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'gone', key: 'k' } } }] })).toEqual({ ok: false, message: 'secret "gone" not found' });
    expect(env({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'gone', key: 'k', optional: true } } }] })).toEqual({ ok: true, env: [] });
    expect(env({ envFrom: [{ configMapRef: { name: 'gone', optional: true } }] })).toEqual({ ok: true, env: [] });
  });

  it('expand leaves unknown references alone', () => {
    expect(expand('$(A) $(B) $$', new Map([['A', '1']]))).toBe('1 $(B) $');
    expect(resourceValue({ name: 'c' }, 'limits.memory', undefined, { cpu: '2', memory: '1Gi' })).toBe(String(2 ** 30));
  });
});

describe('container configuration', () => {
  it('maps requests and limits to cgroup settings with kubelet\'s formulas', () => {
    expect(containerResources({ name: 'c' })).toEqual({ cpuShares: 2 });
    expect(containerResources({ name: 'c', resources: { requests: { cpu: '250m' }, limits: { cpu: '500m', memory: '64Mi' } } })).toEqual({
      cpuShares: 256, cpuPeriod: 100_000, cpuQuota: 50_000, memoryLimitBytes: 64 * 2 ** 20,
    });
  });

  it('expands $(VAR) in command and args, and labels the container for adoption', () => {
    const spec: V1Container = { name: 'c', image: 'img', command: ['echo', '$(GREETING)'], args: ['$(MISSING)'] };
    const sandbox = { pod: { name: 'p', namespace: 'ns', uid: 'u1', attempt: 0 }, hostname: 'p', hostNetwork: false, shareProcessNamespace: false, labels: {}, annotations: {}, logDirectory: '/logs/ns_p_u1', portMappings: [], cgroupParent: '', security: { privileged: false, hostPID: false, hostIPC: false, sysctls: {} } };
    const config = buildContainerConfig({ ...pod, spec: { containers: [spec] } }, spec, 2, [{ name: 'GREETING', value: 'hi' }], [], sandbox);
    expect(config).toMatchObject({ command: ['echo', 'hi'], args: ['$(MISSING)'], attempt: 2, logPath: 'c/2.log' });
    expect(config.labels).toMatchObject({ 'io.kubernetes.pod.uid': 'u1', 'io.kubernetes.container.name': 'c' });
    expect(config.annotations['io.kubernetes.container.restartCount']).toBe('2');
  });

  it('mounts volumes by name; a subPath is left for the volume layer to bind, and its text is checked first', () => {
    const volumes = new Map([['v', { hostPath: '/var/lib/x', readOnly: false }]]);
    expect(containerMounts({ name: 'c', volumeMounts: [{ name: 'v', mountPath: '/all' }, { name: 'v', mountPath: '/data', subPath: 'sub', readOnly: true }] }, volumes)).toEqual({
      ok: true,
      mounts: [
        { hostPath: '/var/lib/x', containerPath: '/all', readOnly: false },
        { hostPath: '/var/lib/x', containerPath: '/data', readOnly: true, subPath: { volume: 'v', index: 1, path: 'sub' } },
      ],
    });
    const refused = (vm: Partial<V1VolumeMount>) => {
      const r = containerMounts({ name: 'c', volumeMounts: [{ name: 'v', mountPath: '/data', ...vm }] }, volumes, new Map([['POD', 'web-0'], ['EMPTY', '']]));
      return r.ok ? 'accepted' : r.message;
    };
    expect(refused({ subPath: '../etc' })).toBe(`failed to prepare subPath for volumeMount "v" of container "c": unable to provision SubPath \`../etc\`: must not contain '..'`);
    expect(refused({ subPath: 'a/../../etc' })).toContain("must not contain '..'");
    expect(refused({ subPath: '/etc' })).toContain('error SubPath `/etc` must not be an absolute path');
    expect(refused({ subPathExpr: '$(POD)/../..' })).toContain("must not contain '..'");
    expect(refused({ subPathExpr: '$(NOPE)/$(EMPTY)' })).toContain('missing value for EMPTY, NOPE');
    expect(refused({ subPath: 'a', subPathExpr: 'b' })).toContain('mutually exclusive');
    expect(refused({ subPath: 'a..b/..c' })).toBe('accepted'); // dots inside a name are no backstep
    expect(containerMounts({ name: 'c', volumeMounts: [{ name: 'v', mountPath: '/d', subPathExpr: 'logs/$(POD)' }] }, volumes, new Map([['POD', 'web-0']]))).toMatchObject({ ok: true, mounts: [{ subPath: { path: 'logs/web-0' } }] });
    expect(containerMounts({ name: 'c', volumeMounts: [{ name: 'nope', mountPath: '/data' }] }, volumes).ok).toBe(false);
  });

  it('expands subPathExpr as kubelet does: $$ escapes, every name needs a value', () => {
    const vars = new Map([['A', 'x'], ['B', '']]);
    expect(expandSubPathExpr('$(A)/$$(A)', vars)).toEqual({ ok: true, path: 'x/$(A)' });
    expect(expandSubPathExpr('$(B)', vars)).toEqual({ ok: false, message: 'missing value for B' });
    expect(isWithin('/v', '/v')).toBe(true);
    expect(isWithin('/v', '/v/a')).toBe(true);
    expect(isWithin('/v', '/vx')).toBe(false);
    expect(isWithin('/', '/etc')).toBe(true);
  });
});

describe('static pod manifests', () => {
  const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: img}]\n';
  it('get a stable uid from content and node, the node in their name, and file source annotations', () => {
    const a = staticPodFromManifest(text, '/m/web.yaml', 'worker-1');
    expect(a.metadata).toMatchObject({ name: 'web-worker-1', namespace: 'default', annotations: { 'kubernetes.io/config.source': 'file' } });
    expect(a.metadata?.uid).toMatch(/^[0-9a-f]{32}$/);
    expect(staticPodFromManifest(text, '/m/web.yaml', 'worker-1').metadata?.uid).toBe(a.metadata?.uid);
    expect(staticPodFromManifest(text + '# edit\n', '/m/web.yaml', 'worker-1').metadata?.uid).not.toBe(a.metadata?.uid);
    expect(a.spec).toMatchObject({ nodeName: 'worker-1', restartPolicy: 'Always' });
  });
  it('refuse what is not a pod', () => {
    expect(() => staticPodFromManifest('kind: Service\n', '/m/x.yaml', 'n')).toThrow(/not a Pod manifest/);
    expect(() => staticPodFromManifest('kind: Pod\nmetadata: {}\n', '/m/x.yaml', 'n')).toThrow(/metadata.name/);
  });
});
