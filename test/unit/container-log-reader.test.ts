import { describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  MAX_LINE_BYTES,
  parseCriLogLine,
  parseDockerJsonLogLine,
  parseLogLine,
  parseLogTime,
  readContainerLog,
} from '../../src/logs/container-log-reader.ts';

/** Collects what is written; `slow` makes every write wait a turn with a tiny buffer, so backpressure is exercised. */
function sink(slow = false): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const out = new Writable({
    highWaterMark: slow ? 1 : 16 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      if (slow) setImmediate(callback);
      else callback();
    },
  });
  return Object.assign(out, { text: () => Buffer.concat(chunks).toString('utf8') });
}

/** The i-th second after 10:00, with nanoseconds, as containerd writes it. */
function ts(i: number): string {
  return new Date(Date.UTC(2026, 11, 7, 10, 0, i)).toISOString().replace('.000Z', '.123456789Z');
}

function cri(i: number, stream: 'stdout' | 'stderr', tag: 'P' | 'F', content: string): string {
  return `${ts(i)} ${stream} ${tag} ${content}\n`;
}

function docker(i: number, stream: 'stdout' | 'stderr', log: string): string {
  return `${JSON.stringify({ log, stream, time: ts(i) })}\n`;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'na-logread-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function read(path: string, options: Parameters<typeof readContainerLog>[2] = {}): Promise<string> {
  const out = sink();
  await readContainerLog(path, out, options);
  return out.text();
}

describe('container log line parsing', () => {
  it('parses CRI lines: full, partial, extra tags, empty content; refuses the malformed', () => {
    expect(parseCriLogLine('2026-12-07T10:00:00.123456789Z stdout F hello world')).toEqual({
      time: '2026-12-07T10:00:00.123456789Z', timeMs: Date.UTC(2026, 11, 7, 10, 0, 0, 123), stream: 'stdout', partial: false, content: 'hello world\n',
    });
    expect(parseCriLogLine('2026-12-07T10:00:00Z stderr P  two  spaces ')).toMatchObject({ stream: 'stderr', partial: true, content: ' two  spaces ' });
    expect(parseCriLogLine('2026-12-07T10:00:00Z stdout F:extra x')).toMatchObject({ partial: false, content: 'x\n' });
    expect(parseCriLogLine('2026-12-07T10:00:00Z stdout F ')).toMatchObject({ content: '\n' });
    expect(parseCriLogLine('2026-12-07T10:00:00Z stdout F')).toMatchObject({ content: '\n' });
    for (const bad of ['', 'hello', '2026-12-07T10:00:00Z stdin F x', '2026-12-07T10:00:00Z stdout X x', 'yesterday stdout F x', '2026-13-07T10:00:00Z stdout F x']) {
      expect(parseCriLogLine(bad)).toBeUndefined();
    }
  });

  it('parses docker json-file lines, partial when the log has no newline; refuses the malformed', () => {
    expect(parseDockerJsonLogLine('{"log":"hi\\n","stream":"stderr","time":"2026-12-07T10:00:00.5Z"}')).toEqual({
      time: '2026-12-07T10:00:00.5Z', timeMs: Date.UTC(2026, 11, 7, 10, 0, 0, 500), stream: 'stderr', partial: false, content: 'hi\n',
    });
    expect(parseDockerJsonLogLine('{"log":"piece","stream":"stdout","time":"2026-12-07T10:00:00Z"}')).toMatchObject({ partial: true, content: 'piece' });
    for (const bad of ['{', '[]', 'null', '{"log":1,"stream":"stdout","time":"2026-12-07T10:00:00Z"}', '{"log":"x","stream":"x","time":"2026-12-07T10:00:00Z"}', '{"log":"x","stream":"stdout"}']) {
      expect(parseDockerJsonLogLine(bad)).toBeUndefined();
    }
  });

  it('recognises the format per line unless told', () => {
    const json = '{"log":"a\\n","stream":"stdout","time":"2026-12-07T10:00:00Z"}';
    const line = '2026-12-07T10:00:00Z stdout F a';
    expect(parseLogLine(json)?.content).toBe('a\n');
    expect(parseLogLine(line)?.content).toBe('a\n');
    expect(parseLogLine(json, 'cri')).toBeUndefined();
    expect(parseLogLine(line, 'json-file')).toBeUndefined();
  });

  it('parses RFC3339Nano times to milliseconds, rounding down, with zone offsets', () => {
    expect(parseLogTime('2026-12-07T10:00:00.999999999Z')).toBe(Date.UTC(2026, 11, 7, 10, 0, 0, 999));
    expect(parseLogTime('2026-12-07T10:00:00Z')).toBe(Date.UTC(2026, 11, 7, 10, 0, 0));
    expect(parseLogTime('2026-12-07T12:30:00.1+02:30')).toBe(Date.UTC(2026, 11, 7, 10, 0, 0, 100));
    expect(parseLogTime('2026-12-07T10:00:00')).toBeUndefined();
    expect(parseLogTime('2026-12-07 10:00:00Z')).toBeUndefined();
  });
});

describe('readContainerLog', () => {
  it('reads a CRI file, joining partial pieces per stream and skipping garbage', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      await writeFile(path, [
        cri(0, 'stdout', 'F', 'one'),
        cri(1, 'stdout', 'P', 'tw'),
        cri(2, 'stderr', 'F', 'err'),
        'garbage that is no log line\n',
        '\n',
        cri(3, 'stdout', 'P', 'o and'),
        cri(4, 'stdout', 'F', ' more'),
        cri(5, 'stdout', 'F', ''),
      ].join(''));
      expect(await read(path)).toBe('one\nerr\ntwo and more\n\n');
      // One timestamp per joined line: that of the piece that completed it.
      expect(await read(path, { timestamps: true })).toBe(`${ts(0)} one\n${ts(2)} err\n${ts(4)} two and more\n${ts(5)} \n`);
      expect(await read(path, { stream: 'stderr' })).toBe('err\n');
      expect(await read(path, { stream: 'stdout', format: 'cri' })).toBe('one\ntwo and more\n\n');
    });
  });

  it('reads a docker json-file log, joining its 16 KiB pieces', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'c-json.log');
      const long = 'x'.repeat(16 * 1024 * 2 + 100);
      await writeFile(path, [
        docker(0, 'stdout', 'hello\n'),
        docker(1, 'stdout', long.slice(0, 16 * 1024)),
        docker(1, 'stderr', 'oops\n'),
        docker(2, 'stdout', long.slice(16 * 1024, 32 * 1024)),
        '{"not":"a log"}\n',
        docker(3, 'stdout', `${long.slice(32 * 1024)}\n`),
        docker(4, 'stdout', 'no newline at the end'),
      ].join(''));
      expect(await read(path)).toBe(`hello\noops\n${long}\nno newline at the end`);
      expect(await read(path, { timestamps: true, stream: 'stdout', format: 'json-file' })).toBe(`${ts(0)} hello\n${ts(3)} ${long}\n${ts(4)} no newline at the end`);
      expect(await read(path, { format: 'cri' })).toBe('');
    });
  });

  it('tails a file of many backward chunks to exactly the last lines, with filters and joined pieces', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      const lines: string[] = [];
      for (let i = 0; i < 10_000; i++) lines.push(cri(i, i % 10 === 0 ? 'stderr' : 'stdout', 'F', `line ${i}`));
      // The last stdout line is written in pieces, with a stderr line in between.
      lines.push(cri(10_000, 'stdout', 'P', 'split '), cri(10_001, 'stderr', 'F', 'between'), cri(10_002, 'stdout', 'F', 'end'));
      await writeFile(path, `${lines.join('')}half a line being writ`);
      expect(await read(path, { tailLines: 3 })).toBe('line 9999\nbetween\nsplit end\n');
      expect(await read(path, { tailLines: 1 })).toBe('split end\n');
      expect(await read(path, { tailLines: 5 })).toBe('line 9997\nline 9998\nline 9999\nbetween\nsplit end\n');
      expect(await read(path, { tailLines: 0 })).toBe('');
      expect(await read(path, { tailLines: 3, stream: 'stderr' })).toBe('line 9980\nline 9990\nbetween\n');
      expect(await read(path, { tailLines: 2, stream: 'stdout', timestamps: true })).toBe(`${ts(9999)} line 9999\n${ts(10_002)} split end\n`);
      // sinceTime leaves fewer lines than asked for: all of those.
      expect(await read(path, { tailLines: 100, sinceTime: new Date(Date.UTC(2026, 11, 7, 10, 0, 9998)) })).toBe('line 9998\nline 9999\nbetween\nsplit end\n');
      const all = (await read(path, { tailLines: 20_000 })).split('\n');
      expect(all.length).toBe(10_002 + 1);
      expect(all[0]).toBe('line 0');
      expect(await read(path, { tailLines: -1 })).toBe(await read(path));
    });
  });

  it('tails a docker file and a file without any whole line', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'json.log');
      const lines: string[] = [];
      for (let i = 0; i < 3000; i++) lines.push(docker(i, 'stdout', `entry ${i}\n`));
      lines.push(docker(3000, 'stdout', 'a'.repeat(16 * 1024)), docker(3001, 'stdout', 'b\n'));
      await writeFile(path, lines.join(''));
      expect(await read(path, { tailLines: 2 })).toBe(`entry 2999\n${'a'.repeat(16 * 1024)}b\n`);
      // A line still being written at the end counts as one and is written as it is.
      await appendFile(path, docker(3002, 'stdout', 'still going'));
      expect(await read(path, { tailLines: 2 })).toBe(`${'a'.repeat(16 * 1024)}b\nstill going`);
      const empty = join(dir, 'empty.log');
      await writeFile(empty, 'no newline');
      expect(await read(empty, { tailLines: 10 })).toBe('');
    });
  });

  it('filters by sinceTime at millisecond precision', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      await writeFile(path, [cri(0, 'stdout', 'F', 'a'), cri(1, 'stdout', 'F', 'b'), cri(2, 'stderr', 'F', 'c')].join(''));
      expect(await read(path, { sinceTime: new Date(Date.UTC(2026, 11, 7, 10, 0, 1, 123)) })).toBe('b\nc\n');
      expect(await read(path, { sinceTime: new Date(Date.UTC(2026, 11, 7, 10, 0, 1, 124)) })).toBe('c\n');
    });
  });

  it('stops at limitBytes, cutting the last line, even when following', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      await writeFile(path, [cri(0, 'stdout', 'F', 'hello'), cri(1, 'stdout', 'F', 'world')].join(''));
      expect(await read(path, { limitBytes: 8 })).toBe('hello\nwo');
      expect(await read(path, { limitBytes: 6 })).toBe('hello\n');
      expect(await read(path, { limitBytes: 1000 })).toBe('hello\nworld\n');
      expect(await read(path, { limitBytes: 10, timestamps: true })).toBe(ts(0).slice(0, 10));
      expect(await read(path, { limitBytes: 8, follow: true, pollMs: 20 })).toBe('hello\nwo');
    });
  });

  it('cuts a line longer than 1 MiB on disk and reads on, forward and backward', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      const head = `${ts(0)} stdout F `;
      await writeFile(path, `${head}${'y'.repeat(MAX_LINE_BYTES + 5000)}\n${cri(1, 'stdout', 'F', 'after')}`);
      const expected = `${'y'.repeat(MAX_LINE_BYTES - head.length)}\nafter\n`;
      expect(await read(path)).toBe(expected);
      expect(await read(path, { tailLines: 2 })).toBe(expected);
    });
  });

  it('waits for drain when the response is slow, losing nothing', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      const lines: string[] = [];
      for (let i = 0; i < 5000; i++) lines.push(cri(i, 'stdout', 'F', `row ${i} ${'z'.repeat(50)}`));
      await writeFile(path, lines.join(''));
      const out = sink(true);
      await readContainerLog(path, out, { tailLines: 4000 });
      const got = out.text().split('\n');
      expect(got.length).toBe(4001);
      expect(got[0]).toBe(`row 1000 ${'z'.repeat(50)}`);
      expect(got[3999]).toBe(`row 4999 ${'z'.repeat(50)}`);
    });
  });

  it('throws when the file is missing and not following', async () => {
    await withDir(async (dir) => {
      await expect(readContainerLog(join(dir, 'nope.log'), sink())).rejects.toThrow(/missing/);
    });
  });

  it('follows appended lines until stillRunning says the container exited, then ends after the last', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      await writeFile(path, cri(0, 'stdout', 'F', 'first'));
      const out = sink();
      let running = true;
      const done = readContainerLog(path, out, { follow: true, pollMs: 20, tailLines: 10, stillRunning: async () => running });
      await waitFor(() => out.text() === 'first\n', 'the first line');
      await appendFile(path, cri(1, 'stdout', 'P', 'sec'));
      await appendFile(path, cri(2, 'stdout', 'F', 'ond'));
      await appendFile(path, `${ts(3)} stderr F thi`);
      await waitFor(() => out.text() === 'first\nsecond\n', 'the joined second line');
      await appendFile(path, 'rd\n');
      await appendFile(path, cri(4, 'stdout', 'P', 'unfinished'));
      running = false;
      await done;
      expect(out.text()).toBe('first\nsecond\nthird\nunfinished');
    });
  });

  it('follows across a rotation: the old file to its end, then the new one from its start', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      const rotated = join(dir, '0.log.20261207-100000');
      await writeFile(path, cri(0, 'stdout', 'F', 'old 1'));
      const out = sink();
      let running = true;
      const done = readContainerLog(path, out, { follow: true, pollMs: 20, stillRunning: async () => running });
      await waitFor(() => out.text() === 'old 1\n', 'the old file');
      await rename(path, rotated);
      await appendFile(rotated, cri(1, 'stdout', 'P', 'old '));
      await appendFile(rotated, cri(1, 'stdout', 'F', '2'));
      await writeFile(path, cri(2, 'stdout', 'F', 'new 1'));
      await waitFor(() => out.text().endsWith('new 1\n'), 'the new file');
      await appendFile(path, cri(3, 'stderr', 'F', 'new 2'));
      await waitFor(() => out.text().endsWith('new 2\n'), 'growth of the new file');
      running = false;
      await done;
      expect(out.text()).toBe('old 1\nold 2\nnew 1\nnew 2\n');
    });
  });

  it('starts over when the file is truncated in place while following', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      await writeFile(path, cri(0, 'stdout', 'F', 'a rather long first line'));
      const out = sink();
      const abort = new AbortController();
      const done = readContainerLog(path, out, { follow: true, pollMs: 20, signal: abort.signal });
      await waitFor(() => out.text() === 'a rather long first line\n', 'the first line');
      await writeFile(path, cri(1, 'stdout', 'F', 'short'));
      await waitFor(() => out.text().endsWith('short\n'), 'the rewritten file');
      abort.abort();
      await done;
      expect(out.text()).toBe('a rather long first line\nshort\n');
    });
  });

  it('waits for a missing file while following, and an abort ends the follow', async () => {
    await withDir(async (dir) => {
      const path = join(dir, '0.log');
      const out = sink();
      const abort = new AbortController();
      const done = readContainerLog(path, out, { follow: true, pollMs: 20, signal: abort.signal, stillRunning: async () => true });
      await new Promise((resolve) => setTimeout(resolve, 60));
      await writeFile(path, cri(0, 'stdout', 'F', 'appeared'));
      await waitFor(() => out.text() === 'appeared\n', 'the file to be read');
      abort.abort();
      await done;
      expect(out.text()).toBe('appeared\n');
    });
  });

  it('ends a wait for a missing file when the container has exited', async () => {
    await withDir(async (dir) => {
      expect(await read(join(dir, 'never.log'), { follow: true, pollMs: 20, stillRunning: async () => false })).toBe('');
    });
  });
});
