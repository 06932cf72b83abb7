import { describe, expect, it } from 'vitest';
import { hostPathAction, validateHostPath, type FoundType } from '../../src/volumes/host-path.ts';

const kinds: FoundType[] = ['missing', 'Directory', 'File', 'Socket', 'CharDevice', 'BlockDevice', 'other'];

describe('hostPath type checks', () => {
  it('decides as kubelet does for every type and every thing found', () => {
    const table = Object.fromEntries(
      ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'].map((type) => [
        type || '(unset)',
        kinds.map((found) => {
          const a = hostPathAction('/x', type, found);
          return a.kind === 'error' ? 'error' : a.kind;
        }),
      ]),
    );
    expect(table).toEqual({
      //                 missing  Directory File     Socket   CharDev  BlockDev other
      '(unset)': ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok'],
      DirectoryOrCreate: ['mkdir', 'ok', 'error', 'error', 'error', 'error', 'error'],
      Directory: ['error', 'ok', 'error', 'error', 'error', 'error', 'error'],
      FileOrCreate: ['touch', 'error', 'ok', 'error', 'error', 'error', 'error'],
      File: ['error', 'error', 'ok', 'error', 'error', 'error', 'error'],
      Socket: ['error', 'error', 'error', 'ok', 'error', 'error', 'error'],
      CharDevice: ['error', 'error', 'error', 'error', 'ok', 'error', 'error'],
      BlockDevice: ['error', 'error', 'error', 'error', 'error', 'ok', 'error'],
    });
  });

  it("uses kubelet's messages", () => {
    expect(hostPathAction('/x', 'Directory', 'File')).toEqual({ kind: 'error', message: 'hostPath type check failed: /x is not a directory' });
    expect(hostPathAction('/x', 'DirectoryOrCreate', 'File')).toEqual({ kind: 'error', message: 'hostPath type check failed: /x is not a directory' });
    expect(hostPathAction('/x', 'File', 'missing')).toEqual({ kind: 'error', message: 'hostPath type check failed: /x is not a file' });
    expect(hostPathAction('/x', 'Socket', 'File')).toEqual({ kind: 'error', message: 'hostPath type check failed: /x is not a socket file' });
    expect(hostPathAction('/x', 'CharDevice', 'File')).toEqual({ kind: 'error', message: 'hostPath type check failed: /x is not a character device' });
    expect(hostPathAction('/x', 'BlockDevice', 'File')).toEqual({ kind: 'error', message: 'hostPath type check failed: /x is not a block device' });
    expect(hostPathAction('/x', 'Fifo', 'File')).toEqual({ kind: 'error', message: 'Fifo is an invalid volume type' });
  });

  it('paths: absolute, without ".."', () => {
    expect(validateHostPath('/var/log')).toBeUndefined();
    expect(validateHostPath('/var/../etc')).toBe("invalid HostPath `/var/../etc`: must not contain '..'");
    expect(validateHostPath('var/log')).toBe('invalid HostPath `var/log`: must be an absolute path');
  });
});
