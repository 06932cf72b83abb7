import { describe, expect, it } from 'vitest';
import { cleanPayload, isDataDirName, isNoop, planWrite, timestampPrefix, validatePayloadPath, type CurrentState, type FileProjection } from '../../src/volumes/atomic-writer.ts';

const file = (data: string, mode = 0o644): FileProjection => ({ data: Buffer.from(data), mode });
const payload = (entries: Record<string, FileProjection>) => new Map(Object.entries(entries));
const state = (over: Partial<CurrentState> = {}): CurrentState => ({
  dataDir: '..2026_11_25_10_00_00.abc123',
  files: payload({ 'app.conf': file('x=1'), 'sub/dir/f': file('f') }),
  unexpectedEntries: false,
  visible: new Map([
    ['app.conf', '..data/app.conf'],
    ['sub', '..data/sub'],
  ]),
  leftovers: [],
  ...over,
});

describe('payload paths', () => {
  it('kubelet rules: relative, no "..", no leading ".."', () => {
    expect(validatePayloadPath('a/b.txt')).toBeUndefined();
    expect(validatePayloadPath('.hidden')).toBeUndefined();
    expect(validatePayloadPath('a..b')).toBeUndefined();
    expect(validatePayloadPath('')).toBe('invalid path: must not be empty: ""');
    expect(validatePayloadPath('/etc/passwd')).toBe('invalid path: must be relative path: /etc/passwd');
    expect(validatePayloadPath('a/../b')).toBe("invalid path: must not contain '..': a/../b");
    expect(validatePayloadPath('..')).toBe("invalid path: must not contain '..': ..");
    expect(validatePayloadPath('..data')).toBe("invalid path: must not start with '..': ..data");
    expect(validatePayloadPath('..2026_01_01/x')).toBe("invalid path: must not start with '..': ..2026_01_01/x");
    expect(validatePayloadPath('x'.repeat(256))).toBe('invalid path: filenames must be less than or equal to 255 characters');
  });

  it('cleans paths and rejects clashes', () => {
    expect([...cleanPayload(payload({ './a//b/': file('1') })).keys()]).toEqual(['a/b']);
    expect(() => cleanPayload(payload({ 'a/b': file('1'), 'a//b': file('2') }))).toThrow(/names the same file/);
    expect(() => cleanPayload(payload({ a: file('1'), 'a/b': file('2') }))).toThrow(/is both a file and the directory/);
    expect(() => cleanPayload(payload({ '../x': file('1') }))).toThrow("invalid path: must not contain '..': ../x");
    expect(() => cleanPayload(payload({ './..data': file('1') }))).toThrow("invalid path: ./..data names ..data, which is reserved for the volume's own links");
    expect(() => cleanPayload(payload({ './/..2026_01_01/x': file('1') }))).toThrow(/reserved/);
  });

  it('only names this writer makes are taken for data directories', () => {
    expect(isDataDirName('..2026_11_25_10_00_07.Ab12Cd')).toBe(true);
    for (const name of ['..', '...', '..data', '..2026_11_25_10_00_07.', '..2026_11_25_10_00_07.Ab12Cd/x', '../etc', '..2026_11_25_10_00_07.Ab12Cd7']) {
      expect(isDataDirName(name), name).toBe(false);
    }
  });

  it('timestamped directory names as kubelet formats them', () => {
    expect(timestampPrefix(new Date('2026-11-25T10:00:07.123Z'))).toBe('..2026_11_25_10_00_07.');
  });
});

describe('planWrite', () => {
  it('first write: data and a link per top-level name', () => {
    const plan = planWrite(payload({ 'app.conf': file('x'), 'sub/dir/f': file('f'), 'sub/g': file('g') }), state({ dataDir: undefined, files: undefined, visible: new Map() }));
    expect(plan).toEqual({ writeData: true, createLinks: ['app.conf', 'sub'], removeLinks: [], removeLeftovers: [], removeOldDataDir: undefined });
  });

  it('same content and modes: nothing to do', () => {
    const plan = planWrite(payload({ 'app.conf': file('x=1'), 'sub/dir/f': file('f') }), state());
    expect(isNoop(plan)).toBe(true);
  });

  it('changed content, changed mode, a new or a removed file: new data dir, old one removed', () => {
    for (const next of [
      payload({ 'app.conf': file('x=2'), 'sub/dir/f': file('f') }),
      payload({ 'app.conf': file('x=1', 0o600), 'sub/dir/f': file('f') }),
      payload({ 'app.conf': file('x=1'), 'sub/dir/f': file('f'), 'sub/dir/g': file('g') }),
      payload({ 'app.conf': file('x=1') }),
    ]) {
      const plan = planWrite(next, state());
      expect(plan.writeData).toBe(true);
      expect(plan.removeOldDataDir).toBe('..2026_11_25_10_00_00.abc123');
    }
  });

  it('links: removed names go, new names come, only links into ..data are removed', () => {
    const plan = planWrite(
      payload({ 'app.conf': file('x=1'), other: file('o') }),
      state({ visible: new Map<string, string | null>([['app.conf', '..data/app.conf'], ['sub', '..data/sub'], ['foreign', '/etc'], ['plain', null]]) }),
    );
    expect(plan.createLinks).toEqual(['other']);
    expect(plan.removeLinks).toEqual(['sub']);
  });

  it('repairs a missing or wrong link without rewriting data; removes leftovers of an interrupted write', () => {
    const plan = planWrite(
      payload({ 'app.conf': file('x=1'), 'sub/dir/f': file('f') }),
      state({ visible: new Map([['app.conf', 'elsewhere']]), leftovers: ['..data_tmp', '..2026_11_25_09_00_00.zzz'] }),
    );
    expect(plan).toEqual({ writeData: false, createLinks: ['app.conf', 'sub'], removeLinks: [], removeLeftovers: ['..2026_11_25_09_00_00.zzz', '..data_tmp'], removeOldDataDir: undefined });
  });

  it('an unreadable or odd data dir is rewritten', () => {
    expect(planWrite(payload({ 'app.conf': file('x=1'), 'sub/dir/f': file('f') }), state({ files: undefined })).writeData).toBe(true);
    expect(planWrite(payload({ 'app.conf': file('x=1'), 'sub/dir/f': file('f') }), state({ unexpectedEntries: true })).writeData).toBe(true);
  });
});
