import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstat, mkdir, mkdtemp, open, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAtomically, type FileProjection } from '../../src/volumes/atomic-writer.ts';

// The writer on a real directory: kubelet's layout, an update as one switch of `..data`, and an
// unchanged payload leaving every inode as it was.
const file = (data: string, mode = 0o644): FileProjection => ({ data: Buffer.from(data), mode });
const payload = (entries: Record<string, FileProjection>) => new Map(Object.entries(entries));

describe('atomic writer on disk', () => {
  let base = '';
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'na-atomic-'));
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('creates the layout, switches ..data with one rename on update, and touches nothing when unchanged', async () => {
    const dir = join(base, 'vol');
    const first = await writeAtomically(dir, payload({ 'app.conf': file('v1', 0o640), 'sub/dir/deep': file('deep'), old: file('gone soon') }), {
      now: () => new Date('2026-11-25T10:00:00Z'),
    });
    expect(first.changed).toBe(true);

    const entries = (await readdir(dir)).sort();
    const tsDir = entries.find((e) => e.startsWith('..2026_11_25_10_00_00.'));
    expect(tsDir).toBeDefined();
    expect(entries).toEqual(['..data', tsDir, 'app.conf', 'old', 'sub'].sort());
    expect(await readlink(join(dir, '..data'))).toBe(tsDir);
    expect(await readlink(join(dir, 'app.conf'))).toBe('..data/app.conf');
    expect(await readlink(join(dir, 'sub'))).toBe('..data/sub');
    expect(await readFile(join(dir, 'sub/dir/deep'), 'utf8')).toBe('deep');
    expect((await stat(join(dir, 'app.conf'))).mode & 0o7777).toBe(0o640);
    expect((await stat(join(dir, tsDir!))).mode & 0o7777).toBe(0o755);

    // Unchanged: same ..data symlink (inode), same file inode, same data directory.
    const dataLinkBefore = await lstat(join(dir, '..data'));
    const fileBefore = await stat(join(dir, 'app.conf'));
    const again = await writeAtomically(dir, payload({ 'app.conf': file('v1', 0o640), 'sub/dir/deep': file('deep'), old: file('gone soon') }));
    expect(again.changed).toBe(false);
    expect((await lstat(join(dir, '..data'))).ino).toBe(dataLinkBefore.ino);
    expect((await stat(join(dir, 'app.conf'))).ino).toBe(fileBefore.ino);
    expect(await readlink(join(dir, '..data'))).toBe(tsDir);

    // A reader that opened the old file keeps reading the old content: files are never rewritten in place.
    const reader = await open(join(dir, 'app.conf'), 'r');
    try {
      const update = await writeAtomically(dir, payload({ 'app.conf': file('v2', 0o640), 'sub/dir/deep': file('deep'), added: file('new') }));
      expect(update.changed).toBe(true);
      expect((await reader.readFile()).toString()).toBe('v1');
    } finally {
      await reader.close();
    }
    const newTs = await readlink(join(dir, '..data'));
    expect(newTs).not.toBe(tsDir);
    // ..data is a new symlink (the renamed ..data_tmp), not the old one rewritten.
    expect((await lstat(join(dir, '..data'))).ino).not.toBe(dataLinkBefore.ino);
    expect((await stat(join(dir, 'app.conf'))).ino).not.toBe(fileBefore.ino);
    expect(await readFile(join(dir, 'app.conf'), 'utf8')).toBe('v2');
    expect(await readFile(join(dir, 'added'), 'utf8')).toBe('new');
    expect((await readdir(dir)).sort()).toEqual(['..data', newTs, 'added', 'app.conf', 'sub'].sort());
  });

  it('a mode change alone is written', async () => {
    const dir = join(base, 'modes');
    await writeAtomically(dir, payload({ key: file('same', 0o644) }));
    const result = await writeAtomically(dir, payload({ key: file('same', 0o400) }));
    expect(result.changed).toBe(true);
    expect((await stat(join(dir, 'key'))).mode & 0o7777).toBe(0o400);
  });

  it('cleans up leftovers of an interrupted write and repairs a removed link', async () => {
    const dir = join(base, 'leftovers');
    await writeAtomically(dir, payload({ key: file('x') }));
    await symlink('..2020_01_01_00_00_00.dead', join(dir, '..data_tmp'));
    await mkdir(join(dir, '..2020_01_01_00_00_00.dead'));
    await rm(join(dir, 'key'));
    const result = await writeAtomically(dir, payload({ key: file('x') }));
    expect(result.changed).toBe(true);
    const entries = await readdir(dir);
    expect(entries).not.toContain('..data_tmp');
    expect(entries).not.toContain('..2020_01_01_00_00_00.dead');
    expect(await readFile(join(dir, 'key'), 'utf8')).toBe('x');
  });

  it('an empty payload leaves just ..data; invalid paths change nothing', async () => {
    const dir = join(base, 'empty');
    await writeAtomically(dir, new Map());
    expect((await readdir(dir)).filter((e) => !e.startsWith('..2'))).toEqual(['..data']);
    await expect(writeAtomically(dir, payload({ '../escape': file('x') }))).rejects.toThrow("invalid path: must not contain '..': ../escape");
    await expect(writeAtomically(dir, payload({ '/abs': file('x') }))).rejects.toThrow('invalid path: must be relative path: /abs');
    await expect(writeAtomically(dir, payload({ '..data/x': file('x') }))).rejects.toThrow("invalid path: must not start with '..': ..data/x");
    expect((await readdir(dir)).filter((e) => !e.startsWith('..2'))).toEqual(['..data']);
  });

  // Issue 16: `..data` repointed by someone else must never steer the root-run clean-up. Each
  // case plants a foreign `..data`, rewrites the volume, and checks that the volume works again
  // and that what the link named outside (or at all) is untouched.
  it('a foreign ..data (to .., to an absolute path, to a planted symlink, or a real directory) deletes nothing it names', async () => {
    const outside = join(base, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'precious'), 'keep me');
    const cases: Array<[string, (dir: string) => Promise<void>]> = [
      ['parent', (dir) => symlink('..', join(dir, '..data'))],
      ['absolute', (dir) => symlink(outside, join(dir, '..data'))],
      [
        'planted',
        async (dir) => {
          await symlink(outside, join(dir, '..2020_01_01_00_00_00.AAAAAA'));
          await symlink('..2020_01_01_00_00_00.AAAAAA', join(dir, '..data'));
        },
      ],
      [
        'directory',
        async (dir) => {
          await mkdir(join(dir, '..data'));
          await symlink(outside, join(dir, '..data', 'key'));
        },
      ],
    ];
    for (const [name, plant] of cases) {
      const parent = join(base, `foreign-${name}`);
      const dir = join(parent, 'vol');
      await writeAtomically(dir, payload({ key: file('v1') }));
      await writeFile(join(parent, 'sibling'), 'keep me too');
      await rm(join(dir, '..data'));
      await plant(dir);
      const result = await writeAtomically(dir, payload({ key: file('v2') }));
      expect(result.changed, name).toBe(true);
      expect(await readFile(join(dir, 'key'), 'utf8'), name).toBe('v2');
      expect((await lstat(join(dir, '..data'))).isSymbolicLink(), name).toBe(true);
      expect(await readFile(join(parent, 'sibling'), 'utf8'), name).toBe('keep me too');
      expect(await readFile(join(outside, 'precious'), 'utf8'), name).toBe('keep me');
      // The next write with the same payload is a no-op again: the new ..data is recognised as ours.
      expect((await writeAtomically(dir, payload({ key: file('v2') }))).changed, name).toBe(false);
    }
  });

  it('an item path that cleans to ..data is refused and the live link is kept', async () => {
    const dir = join(base, 'dot-data');
    await writeAtomically(dir, payload({ key: file('x') }));
    await expect(writeAtomically(dir, payload({ key: file('x'), './..data': file('boom') }))).rejects.toThrow(/\.\/\.\.data names \.\.data, which is reserved/);
    expect(await readFile(join(dir, 'key'), 'utf8')).toBe('x');
  });
});
