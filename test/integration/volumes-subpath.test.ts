import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstat, mkdir, mkdtemp, readFile, readdir, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { V1Pod } from '@kubernetes/client-node';
import { ErrorCode, isAgentError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { mountsBelow, readMountInfo } from '../../src/volumes/mounts.ts';
import { openWithin } from '../../src/volumes/subpath.ts';
import { VolumeManager, type VolumeSources } from '../../src/volumes/volume-manager.ts';

// subPath as the container's own writes can shape it (CVE-2017-1002101): the volume manager on a
// real filesystem, with real bind mounts, checked from the host. Everything lives under one
// temporary directory, unmounted and removed afterwards whatever happened.
const isRoot = process.getuid?.() === 0;

const sources: VolumeSources = {
  getConfigMap: () => Promise.resolve(undefined),
  getSecret: () => Promise.resolve(undefined),
  requestServiceAccountToken: () => Promise.reject(new Error('no tokens here')),
  nodeAllocatable: () => ({ cpu: '1', memory: '1Gi' }),
};

describe.skipIf(!isRoot)('subPath: checked inside its volume, bound from a handle', () => {
  let base = '';
  let manager: VolumeManager;
  let volume = '';
  let uid = '';
  let outside = '';

  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'na-subpath-')));
    outside = join(base, 'host-secret');
    await mkdir(outside);
    await writeFile(join(outside, 'shadow'), 'host only\n');
    manager = new VolumeManager({ rootDir: join(base, 'root'), sources, log: silentLogger(), tmpfs: false });
    uid = `uid-subpath-${process.pid}`;
    const pod: V1Pod = { metadata: { name: 'p', namespace: 'default', uid }, spec: { containers: [{ name: 'app', image: 'x' }], volumes: [{ name: 'data', emptyDir: {} }] } };
    const volumes = await manager.setUp(pod);
    volume = volumes.get('data')?.hostPath ?? '';
    expect(volume).not.toBe('');
  });

  afterAll(async () => {
    if (!base) return;
    for (const entry of mountsBelow(await readMountInfo('self'), base)) await execa('umount', ['-l', entry.mountPoint], { reject: false });
    await rm(base, { recursive: true, force: true });
  });

  const prepare = (subPath: string, index = 0, container = 'app') => manager.prepareSubPath(uid, { volume: 'data', container, index, volumePath: volume, subPath });
  const mountedAt = async (path: string) => (await readMountInfo('self')).filter((m) => m.mountPoint === path).length;

  it('a directory inside the volume is bound at volume-subpaths/<volume>/<container>/<index>', async () => {
    await mkdir(join(volume, 'site'));
    await writeFile(join(volume, 'site', 'index.html'), 'hello\n');
    const target = await prepare('site', 0);
    expect(target).toBe(join(base, 'root', 'pods', uid, 'volume-subpaths', 'data', 'app', '0'));
    expect(await mountedAt(target)).toBe(1);
    expect(await readFile(join(target, 'index.html'), 'utf8')).toBe('hello\n');
    // Writes through the bind land in the volume.
    await writeFile(join(target, 'new'), 'x');
    expect(await readFile(join(volume, 'site', 'new'), 'utf8')).toBe('x');
  });

  it('a file is bound onto a file; a container restart binds again, never stacks', async () => {
    await writeFile(join(volume, 'app.conf'), 'port=80\n');
    const target = await prepare('app.conf', 1);
    expect((await lstat(target)).isFile()).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('port=80\n');
    await prepare('app.conf', 1);
    expect(await mountedAt(target)).toBe(1);
  });

  it('missing directories are made with the volume\'s own mode (0777 for an emptyDir), not the umask\'s', async () => {
    const target = await prepare('logs/web-0', 2);
    expect((await stat(join(volume, 'logs'))).mode & 0o777).toBe(0o777);
    expect((await stat(join(volume, 'logs', 'web-0'))).mode & 0o777).toBe(0o777);
    expect(await mountedAt(target)).toBe(1);
  });

  it('a symlink that stays inside the volume is followed there', async () => {
    await symlink('site', join(volume, 'current'));
    const target = await prepare('current', 3);
    expect(await readFile(join(target, 'index.html'), 'utf8')).toBe('hello\n');
  });

  it('the attack: a symlink to / (or out by ..) is refused with CreateContainerConfigError wording, and nothing is bound', async () => {
    await symlink('/', join(volume, 'x'));
    await symlink('../../../../../../../..', join(volume, 'up'));
    await symlink(outside, join(volume, 'abs'));
    for (const [i, subPath] of ['x', 'x/etc', 'up', 'abs', 'site/../x'].entries()) {
      const err: unknown = await prepare(subPath, 10 + i).then(() => undefined, (e: unknown) => e);
      expect(isAgentError(err, ErrorCode.ContainerConfig), `${subPath}: ${String(err)}`).toBe(true);
      expect((err as Error).message).toMatch(/^failed to prepare subPath for volumeMount "data" of container "app": /);
      expect((err as Error).message).toMatch(/outside the volume|must not contain '..'/);
      expect(await mountedAt(join(base, 'root', 'pods', uid, 'volume-subpaths', 'data', 'app', String(10 + i)))).toBe(0);
    }
    // Nothing of the host was bound anywhere under the pod.
    const binds = mountsBelow(await readMountInfo('self'), join(base, 'root'));
    expect(binds.map((m) => m.mountPoint).sort()).toEqual(['0', '1', '2', '3'].map((i) => join(base, 'root', 'pods', uid, 'volume-subpaths', 'data', 'app', i)).sort());
  });

  it('a dangling symlink on the way is met and refused; nothing is made where it pointed', async () => {
    const target = join(base, 'never-made');
    await symlink(target, join(volume, 'dangling'));
    await expect(prepare('dangling/sub', 20)).rejects.toThrow(/outside the volume|symlink/);
    await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('the race: a component swapped for a symlink after the check is met by the O_NOFOLLOW walk, never followed', async () => {
    // As if resolveWithin had seen a directory "swap" and the container then replaced it.
    await symlink(outside, join(volume, 'swap'));
    await expect(openWithin(volume, ['swap', 'shadow'], 0o777, 'swap/shadow')).rejects.toThrow(/swap changed into a symlink|not a directory/);
    await expect(openWithin(volume, ['swap'], 0o777, 'swap')).rejects.toThrow('changed into a symlink');
  });

  it('volume and container names that are not DNS labels never reach a path (a static pod could say anything)', async () => {
    await expect(manager.prepareSubPath(uid, { volume: '../../../../tmp', container: 'app', index: 0, volumePath: volume, subPath: 'site' })).rejects.toThrow('is not a valid volume or container name');
    await expect(prepare('site', 0, '..')).rejects.toThrow('is not a valid volume or container name');
  });

  it('tearDown unmounts every subPath bind and removes the pod; the volume\'s targets outside are untouched', async () => {
    await manager.tearDown(uid);
    expect(mountsBelow(await readMountInfo('self'), join(base, 'root'))).toEqual([]);
    expect(await readdir(join(base, 'root', 'pods'))).toEqual([]);
    expect(await readFile(join(outside, 'shadow'), 'utf8')).toBe('host only\n');
  });
});
