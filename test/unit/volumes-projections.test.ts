import { describe, expect, it } from 'vitest';
import type { V1Pod, V1ProjectedVolumeSource } from '@kubernetes/client-node';
import {
  configMapPayload,
  downwardAPIPayload,
  formatMap,
  goQuote,
  podFieldValue,
  projectedPayload,
  projectedReferences,
  resourceFieldValue,
  secretPayload,
  tokenKey,
  tokenSpec,
  type Payload,
} from '../../src/volumes/projections.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const text = (p: Payload) => Object.fromEntries([...p].map(([k, v]) => [k, v.data.toString('utf8')]));
const modes = (p: Payload) => Object.fromEntries([...p].map(([k, v]) => [k, v.mode.toString(8)]));
const allocatable = { cpu: '4', memory: '8Gi' };

const pod: V1Pod = {
  metadata: {
    name: 'web-0',
    namespace: 'shop',
    uid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
    labels: { tier: 'front', app: 'web', 'example.com/zone': 'a "b" \\ c' },
    annotations: { note: 'line1\nline2', empty: '' },
  },
  spec: {
    serviceAccountName: 'builder',
    containers: [
      { name: 'app', image: 'x', resources: { limits: { cpu: '250m', memory: '64Mi' }, requests: { cpu: '100m' } } },
      { name: 'bare', image: 'x' },
      { name: 'limited', image: 'x', resources: { limits: { cpu: '0.1', memory: '1G' } } },
    ],
    initContainers: [{ name: 'init', image: 'x', resources: { requests: { memory: '10Mi' } } }],
  },
};

describe('configMap payload', () => {
  const cm = { metadata: { name: 'app-config' }, data: { 'app.conf': 'x=1\n', key2: 'two' }, binaryData: { 'logo.bin': Buffer.from([0, 1, 255]).toString('base64') } };

  it('without items: every key of data and binaryData, mode defaultMode or 0644', () => {
    const p = configMapPayload('app-config', {}, cm, undefined);
    expect(text(p)).toMatchObject({ 'app.conf': 'x=1\n', key2: 'two' });
    expect(p.get('logo.bin')?.data).toEqual(Buffer.from([0, 1, 255]));
    expect(modes(p)).toEqual({ 'app.conf': '644', key2: '644', 'logo.bin': '644' });
    expect(modes(configMapPayload('app-config', {}, cm, 0o440))).toEqual({ 'app.conf': '440', key2: '440', 'logo.bin': '440' });
  });

  it('items select keys to paths, with their own modes', () => {
    const p = configMapPayload('app-config', { items: [{ key: 'app.conf', path: 'etc/app.conf', mode: 0o600 }, { key: 'logo.bin', path: 'logo' }] }, cm, 0o444);
    expect([...p.keys()]).toEqual(['etc/app.conf', 'logo']);
    expect(modes(p)).toEqual({ 'etc/app.conf': '600', logo: '444' });
  });

  it('missing configMap or key: kubelet errors, or nothing when optional', () => {
    expect(() => configMapPayload('app-config', {}, undefined, undefined)).toThrow(/^configmap "app-config" not found$/);
    expect(configMapPayload('app-config', { optional: true }, undefined, undefined).size).toBe(0);
    const items = [{ key: 'key1', path: 'k1' }, { key: 'key2', path: 'k2' }];
    expect(() => configMapPayload('app-config', { items }, cm, undefined)).toThrow(/^configmap references non-existent config key: key1$/);
    expect(text(configMapPayload('app-config', { items, optional: true }, cm, undefined))).toEqual({ k2: 'two' });
  });
});

describe('secret payload', () => {
  const secret = { data: { password: b64('hunter2'), 'tls.key': b64('KEY') } };

  it('decodes base64 data; defaultMode and item modes apply', () => {
    expect(text(secretPayload('db', {}, secret, 0o400))).toEqual({ password: 'hunter2', 'tls.key': 'KEY' });
    expect(modes(secretPayload('db', {}, secret, undefined))).toEqual({ password: '644', 'tls.key': '644' });
    const p = secretPayload('db', { items: [{ key: 'tls.key', path: 'key.pem', mode: 0o400 }] }, secret, undefined);
    expect(text(p)).toEqual({ 'key.pem': 'KEY' });
    expect(modes(p)).toEqual({ 'key.pem': '400' });
  });

  it('missing secret or key', () => {
    expect(() => secretPayload('x', {}, undefined, undefined)).toThrow(/^secret "x" not found$/);
    expect(secretPayload('x', { optional: true }, undefined, undefined).size).toBe(0);
    expect(() => secretPayload('db', { items: [{ key: 'nope', path: 'n' }] }, secret, undefined)).toThrow(/^references non-existent secret key: nope$/);
    expect(secretPayload('db', { items: [{ key: 'nope', path: 'n' }], optional: true }, secret, undefined).size).toBe(0);
  });
});

describe('downward API', () => {
  it('labels and annotations as sorted key="value" lines, quoted as Go %q does', () => {
    expect(podFieldValue(pod, 'metadata.labels')).toBe('app="web"\nexample.com/zone="a \\"b\\" \\\\ c"\ntier="front"');
    expect(podFieldValue(pod, 'metadata.annotations')).toBe('empty=""\nnote="line1\\nline2"');
    expect(formatMap(undefined)).toBe('');
    expect(goQuote('tab\there\x01\x7fé€😀\u200b')).toBe('"tab\\there\\x01\\x7fé€😀\\u200b"');
  });

  it('metadata fields, subscripts, and kubelet errors for the rest', () => {
    expect(podFieldValue(pod, 'metadata.name')).toBe('web-0');
    expect(podFieldValue(pod, 'metadata.namespace')).toBe('shop');
    expect(podFieldValue(pod, 'metadata.uid')).toBe('1b4e28ba-2fa1-11d2-883f-0016d3cca427');
    expect(podFieldValue(pod, "metadata.labels['tier']")).toBe('front');
    expect(podFieldValue(pod, "metadata.annotations['missing']")).toBe('');
    expect(() => podFieldValue(pod, 'spec.nodeName')).toThrow(/^unsupported fieldPath: spec.nodeName$/);
  });

  it('resourceFieldRef: divisors, rounding up, node allocatable for missing limits', () => {
    const r = (containerName: string, resource: string, divisor?: string) => resourceFieldValue(pod, { containerName, resource, ...(divisor ? { divisor } : {}) }, allocatable);
    expect(r('app', 'limits.cpu')).toBe('1'); // 250m rounded up to whole cores
    expect(r('app', 'limits.cpu', '1m')).toBe('250');
    expect(r('app', 'requests.cpu', '1m')).toBe('100');
    expect(r('app', 'limits.memory')).toBe(String(64 * 2 ** 20));
    expect(r('app', 'limits.memory', '1Mi')).toBe('64');
    expect(r('app', 'limits.memory', '1M')).toBe('68'); // 67.1 MB rounded up
    expect(r('app', 'requests.memory')).toBe(String(64 * 2 ** 20)); // requests default to limits
    expect(r('bare', 'requests.memory')).toBe('0');
    expect(r('bare', 'limits.cpu')).toBe('4');
    expect(r('bare', 'limits.memory', '1Gi')).toBe('8');
    expect(r('limited', 'limits.cpu', '1m')).toBe('100'); // 0.1 exactly, not 101
    expect(r('limited', 'requests.memory')).toBe('1000000000'); // requests default to limits
    expect(r('init', 'requests.memory', '1Mi')).toBe('10');
    expect(r('app', 'limits.cpu', '0')).toBe('1');
    expect(() => r('ghost', 'limits.cpu')).toThrow(/^container ghost not found$/);
    expect(() => r('app', 'limits.gpu')).toThrow(/unsupported container resource : limits.gpu/);
  });

  it('items with modes; every failing item reported, aggregated', () => {
    const p = downwardAPIPayload(
      pod,
      [
        { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
        { path: 'cpu_limit', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu', divisor: '1m' }, mode: 0o400 },
      ],
      undefined,
      allocatable,
    );
    expect(text(p).cpu_limit).toBe('250');
    expect(modes(p)).toEqual({ labels: '644', cpu_limit: '400' });
    expect(() =>
      downwardAPIPayload(pod, [{ path: 'a', fieldRef: { fieldPath: 'status.podIP' } }, { path: 'b', fieldRef: { fieldPath: 'spec.nodeName' } }], 0o644, allocatable),
    ).toThrow('[unsupported fieldPath: status.podIP, unsupported fieldPath: spec.nodeName]');
  });
});

describe('projected volumes', () => {
  // What the ServiceAccount admission plugin adds to every pod.
  const kubeApiAccess: V1ProjectedVolumeSource = {
    defaultMode: 0o644,
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
    ],
  };

  it('kube-api-access: token, ca.crt and namespace', () => {
    const refs = projectedReferences(pod, kubeApiAccess);
    expect([...refs.configMaps]).toEqual(['kube-root-ca.crt']);
    expect(refs.tokens).toEqual([{ serviceAccountName: 'builder', audience: undefined, expirationSeconds: 3607 }]);
    const p = projectedPayload(pod, kubeApiAccess, {
      configMaps: new Map([['kube-root-ca.crt', { data: { 'ca.crt': 'PEM' } }]]),
      secrets: new Map(),
      tokens: new Map([[tokenKey(refs.tokens[0]!), 'eyJhbGciOi']]),
      nodeAllocatable: allocatable,
    });
    expect(text(p)).toEqual({ token: 'eyJhbGciOi', 'ca.crt': 'PEM', namespace: 'shop' });
    expect(modes(p)).toEqual({ token: '644', 'ca.crt': '644', namespace: '644' });
  });

  it('token defaults and limits', () => {
    expect(tokenSpec(pod, { path: 't' }).expirationSeconds).toBe(3600);
    expect(tokenSpec(pod, { path: 't', audience: 'vault' }).audience).toBe('vault');
    expect(tokenSpec({ spec: { containers: [] } }, { path: 't' }).serviceAccountName).toBe('default');
    expect(() => tokenSpec(pod, { path: 't', expirationSeconds: 599 })).toThrow(/may not specify a duration less than 10 minutes/);
  });

  it('declared paths that collide are an error; whole-object keys: the later source wins', () => {
    const clash: V1ProjectedVolumeSource = {
      sources: [{ configMap: { name: 'a', items: [{ key: 'k', path: 'same' }] } }, { secret: { name: 's', items: [{ key: 'k', path: 'same' }] } }],
    };
    const inputs = { configMaps: new Map([['a', { data: { k: 'cm' } }]]), secrets: new Map([['s', { data: { k: b64('sec') } }]]), tokens: new Map(), nodeAllocatable: allocatable };
    expect(() => projectedPayload(pod, clash, inputs)).toThrow(/^conflicting duplicate paths: same$/);
    const whole: V1ProjectedVolumeSource = { defaultMode: 0o400, sources: [{ configMap: { name: 'a' } }, { secret: { name: 's' } }] };
    const p = projectedPayload(pod, whole, inputs);
    expect(text(p)).toEqual({ k: 'sec' });
    expect(modes(p)).toEqual({ k: '400' });
  });

  it('errors of all sources together; optional sources may be missing', () => {
    const source: V1ProjectedVolumeSource = {
      sources: [{ configMap: { name: 'gone' } }, { secret: { name: 'maybe', optional: true } }, { serviceAccountToken: { path: 'token' } }],
    };
    const key = tokenKey(tokenSpec(pod, { path: 'token' }));
    expect(() =>
      projectedPayload(pod, source, { configMaps: new Map(), secrets: new Map(), tokens: new Map(), tokenErrors: new Map([[key, 'serviceaccounts "builder" not found']]), nodeAllocatable: allocatable }),
    ).toThrow('[configmap "gone" not found, serviceaccounts "builder" not found]');
  });
});
