import { describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ContainerLogLinks, logLinkName } from '../../src/pods/container-log-links.ts';

describe('container log links (/var/log/containers)', () => {
  it('names links as the kubelet does and refuses a name that would leave the directory', () => {
    expect(logLinkName('web', 'default', 'nginx', 'abc123')).toBe('web_default_nginx-abc123.log');
    const bad: [string, string, string, string][] = [['../x', 'default', 'c', 'id'], ['a', 'b/c', 'c', 'id'], ['a', 'b', '..', 'id'], ['a', 'b', 'c', ''], ['a\0', 'b', 'c', 'id']];
    for (const [pod, ns, container, id] of bad) expect(logLinkName(pod, ns, container, id)).toBeUndefined();
  });

  it('links a container log, replaces a link of that name, unlinks, and sweeps only dangling *.log links', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'na-loglinks-'));
    try {
      const links = new ContainerLogLinks(join(dir, 'containers'));
      const log = join(dir, 'pod-logs', 'c', '0.log');
      await mkdir(dirname(log), { recursive: true });
      await writeFile(log, 'hello\n');
      await links.link('web', 'default', 'c', 'id1', log);
      await links.link('web', 'default', 'c', 'id1', log);
      expect(await readFile(join(links.dir, 'web_default_c-id1.log'), 'utf8')).toBe('hello\n');
      await links.link('web', 'default', 'c', 'id2', join(dir, 'gone.log'));
      await writeFile(join(links.dir, 'plain.log'), 'not a link');
      await expect(links.link('..', 'default', 'c', 'id3', log)).rejects.toThrow(/would leave/);
      expect(await links.sweep()).toBe(1);
      expect((await readdir(links.dir)).sort()).toEqual(['plain.log', 'web_default_c-id1.log']);
      await links.unlink('web', 'default', 'c', 'id1');
      expect(await readdir(links.dir)).toEqual(['plain.log']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
