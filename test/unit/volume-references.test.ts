import { describe, expect, it } from 'vitest';
import { volumeObjectReferences } from '../../src/volumes/references.ts';

describe('volumeObjectReferences', () => {
  it('names the configMaps and secrets shown by configMap, secret and projected volumes, not by env', () => {
    const refs = volumeObjectReferences({
      spec: {
        containers: [{ name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'env-only', key: 'k' } } }] }],
        volumes: [
          { name: 'a', configMap: { name: 'settings' } },
          { name: 'b', secret: { secretName: 'creds' } },
          { name: 'c', projected: { sources: [{ configMap: { name: 'kube-root-ca.crt' } }, { secret: { name: 'tls' } }, { serviceAccountToken: { path: 'token' } }] } },
          { name: 'd', emptyDir: {} },
        ],
      },
    });
    expect([...refs.configMaps].sort()).toEqual(['kube-root-ca.crt', 'settings']);
    expect([...refs.secrets].sort()).toEqual(['creds', 'tls']);
  });
});
