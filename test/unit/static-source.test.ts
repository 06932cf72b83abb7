import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log/logger.ts';
import { StaticPodSource } from '../../src/pods/static-source.ts';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'na-static-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('static pod source', () => {
  it('forgets a broken manifest once its file is gone', async () => {
    const source = new StaticPodSource({ dir, nodeName: 'n1', api: undefined, mirrors: new Map(), log: silentLogger(), onPods: () => undefined });
    await writeFile(join(dir, 'good.yaml'), 'kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: busybox}]}\n');
    for (let i = 0; i < 10; i++) await writeFile(join(dir, `broken-${i}.yaml`), 'kind: Service\n');
    expect(await source.scan()).toHaveLength(1);
    expect(source.retained()).toEqual({ complaints: 10 });
    for (let i = 0; i < 10; i++) await rm(join(dir, `broken-${i}.yaml`));
    expect(await source.scan()).toHaveLength(1);
    expect(source.retained()).toEqual({ complaints: 0 });
  });
});
