import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { validateConfig } from '../../src/config/validate.ts';
import { createLogger } from '../../src/log/logger.ts';
import { ImageFsLocator } from '../../src/node/image-fs.ts';
import { readMachineInfo, readMachineUsage } from '../../src/node/machine-info.ts';
import { computeNodeStatus } from '../../src/node/status-setters.ts';

// imagefs.available on a real filesystem: a small tmpfs stands for the runtime's image
// filesystem (the runtime names it; here a stand-in runtime names the tmpfs), filled past 85 %
// and freed again, with the agent's root on another filesystem that has room.
describe('imagefs.available', () => {
  it('a nearly full image filesystem is DiskPressure; freeing it clears it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'na-imagefs-'));
    const images = join(dir, 'images');
    await execa('mkdir', [images]);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'na-imagefs', images]);
    try {
      const result = validateConfig({ nodeName: 'w1', nodeIP: '192.168.56.11', kubeconfig: '/k', directories: { root: join(dir, 'root') } });
      if (!result.ok) throw new Error(JSON.stringify(result.problems));
      const config = result.config;
      const locator = new ImageFsLocator({ imageFilesystem: async () => images }, createLogger({ format: 'json', level: 'silent' as never }));
      const machine = await readMachineInfo();
      const disk = async () => {
        const usage = await readMachineUsage(config.directories.root, await locator.path());
        const status = computeNodeStatus({ config, agentVersion: 'v0', machine, usage, runtimeVersion: 'docker://1', notReadyReasons: [], runtimeHealth: { healthy: true, runtimeName: 'docker', message: '' }, now: new Date() }, undefined);
        return { usage, pressure: status.conditions.find((c) => c.type === 'DiskPressure') };
      };
      const roomy = await disk();
      expect(roomy.usage.imagefsCapacityBytes).toBe(32 * 2 ** 20);
      expect(roomy.pressure).toMatchObject({ status: 'False', reason: 'KubeletHasNoDiskPressure' });
      // 28 of 32 MiB: 12.5 % left, under the 15 % threshold (the nodefs, elsewhere, has room).
      await execa('fallocate', ['-l', '28m', join(images, 'layer')]);
      const full = await disk();
      expect(full.usage.nodefsAvailableBytes).toBeGreaterThan(full.usage.nodefsCapacityBytes * 0.1);
      expect(full.pressure).toMatchObject({ status: 'True', reason: 'KubeletHasDiskPressure' });
      await rm(join(images, 'layer'));
      expect((await disk()).pressure?.status).toBe('False');
    } finally {
      await execa('umount', [images], { reject: false });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
