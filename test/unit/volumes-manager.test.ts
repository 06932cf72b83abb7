import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { memoryVolumeSizeBytes, podMemoryLimit, tokenNeedsRefresh, unsupportedVolumes, volumeType } from '../../src/volumes/volume-manager.ts';
import { mountsBelow, parseMountInfo } from '../../src/volumes/mounts.ts';
import { ceilMilliValue, ceilValue, parseQuantityExact } from '../../src/volumes/quantity.ts';

describe('volume types', () => {
  it('a volume without a source is an emptyDir, as the API defaults it', () => {
    expect(volumeType({ name: 'v' })).toBe('emptyDir');
    expect(volumeType({ name: 'v', configMap: { name: 'c' } })).toBe('configMap');
  });

  it('lists what this node cannot set up, with the message', () => {
    const pod: V1Pod = {
      spec: {
        containers: [],
        volumes: [
          { name: 'ok', emptyDir: {} },
          { name: 'data', persistentVolumeClaim: { claimName: 'pvc' } },
          { name: 'share', nfs: { server: 'nfs', path: '/' } },
          { name: 'disk', awsElasticBlockStore: { volumeID: 'vol-1' } },
          { name: 'huge', emptyDir: { medium: 'HugePages' } },
          { name: 'bundle', projected: { sources: [{ clusterTrustBundle: { path: 'b' } }] } },
          { name: 'fine', projected: { sources: [{ serviceAccountToken: { path: 't' } }] } },
        ],
      },
    };
    expect(unsupportedVolumes(pod).map((u) => u.message)).toEqual([
      'volume "data" has an unsupported type: persistentVolumeClaim',
      'volume "share" has an unsupported type: nfs',
      'volume "disk" has an unsupported type: awsElasticBlockStore',
      'volume "huge" has an unsupported type: emptyDir (medium HugePages)',
      'volume "bundle" has an unsupported type: projected (clusterTrustBundle)',
    ]);
  });
});

describe('token renewal', () => {
  const issued = (at: number, seconds: number) => ({ token: 't', expiresAt: at + seconds * 1000, expirationSeconds: seconds });

  it('after 80 % of the requested lifetime (integer seconds, as kubelet)', () => {
    const t = issued(0, 3607); // 20 % = 721 s
    expect(tokenNeedsRefresh(t, (3607 - 722) * 1000)).toBe(false);
    expect(tokenNeedsRefresh(t, (3607 - 721) * 1000)).toBe(true);
    expect(tokenNeedsRefresh(issued(0, 600), 479_999)).toBe(false);
    expect(tokenNeedsRefresh(issued(0, 600), 480_000)).toBe(true);
  });

  it('and in any case after 24 hours', () => {
    const t = issued(0, 7 * 24 * 3600);
    expect(tokenNeedsRefresh(t, 24 * 3600 * 1000 - 1)).toBe(false);
    expect(tokenNeedsRefresh(t, 24 * 3600 * 1000)).toBe(true);
  });
});

describe('tmpfs size of memory-backed volumes', () => {
  const pod = (limits: (string | undefined)[], init: (string | undefined)[] = []): V1Pod => ({
    spec: {
      containers: limits.map((m, i) => ({ name: `c${i}`, resources: m ? { limits: { memory: m } } : {} })),
      initContainers: init.map((m, i) => ({ name: `i${i}`, resources: m ? { limits: { memory: m } } : {} })),
    },
  });

  it('node allocatable, lowered by the pod limit and by sizeLimit', () => {
    expect(memoryVolumeSizeBytes(pod([undefined]), undefined, '8Gi')).toBe(8n * 2n ** 30n);
    expect(memoryVolumeSizeBytes(pod(['64Mi', '64Mi']), undefined, '8Gi')).toBe(128n * 2n ** 20n);
    expect(memoryVolumeSizeBytes(pod(['64Mi', undefined]), undefined, '8Gi')).toBe(8n * 2n ** 30n);
    expect(memoryVolumeSizeBytes(pod(['64Mi']), '16Mi', '8Gi')).toBe(16n * 2n ** 20n);
    expect(memoryVolumeSizeBytes(pod(['64Mi']), '1Gi', '8Gi')).toBe(64n * 2n ** 20n);
    expect(memoryVolumeSizeBytes(pod([undefined]), '1Gi', undefined)).toBeUndefined();
  });

  it('pod limit: the larger of app containers and init containers, only when all declare one', () => {
    expect(podMemoryLimit(pod(['1Gi'], ['2Gi']))).toEqual(parseQuantityExact('2Gi'));
    expect(podMemoryLimit(pod(['1Gi'], [undefined]))).toBeUndefined();
  });
});

describe('mountinfo and quantities', () => {
  const info = [
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '50 27 0:40 / /var/lib/agent/pods/u1/volumes/kubernetes.io~secret/s rw,relatime - tmpfs tmpfs rw,size=1024k',
    '51 27 0:41 / /var/lib/agent/pods/u1/volumes/kubernetes.io~empty-dir/with\\040space rw - tmpfs tmpfs rw',
    '52 27 0:42 / /var/lib/agent/pods/u10 rw - tmpfs tmpfs rw',
    'garbage',
  ].join('\n');

  it('parses, unescapes and selects mounts below a directory, deepest first', () => {
    const entries = parseMountInfo(info);
    expect(entries).toHaveLength(4);
    expect(entries[1]).toEqual({ id: 50, parentId: 27, mountPoint: '/var/lib/agent/pods/u1/volumes/kubernetes.io~secret/s', fsType: 'tmpfs', source: 'tmpfs', superOptions: 'rw,size=1024k' });
    expect(mountsBelow(entries, '/var/lib/agent/pods/u1').map((e) => e.id)).toEqual([51, 50]);
    expect(entries[2]?.mountPoint.endsWith('with space')).toBe(true);
  });

  it('exact quantities round up like Go', () => {
    const q = (t: string) => parseQuantityExact(t)!;
    expect(ceilMilliValue(q('0.1'))).toBe(100n);
    expect(ceilMilliValue(q('1.0001'))).toBe(1001n);
    expect(ceilValue(q('1.5Gi'))).toBe(1610612736n);
    expect(ceilValue(q('1e3'))).toBe(1000n);
    expect(ceilValue(q('100m'))).toBe(1n);
    expect(parseQuantityExact('12 apples')).toBeUndefined();
  });
});
