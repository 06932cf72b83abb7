import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { V1ConfigMap, V1Pod, V1Secret, V1Volume } from '@kubernetes/client-node';
import { ErrorCode, isAgentError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { mountsBelow, readMountInfo, sharesInitMountNamespace } from '../../src/volumes/mounts.ts';
import { VolumeManager, type VolumeSources } from '../../src/volumes/volume-manager.ts';

// The volume manager as root on a real filesystem: tmpfs mounts, hostPath checks, atomic updates
// of configMaps and token renewal with an injected clock. Everything lives under one temporary
// directory that is unmounted and removed afterwards, whatever happened.
const isRoot = process.getuid?.() === 0;
const b64 = (s: string) => Buffer.from(s).toString('base64');

function fakeCluster() {
  const configMaps = new Map<string, V1ConfigMap>();
  const secrets = new Map<string, V1Secret>();
  const tokenRequests: { namespace: string; serviceAccount: string; options: Record<string, unknown> }[] = [];
  let clock = Date.parse('2026-11-25T10:00:00Z');
  let tokenFailure: Error | undefined;
  const sources: VolumeSources = {
    getConfigMap: (ns, name) => Promise.resolve(structuredClone(configMaps.get(`${ns}/${name}`))),
    getSecret: (ns, name) => Promise.resolve(structuredClone(secrets.get(`${ns}/${name}`))),
    requestServiceAccountToken: (namespace, serviceAccount, options) => {
      if (tokenFailure) return Promise.reject(tokenFailure);
      tokenRequests.push({ namespace, serviceAccount, options });
      return Promise.resolve({ token: `token-${tokenRequests.length}`, expiresAt: new Date(clock + options.expirationSeconds * 1000) });
    },
    nodeAllocatable: () => ({ cpu: '2', memory: '1Gi' }),
  };
  return {
    configMaps,
    secrets,
    tokenRequests,
    sources,
    now: () => clock,
    advance: (ms: number) => (clock += ms),
    failTokens: (err: Error | undefined) => (tokenFailure = err),
  };
}

let podCount = 0;
function podWith(volumes: V1Volume[], over: Partial<V1Pod['spec']> = {}): V1Pod {
  podCount += 1;
  return {
    metadata: { name: `p${podCount}`, namespace: 'shop', uid: `uid-${podCount}-${process.pid}`, labels: { app: 'web', tier: 'front' } },
    spec: { containers: [{ name: 'app', image: 'x', resources: { limits: { cpu: '500m', memory: '64Mi' } } }], volumes, ...over },
  };
}

async function mountsUnder(dir: string) {
  return mountsBelow(await readMountInfo('self'), dir);
}

describe.skipIf(!isRoot)('volume manager on a real filesystem', () => {
  let base = '';
  let root = '';
  const cluster = fakeCluster();
  let manager: VolumeManager;

  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'na-volumes-')));
    root = join(base, 'root');
    manager = new VolumeManager({ rootDir: root, sources: cluster.sources, log: silentLogger(), now: cluster.now, tmpfs: true });
  });

  afterAll(async () => {
    if (!base) return;
    // Unmount anything a failed test left behind before removing: rm would empty the tmpfs otherwise
    // and then fail on the mount point.
    for (const entry of await mountsUnder(base)) await execa('umount', ['-l', entry.mountPoint], { reject: false });
    await rm(base, { recursive: true, force: true });
  });

  it('a root and pods directory made wider by someone else are narrowed to 0750 at the first set-up', async () => {
    const wideRoot = join(base, 'wide-root');
    await mkdir(join(wideRoot, 'pods'), { recursive: true });
    await chmod(wideRoot, 0o777);
    await chmod(join(wideRoot, 'pods'), 0o755);
    const wide = new VolumeManager({ rootDir: wideRoot, sources: cluster.sources, log: silentLogger(), now: cluster.now, tmpfs: false });
    const pod = podWith([{ name: 'scratch', emptyDir: {} }]);
    await wide.setUp(pod);
    for (const dir of [wideRoot, join(wideRoot, 'pods'), join(wideRoot, 'pods', pod.metadata!.uid!)]) expect((await stat(dir)).mode & 0o7777, dir).toBe(0o750);
    await wide.tearDown(pod.metadata!.uid!);
  });

  it('emptyDir: a 0777 directory, and a tmpfs of sizeLimit for medium Memory; tearDown unmounts and removes', async () => {
    const pod = podWith([{ name: 'scratch', emptyDir: {} }, { name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } }, { name: 'defaulted' }]);
    const uid = pod.metadata!.uid!;
    const volumes = await manager.setUp(pod);
    const scratch = join(root, 'pods', uid, 'volumes/kubernetes.io~empty-dir/scratch');
    const cache = join(root, 'pods', uid, 'volumes/kubernetes.io~empty-dir/cache');
    expect(volumes.get('scratch')).toEqual({ hostPath: scratch, readOnly: false });
    expect(volumes.get('defaulted')?.hostPath).toBe(join(root, 'pods', uid, 'volumes/kubernetes.io~empty-dir/defaulted'));
    expect((await stat(scratch)).mode & 0o7777).toBe(0o777);

    const mounts = await mountsUnder(join(root, 'pods', uid));
    expect(mounts.map((m) => [m.mountPoint, m.fsType])).toEqual([[cache, 'tmpfs']]);
    expect(mounts[0]?.superOptions).toContain('size=16384k');
    expect((await stat(cache)).mode & 0o7777).toBe(0o1777);

    // Every sync calls setUp again: no second mount stacked on the first.
    await writeFile(join(cache, 'kept'), 'x');
    await manager.setUp(pod);
    expect(await mountsUnder(join(root, 'pods', uid))).toHaveLength(1);
    expect(await readFile(join(cache, 'kept'), 'utf8')).toBe('x');

    expect(await manager.listPodDirs()).toContain(uid);
    await manager.tearDown(uid);
    expect(await mountsUnder(join(root, 'pods', uid))).toEqual([]);
    await expect(stat(join(root, 'pods', uid))).rejects.toThrow(/ENOENT/);
    await manager.tearDown(uid); // idempotent
    expect(await manager.listPodDirs()).not.toContain(uid);
  });

  it('secret: on tmpfs, decoded, with defaultMode and item modes on disk, read-only for containers', async () => {
    cluster.secrets.set('shop/db', { data: { password: b64('hunter2'), user: b64('admin'), unused: b64('-') } });
    const pod = podWith([
      { name: 'creds', secret: { secretName: 'db', defaultMode: 0o400, items: [{ key: 'password', path: 'pw' }, { key: 'user', path: 'conf/user', mode: 0o640 }] } },
      { name: 'all', secret: { secretName: 'db' } },
    ]);
    const uid = pod.metadata!.uid!;
    const volumes = await manager.setUp(pod);
    const dir = join(root, 'pods', uid, 'volumes/kubernetes.io~secret/creds');
    expect(volumes.get('creds')).toEqual({ hostPath: dir, readOnly: true });
    const mounts = await mountsUnder(join(root, 'pods', uid));
    expect(mounts.map((m) => m.fsType)).toEqual(['tmpfs', 'tmpfs']);
    // Pod memory limit 64Mi is below node allocatable (1Gi): that is the size.
    expect(mounts[0]?.superOptions).toContain('size=65536k');

    expect(await readFile(join(dir, 'pw'), 'utf8')).toBe('hunter2');
    expect(await readFile(join(dir, 'conf/user'), 'utf8')).toBe('admin');
    expect((await stat(join(dir, 'pw'))).mode & 0o7777).toBe(0o400);
    expect((await stat(join(dir, 'conf/user'))).mode & 0o7777).toBe(0o640);
    expect(await readlink(join(dir, 'pw'))).toBe('..data/pw');
    expect(await readlink(join(dir, 'conf'))).toBe('..data/conf');
    expect((await readdir(dir)).filter((e) => !e.startsWith('..'))).toEqual(['conf', 'pw']);
    const all = join(root, 'pods', uid, 'volumes/kubernetes.io~secret/all');
    expect((await readdir(all)).filter((e) => !e.startsWith('..')).sort()).toEqual(['password', 'unused', 'user']);
    expect((await stat(join(all, 'user'))).mode & 0o7777).toBe(0o644);

    await manager.tearDown(uid);
    expect(await mountsUnder(join(root, 'pods', uid))).toEqual([]);
  });

  it('configMap: on disk; an update reaches the file through a new ..data; unchanged means untouched', async () => {
    cluster.configMaps.set('shop/app-config', { data: { 'app.conf': 'v1', other: 'o' } });
    const pod = podWith([{ name: 'config', configMap: { name: 'app-config', defaultMode: 0o440 } }]);
    const uid = pod.metadata!.uid!;
    const dir = join(root, 'pods', uid, 'volumes/kubernetes.io~configmap/config');
    expect((await manager.setUp(pod)).get('config')).toEqual({ hostPath: dir, readOnly: true });
    expect(await mountsUnder(join(root, 'pods', uid))).toEqual([]);
    expect((await stat(dir)).mode & 0o7777).toBe(0o777);
    expect((await stat(join(dir, 'app.conf'))).mode & 0o7777).toBe(0o440);

    const target = await readlink(join(dir, '..data'));
    const inode = (await stat(join(dir, 'app.conf'))).ino;
    await manager.setUp(pod);
    expect(await readlink(join(dir, '..data'))).toBe(target);
    expect((await stat(join(dir, 'app.conf'))).ino).toBe(inode);

    cluster.configMaps.set('shop/app-config', { data: { 'app.conf': 'v2' } });
    await manager.setUp(pod);
    expect(await readFile(join(dir, 'app.conf'), 'utf8')).toBe('v2');
    expect(await readlink(join(dir, '..data'))).not.toBe(target);
    expect((await stat(join(dir, 'app.conf'))).ino).not.toBe(inode);
    await expect(lstat(join(dir, 'other'))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(dir, target))).rejects.toThrow(/ENOENT/);
    await manager.tearDown(uid);
  });

  it('a missing optional configMap is an empty volume; a missing one is a FailedMount naming the volume', async () => {
    const optional = podWith([{ name: 'opt', configMap: { name: 'nope', optional: true } }]);
    const dir = (await manager.setUp(optional)).get('opt')!.hostPath;
    expect(await readdir(dir)).toContain('..data');
    expect((await readdir(dir)).filter((e) => !e.startsWith('..'))).toEqual([]);
    await manager.tearDown(optional.metadata!.uid!);

    const required = podWith([{ name: 'ok', emptyDir: {} }, { name: 'req', configMap: { name: 'missing-config' } }]);
    const err: unknown = await manager.setUp(required).catch((e: unknown) => e);
    expect(isAgentError(err, ErrorCode.VolumeMount)).toBe(true);
    expect(err).toMatchObject({ reason: 'FailedMount', message: 'MountVolume.SetUp failed for volume "req" : configmap "missing-config" not found' });

    cluster.configMaps.set('shop/partial', { data: { a: '1' } });
    const badKey = podWith([{ name: 'keys', configMap: { name: 'partial', items: [{ key: 'key1', path: 'k' }] } }]);
    await expect(manager.setUp(badKey)).rejects.toThrow('MountVolume.SetUp failed for volume "keys" : configmap references non-existent config key: key1');

    const unsupported = podWith([{ name: 'data', persistentVolumeClaim: { claimName: 'pvc' } }]);
    await expect(manager.setUp(unsupported)).rejects.toThrow('volume "data" has an unsupported type: persistentVolumeClaim');
    for (const p of [required, badKey, unsupported]) await manager.tearDown(p.metadata!.uid!);
  });

  it('hostPath: each type checked as Kubernetes does', async () => {
    const host = join(base, 'host');
    await mkdir(host, { recursive: true });
    await writeFile(join(host, 'file'), 'f');
    await execa('mknod', [join(host, 'chr'), 'c', '1', '3']);
    await execa('mknod', [join(host, 'blk'), 'b', '7', '0']);
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(join(host, 'sock'), resolve));
    try {
      const check = async (path: string, type?: string) => {
        const pod = podWith([{ name: 'h', hostPath: { path, ...(type === undefined ? {} : { type }) } }]);
        try {
          return (await manager.setUp(pod)).get('h');
        } finally {
          await manager.tearDown(pod.metadata!.uid!);
        }
      };
      expect(await check(join(host, 'anything-at-all'))).toEqual({ hostPath: join(host, 'anything-at-all'), readOnly: false });
      expect(await check(join(host, 'a/b/c'), 'DirectoryOrCreate')).toBeDefined();
      expect((await stat(join(host, 'a/b/c'))).mode & 0o7777).toBe(0o755);
      expect(await check(join(host, 'a/b/c'), 'Directory')).toBeDefined();
      await expect(check(join(host, 'file'), 'Directory')).rejects.toThrow(`MountVolume.SetUp failed for volume "h" : hostPath type check failed: ${host}/file is not a directory`);
      await expect(check(join(host, 'nope'), 'Directory')).rejects.toThrow(`hostPath type check failed: ${host}/nope is not a directory`);
      await expect(check(join(host, 'file'), 'DirectoryOrCreate')).rejects.toThrow('is not a directory');

      expect(await check(join(host, 'new-file'), 'FileOrCreate')).toBeDefined();
      const created = await stat(join(host, 'new-file'));
      expect([created.isFile(), created.size, created.mode & 0o7777]).toEqual([true, 0, 0o644]);
      await expect(check(join(host, 'no-parent/f'), 'FileOrCreate')).rejects.toThrow(`open ${host}/no-parent/f: no such file or directory`);
      await expect(check(join(host, 'a'), 'FileOrCreate')).rejects.toThrow(`hostPath type check failed: ${host}/a is not a file`);
      expect(await check(join(host, 'file'), 'File')).toBeDefined();
      await expect(check(join(host, 'a'), 'File')).rejects.toThrow('is not a file');

      expect(await check(join(host, 'sock'), 'Socket')).toBeDefined();
      await expect(check(join(host, 'file'), 'Socket')).rejects.toThrow('is not a socket file');
      expect(await check(join(host, 'chr'), 'CharDevice')).toBeDefined();
      await expect(check(join(host, 'blk'), 'CharDevice')).rejects.toThrow('is not a character device');
      expect(await check(join(host, 'blk'), 'BlockDevice')).toBeDefined();
      await expect(check(join(host, 'chr'), 'BlockDevice')).rejects.toThrow('is not a block device');
      await expect(check(`${host}/../etc`, 'Directory')).rejects.toThrow("must not contain '..'");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('downwardAPI and kube-api-access: files, tmpfs, and the token renewed after 80 % of its lifetime', async () => {
    cluster.configMaps.set('shop/kube-root-ca.crt', { data: { 'ca.crt': '-----BEGIN CERTIFICATE-----\n' } });
    const pod = podWith(
      [
        {
          name: 'podinfo',
          downwardAPI: {
            items: [
              { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
              { path: 'cpu_limit', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu', divisor: '1m' } },
            ],
          },
        },
        {
          name: 'kube-api-access-x7k2p',
          projected: {
            defaultMode: 0o644,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
            ],
          },
        },
      ],
      { serviceAccountName: 'builder' },
    );
    const uid = pod.metadata!.uid!;
    const volumes = await manager.setUp(pod);
    const info = volumes.get('podinfo')!.hostPath;
    const access = volumes.get('kube-api-access-x7k2p')!.hostPath;
    expect(access).toBe(join(root, 'pods', uid, 'volumes/kubernetes.io~projected/kube-api-access-x7k2p'));
    expect(info).toBe(join(root, 'pods', uid, 'volumes/kubernetes.io~downward-api/podinfo'));
    expect(await readFile(join(info, 'labels'), 'utf8')).toBe('app="web"\ntier="front"');
    expect(await readFile(join(info, 'cpu_limit'), 'utf8')).toBe('500');
    expect(await readFile(join(access, 'token'), 'utf8')).toBe('token-1');
    expect(await readFile(join(access, 'ca.crt'), 'utf8')).toBe('-----BEGIN CERTIFICATE-----\n');
    expect(await readFile(join(access, 'namespace'), 'utf8')).toBe('shop');
    expect((await stat(join(access, 'token'))).mode & 0o7777).toBe(0o644);
    expect((await mountsUnder(join(root, 'pods', uid))).map((m) => m.fsType)).toEqual(['tmpfs', 'tmpfs']);
    // Issue 16: the token file is 0644 (any container user reads it), so the directories above it
    // keep the host's other users out: root, pods and the pod's directory are 0750, as kubelet's.
    for (const dir of [root, join(root, 'pods'), join(root, 'pods', uid)]) expect((await stat(dir)).mode & 0o7777, dir).toBe(0o750);
    await chmod(base, 0o755); // mkdtemp's 0700 would keep nobody out by itself and prove nothing
    expect((await execa('runuser', ['-u', 'nobody', '--', 'ls', base], { reject: false })).exitCode).toBe(0);
    const asNobody = await execa('runuser', ['-u', 'nobody', '--', 'cat', join(access, 'token')], { reject: false });
    expect(asNobody.exitCode).not.toBe(0);
    expect(asNobody.stderr).toMatch(/Permission denied/);
    expect(cluster.tokenRequests).toEqual([{ namespace: 'shop', serviceAccount: 'builder', options: { expirationSeconds: 3607, podName: pod.metadata!.name, podUid: uid } }]);

    // 3607 s * 80 % = 2886 s (kubelet: renew 721 s before expiry). One second short of that: cached.
    const dataBefore = await readlink(join(access, '..data'));
    cluster.advance((3607 - 722) * 1000);
    await manager.setUp(pod);
    expect(cluster.tokenRequests).toHaveLength(1);
    expect(await readlink(join(access, '..data'))).toBe(dataBefore);

    cluster.advance(1000);
    await manager.setUp(pod);
    expect(cluster.tokenRequests).toHaveLength(2);
    expect(await readFile(join(access, 'token'), 'utf8')).toBe('token-2');

    // Renewal failing while the token is still valid keeps the current one; once expired, a FailedMount.
    cluster.advance(2886 * 1000);
    cluster.failTokens(new Error('serviceaccounts "builder" is forbidden'));
    await manager.setUp(pod);
    expect(await readFile(join(access, 'token'), 'utf8')).toBe('token-2');
    cluster.advance(800 * 1000);
    await expect(manager.setUp(pod)).rejects.toThrow('MountVolume.SetUp failed for volume "kube-api-access-x7k2p" : serviceaccounts "builder" is forbidden');
    cluster.failTokens(undefined);

    await manager.tearDown(uid);
    expect(await mountsUnder(join(root, 'pods', uid))).toEqual([]);
  });

  it('tells a private mount namespace (as `ip netns exec` gives) from the host one', async () => {
    expect(await sharesInitMountNamespace()).toBe(true);
    const script = `import { sharesInitMountNamespace } from ${JSON.stringify(join(import.meta.dirname, '../../src/volumes/mounts.ts'))}; console.log(await sharesInitMountNamespace());`;
    const child = await execa('unshare', ['-m', process.execPath, '--input-type=module', '-e', script]);
    expect(child.stdout.trim()).toBe('false');
  });

  it('with tmpfs off, memory-backed volumes are plain directories', async () => {
    cluster.secrets.set('shop/plain', { data: { k: b64('v') } });
    const plain = new VolumeManager({ rootDir: join(base, 'plain-root'), sources: cluster.sources, log: silentLogger(), tmpfs: false });
    const pod = podWith([{ name: 's', secret: { secretName: 'plain' } }, { name: 'm', emptyDir: { medium: 'Memory' } }]);
    const volumes = await plain.setUp(pod);
    expect(await readFile(join(volumes.get('s')!.hostPath, 'k'), 'utf8')).toBe('v');
    expect(await mountsUnder(join(base, 'plain-root'))).toEqual([]);
    await plain.tearDown(pod.metadata!.uid!);
    expect(await plain.listPodDirs()).toEqual([]);
  });
});
