import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { validatePod } from '../../src/pods/pod-validation.ts';
import { staticPodFromManifest } from '../../src/pods/static-source.ts';

// The apiserver's rules for the strings of a pod that reach paths and the runtime, checked on
// plain objects; the static pod source runs them before anything touches the disk.
const base = (): V1Pod => ({
  metadata: { name: 'web-worker-1', namespace: 'default' },
  spec: {
    volumes: [{ name: 'data', emptyDir: {} }, { name: 'conf', configMap: { name: 'c', items: [{ key: 'k', path: 'app/k.conf', mode: 0o640 }] } }],
    containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data', subPath: 'x/y' }], ports: [{ name: 'http', containerPort: 80 }], env: [{ name: 'A_B.c-d', value: '1' }] }],
  },
});

describe('validatePod', () => {
  it('a valid pod has no errors', () => {
    expect(validatePod(base())).toEqual([]);
  });

  it('a volume name that climbs out of the pod directory is refused with the apiserver\'s words', () => {
    const pod = base();
    pod.spec!.volumes![0]!.name = '../../../../../../../etc';
    pod.spec!.containers[0]!.volumeMounts![0]!.name = '../../../../../../../etc';
    expect(validatePod(pod)).toEqual([expect.stringMatching(/^spec\.volumes\[0\]\.name: Invalid value: "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc": a lowercase RFC 1123 label must consist of/)]);
  });

  it('names, namespaces, duplicates and references', () => {
    const pod = base();
    pod.metadata = { name: 'Web_1', namespace: '../kube-system' };
    pod.spec!.volumes!.push({ name: 'data', emptyDir: {} });
    pod.spec!.initContainers = [{ name: 'app', image: 'busybox' }];
    pod.spec!.containers.push({ name: 'x'.repeat(64), image: '' });
    pod.spec!.containers[0]!.volumeMounts!.push({ name: 'nope', mountPath: '/data' });
    const errors = validatePod(pod);
    expect(errors).toEqual(expect.arrayContaining([
      expect.stringMatching(/^metadata\.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain/),
      expect.stringMatching(/^metadata\.namespace: Invalid value: "\.\.\/kube-system": a lowercase RFC 1123 label/),
      'spec.volumes[2].name: Duplicate value: "data"',
      'spec.containers[0].name: Duplicate value: "app"',
      `spec.containers[1].name: Invalid value: "${'x'.repeat(64)}": must be no more than 63 characters`,
      'spec.containers[1].image: Required value',
      'spec.containers[0].volumeMounts[1].name: Not found: "nope"',
      'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique',
    ]));
    expect(errors).toHaveLength(8);
  });

  it('item paths, subPaths, modes, hostPath, two volume types', () => {
    const pod = base();
    pod.spec!.volumes = [
      { name: 'data', emptyDir: {}, hostPath: { path: '/srv' } },
      { name: 'conf', configMap: { name: 'c', defaultMode: 0o1777, items: [{ key: 'k', path: '../../x' }, { key: 'j', path: './..data' }, { key: '', path: '/abs' }] } },
      { name: 'h', hostPath: { path: '/var/../etc' } },
      { name: 'p', projected: { sources: [{ serviceAccountToken: { path: '..2026_01_01' } }, { downwardAPI: { items: [{ path: 'ok', mode: -1, fieldRef: { fieldPath: 'metadata.name' } }] } }] } },
    ];
    pod.spec!.containers[0]!.volumeMounts = [{ name: 'data', mountPath: '/d', subPath: '../up' }, { name: 'conf', mountPath: '/c', subPath: '/abs' }];
    expect(validatePod(pod)).toEqual([
      'spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type',
      'spec.volumes[1].configMap.defaultMode: Invalid value: 1023: must be a number between 0 and 0777 (octal), both inclusive',
      'spec.volumes[1].configMap.items[0].path: Invalid value: "../../x": must not contain \'..\'',
      'spec.volumes[1].configMap.items[1].path: Invalid value: "./..data": must not start with \'..\'',
      'spec.volumes[1].configMap.items[2].key: Required value',
      'spec.volumes[1].configMap.items[2].path: Invalid value: "/abs": must be a relative path',
      'spec.volumes[2].hostPath.path: Invalid value: "/var/../etc": must not contain \'..\'',
      'spec.volumes[3].projected.sources[0].serviceAccountToken.path: Invalid value: "..2026_01_01": must not start with \'..\'',
      'spec.volumes[3].projected.sources[1].downwardAPI.items[0].mode: Invalid value: -1: must be a number between 0 and 0777 (octal), both inclusive',
      'spec.containers[0].volumeMounts[0].subPath: Invalid value: "../up": must not contain \'..\'',
      'spec.containers[0].volumeMounts[1].subPath: Invalid value: "/abs": must be a relative path',
    ]);
  });

  it('ports, env names, policies', () => {
    const pod = base();
    pod.spec!.restartPolicy = 'Sometimes';
    pod.spec!.terminationGracePeriodSeconds = -5;
    pod.spec!.containers[0]!.ports = [{ containerPort: 0 }, { containerPort: 80, name: 'http' }, { containerPort: 81, name: 'http' }, { containerPort: 82, name: 'Web--x' }, { containerPort: 83, protocol: 'ICMP' }];
    pod.spec!.containers[0]!.env = [{ name: '1ABC' }, { name: 'a=b' }];
    expect(validatePod(pod)).toEqual([
      'spec.containers[0].env[0].name: Invalid value: "1ABC": a valid environment variable name must consist of alphabetic characters, digits, \'_\', \'-\', or \'.\', and must not start with a digit',
      'spec.containers[0].env[1].name: Invalid value: "a=b": a valid environment variable name must consist of alphabetic characters, digits, \'_\', \'-\', or \'.\', and must not start with a digit',
      'spec.containers[0].ports[0].containerPort: Invalid value: 0: must be between 1 and 65535, inclusive',
      'spec.containers[0].ports[2].name: Duplicate value: "http"',
      expect.stringMatching(/^spec\.containers\[0\]\.ports\[3\]\.name: Invalid value: "Web--x": must be an IANA_SVC_NAME/),
      'spec.containers[0].ports[4].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
      'spec.terminationGracePeriodSeconds: Invalid value: -5: must be greater than or equal to 0',
    ]);
  });
});

describe('static pod manifests', () => {
  it('a manifest whose emptyDir climbs out of the pod directory is refused before anything is written', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata: {name: evil}\nspec:\n  volumes: [{name: "../../../../../../../etc", emptyDir: {}}]\n  containers: [{name: c, image: busybox, volumeMounts: [{name: "../../../../../../../etc", mountPath: /x}]}]\n';
    expect(() => staticPodFromManifest(text, '/m/evil.yaml', 'worker-1')).toThrow(/^\/m\/evil\.yaml: invalid pod: spec\.volumes\[0\]\.name: Invalid value: "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc"/);
  });

  it('the name it runs under is checked: uppercase or a namespace that is a path is refused', () => {
    expect(() => staticPodFromManifest('kind: Pod\nmetadata: {name: Web}\nspec: {containers: [{name: c, image: b}]}\n', '/m/a.yaml', 'worker-1')).toThrow(/metadata\.name: Invalid value: "Web-worker-1"/);
    expect(() => staticPodFromManifest('kind: Pod\nmetadata: {name: web, namespace: ../x}\nspec: {containers: [{name: c, image: b}]}\n', '/m/a.yaml', 'worker-1')).toThrow(/metadata\.namespace: Invalid value: "\.\.\/x"/);
  });
});
