import { open, stat, type FileHandle } from 'node:fs/promises';
import { isRecord } from '../util/is-record.ts';
import { sleep } from '../util/sleep.ts';

/**
 * Reads a container's log file for the kubelet's /containerLogs endpoint (`kubectl logs`) and
 * writes the log text to the response. Two on-disk formats are understood, per line:
 *
 * - CRI (containerd): `<RFC3339Nano time> <stdout|stderr> <P|F> <content>`; a `P` (partial)
 *   piece is continued by the following pieces of its stream up to an `F` one.
 * - Docker json-file: `{"log":"…\n","stream":"stdout","time":"…"}`; docker cuts long lines at
 *   16 KiB, and a piece whose `log` does not end in "\n" is continued by the next one.
 *
 * Pieces are joined into whole log lines before filtering, counting (tailLines) and prefixing
 * (timestamps), so one line written by the container is one line for kubectl. Memory stays
 * bounded whatever the file's size: the file is read in 64 KiB chunks, forward, or backward from
 * its end for tailLines, and no line held is longer than about 1 MiB.
 */

export type LogStream = 'stdout' | 'stderr';
export type LogFormat = 'cri' | 'json-file' | 'auto';

/** One line of the file, parsed: a whole log line or a piece of one. */
export interface LogPiece {
  /** The timestamp as written on disk (RFC3339Nano), which is what timestamps=true prints. */
  time: string;
  /** The same instant in Unix milliseconds, rounded down (enough to compare with a Date). */
  timeMs: number;
  stream: LogStream;
  /** The line goes on in the next piece of the same stream. */
  partial: boolean;
  /** The piece's text; it ends with "\n" exactly when the piece completes its line. */
  content: string;
}

export interface LogReadOptions {
  /** Only the last N log lines that pass the other filters (kubectl --tail); negative means all. */
  tailLines?: number | undefined;
  /** Only lines stamped at or after this instant (kubectl --since, --since-time). */
  sinceTime?: Date | undefined;
  /** Prefix each line with its timestamp and a space (kubectl --timestamps). */
  timestamps?: boolean | undefined;
  /** Stop once this many bytes are written, cutting the last line (kubectl --limit-bytes). */
  limitBytes?: number | undefined;
  /** Which of the container's streams; both by default. */
  stream?: LogStream | 'all' | undefined;
  /** At the end of the file, wait for more (kubectl -f). */
  follow?: boolean | undefined;
  /** The file's format; by default each line is recognised by itself. */
  format?: LogFormat | undefined;
}

export interface LogFollowControl {
  /** Ends the read (a follow, a wait for drain) when aborted: wire it to the response's close. */
  signal?: AbortSignal | undefined;
  /** While following: resolving false (the container has exited) ends the read at the file's end. */
  stillRunning?: (() => Promise<boolean>) | undefined;
  /** While following: how often to look for growth, rotation or the file appearing; 250 ms by default. */
  pollMs?: number | undefined;
}

/** Where the log text goes: an http.ServerResponse, or any Writable. */
export interface LogSink {
  write(chunk: Uint8Array): boolean;
  once(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/** A line on disk longer than this is cut to it; a joined line is held to about this many characters. */
export const MAX_LINE_BYTES = 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
const DEFAULT_POLL_MS = 250;
/** Asking the runtime whether the container still runs costs a call; once a second is enough. */
const STILL_RUNNING_EVERY_MS = 1000;
const NEWLINE = 0x0a;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * Pure: an RFC3339 (Nano) timestamp in Unix milliseconds, rounded down, or undefined. Parsed by
 * hand because Date.parse is not specified for nine fractional digits.
 */
export function parseLogTime(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const offsetMinutes = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) : 0;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

/** Pure: a CRI log line (`time stream tag content`), or undefined when it is not one. */
export function parseCriLogLine(line: string): LogPiece | undefined {
  const afterTime = line.indexOf(' ');
  const afterStream = afterTime < 0 ? -1 : line.indexOf(' ', afterTime + 1);
  if (afterStream < 0) return undefined;
  const afterTag = line.indexOf(' ', afterStream + 1);
  const time = line.slice(0, afterTime);
  const stream = line.slice(afterTime + 1, afterStream);
  // Tags are `:`-separated; the first says partial or full, later ones are for future use.
  const tag = (afterTag < 0 ? line.slice(afterStream + 1) : line.slice(afterStream + 1, afterTag)).split(':')[0];
  if ((stream !== 'stdout' && stream !== 'stderr') || (tag !== 'P' && tag !== 'F')) return undefined;
  const timeMs = parseLogTime(time);
  if (timeMs === undefined) return undefined;
  const content = afterTag < 0 ? '' : line.slice(afterTag + 1);
  const partial = tag === 'P';
  return { time, timeMs, stream, partial, content: partial ? content : `${content}\n` };
}

/** Pure: a docker json-file log line, or undefined when it is not one. */
export function parseDockerJsonLogLine(line: string): LogPiece | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  const { log, stream, time } = value;
  if (typeof log !== 'string' || typeof time !== 'string' || (stream !== 'stdout' && stream !== 'stderr')) return undefined;
  const timeMs = parseLogTime(time);
  if (timeMs === undefined) return undefined;
  return { time, timeMs, stream, partial: !log.endsWith('\n'), content: log };
}

/** Pure: a line of either format (a JSON object is docker's, anything else CRI's unless `format` says). */
export function parseLogLine(line: string, format: LogFormat = 'auto'): LogPiece | undefined {
  if (format === 'cri') return parseCriLogLine(line);
  if (format === 'json-file') return parseDockerJsonLogLine(line);
  return line.startsWith('{') ? parseDockerJsonLogLine(line) : parseCriLogLine(line);
}

/** A line of the file, without its "\n", cut to MAX_LINE_BYTES; `offset` is where it starts. */
interface RawLine {
  text: string;
  offset: number;
}

/** A whole log line; `offset` is that of its last piece, which is when it became whole. */
interface JoinedLine {
  time: string;
  timeMs: number;
  stream: LogStream;
  content: string;
  offset: number;
}

interface PendingLine extends JoinedLine {
  parts: string[];
  length: number;
  cut: boolean;
}

/**
 * Joins partial pieces into lines, per stream (stdout and stderr pieces interleave). A joined
 * line carries the timestamp of its last piece. Past MAX_LINE_BYTES further pieces are dropped,
 * so a container that never ends its line cannot make the reader hold all of it.
 */
class PartialJoiner {
  private readonly pending = new Map<LogStream, PendingLine>();

  push(piece: LogPiece, offset: number): JoinedLine | undefined {
    let line = this.pending.get(piece.stream);
    if (!line && !piece.partial) return { time: piece.time, timeMs: piece.timeMs, stream: piece.stream, content: piece.content, offset };
    if (!line) {
      line = { time: piece.time, timeMs: piece.timeMs, stream: piece.stream, content: '', offset, parts: [], length: 0, cut: false };
      this.pending.set(piece.stream, line);
    }
    line.time = piece.time;
    line.timeMs = piece.timeMs;
    line.offset = offset;
    if (!line.cut) {
      const room = MAX_LINE_BYTES - line.length;
      const text = piece.content.length <= room ? piece.content : piece.content.slice(0, room);
      line.cut = text.length < piece.content.length;
      line.parts.push(text);
      line.length += text.length;
    }
    if (piece.partial) return undefined;
    this.pending.delete(piece.stream);
    return finish(line, true);
  }

  /** The lines still waiting for their end, oldest first: at the end of the read they go out as they are. */
  drain(): JoinedLine[] {
    const lines = [...this.pending.values()].sort((a, b) => a.offset - b.offset).map((line) => finish(line, false));
    this.pending.clear();
    return lines;
  }
}

function finish(line: PendingLine, complete: boolean): JoinedLine {
  let content = line.parts.join('');
  // A cut line lost its "\n" with its tail; a complete line still ends one.
  if (complete && !content.endsWith('\n')) content += '\n';
  return { time: line.time, timeMs: line.timeMs, stream: line.stream, content, offset: line.offset };
}

/** Reads `length` bytes at `position` unless the file is shorter (it was truncated); returns how many. */
async function readAt(handle: FileHandle, buf: Buffer, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** A line found reading backward; `end` is where its "\n" is. */
interface BackwardLine extends RawLine {
  end: number;
}

/**
 * The file's newline-terminated lines from the last to the first, read in chunks from the end.
 * A half-written last line (no "\n" yet) is not one. A line reaching into a later chunk is read
 * again by position, its first MAX_LINE_BYTES only, so a huge line costs no more memory.
 */
async function* linesBackward(handle: FileHandle, size: number, signal: AbortSignal | undefined): AsyncGenerator<BackwardLine> {
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  /** The file's bytes [bufStart, bufEnd) are in buf. */
  let bufStart = size;
  let bufEnd = size;
  /** Where the "\n" ending the line being delimited is; undefined before the last "\n" is found. */
  let lineEnd: number | undefined;
  const lineAt = async (start: number, end: number): Promise<BackwardLine> => {
    const length = Math.min(end - start, MAX_LINE_BYTES);
    if (start + length <= bufEnd) return { text: buf.toString('utf8', start - bufStart, start - bufStart + length), offset: start, end };
    const own = Buffer.allocUnsafe(length);
    const got = await readAt(handle, own, length, start);
    return { text: own.toString('utf8', 0, got), offset: start, end };
  };
  while (bufStart > 0) {
    if (signal?.aborted) return;
    bufEnd = bufStart;
    bufStart = Math.max(0, bufEnd - CHUNK_BYTES);
    const got = await readAt(handle, buf, bufEnd - bufStart, bufStart);
    // Shorter than it was a moment ago: truncated under us; what was read is all there is.
    if (got < bufEnd - bufStart) return;
    for (let i = got - 1; i >= 0; ) {
      const nl = buf.lastIndexOf(NEWLINE, i);
      if (nl < 0) break;
      if (lineEnd !== undefined) yield await lineAt(bufStart + nl + 1, lineEnd);
      lineEnd = bufStart + nl;
      i = nl - 1;
    }
  }
  if (lineEnd !== undefined) yield await lineAt(0, lineEnd);
}

interface TailFilter {
  wanted: (piece: LogPiece) => boolean;
  sinceMs: number | undefined;
  signal: AbortSignal | undefined;
  format: LogFormat;
}

/** Where to start reading forward for the last N lines, and the offset a line must end at or after to count. */
interface TailStart {
  start: number;
  minOffset: number;
}

/**
 * Reads backward until `lines` log lines that pass the filters are found, and then on until the
 * first pieces of those lines are (a line's pieces can be interleaved with the other stream's
 * lines). Reading forward from `start` and writing only lines whose last piece is at or after
 * `minOffset` gives exactly those lines. A line still being written at the end (partial pieces,
 * no end yet) counts as one, as it is written out at the end of a read that does not follow.
 */
async function findTailStart(handle: FileHandle, lines: number, filter: TailFilter): Promise<TailStart> {
  const { wanted, sinceMs, signal, format } = filter;
  let counted = 0;
  // A line counts if it will be written; pieces of the other stream are not looked at at all.
  const counts = (piece: LogPiece): boolean => counted < lines && (sinceMs === undefined || piece.timeMs >= sinceMs);
  const { size } = await handle.stat();
  let end: number | undefined;
  let start: number | undefined;
  let minOffset: number | undefined;
  /** Streams whose counted line's first piece is still ahead (further back). */
  const open = new Set<LogStream>();
  /** Streams whose last complete piece has been seen: their partial pieces are no longer trailing. */
  const ended = new Set<LogStream>();
  const trailing = new Set<LogStream>();
  for await (const raw of linesBackward(handle, size, signal)) {
    end ??= raw.end + 1;
    const piece = parseLogLine(raw.text, format);
    if (piece && wanted(piece)) {
      const s = piece.stream;
      if (!piece.partial) {
        // Pieces of this stream before a complete one belong to older lines.
        open.delete(s);
        ended.add(s);
        if (counts(piece)) {
          counted++;
          minOffset = start = raw.offset;
          open.add(s);
        }
      } else if (!ended.has(s)) {
        // The line still being written: needed even when not counted, as a follow will finish it.
        if (!trailing.has(s)) {
          trailing.add(s);
          if (counts(piece)) {
            counted++;
            minOffset = raw.offset;
          }
        }
        start = raw.offset;
        open.add(s);
      } else if (open.has(s)) {
        start = raw.offset;
      }
    }
    if (counted >= lines && open.size === 0) break;
  }
  // Nothing to write (yet): start after the last whole line, so a follow sees only what comes.
  const fallback = end ?? 0;
  return { start: start ?? fallback, minOffset: minOffset ?? fallback };
}

/** An open log file read forward in chunks, split into lines; a line's head is carried across chunks. */
class OpenLog {
  readonly handle: FileHandle;
  readonly ino: bigint;
  readonly dev: bigint;
  position = 0;
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private carryStart: number | undefined;

  constructor(handle: FileHandle, ino: bigint, dev: bigint) {
    this.handle = handle;
    this.ino = ino;
    this.dev = dev;
  }

  seek(position: number): void {
    this.position = position;
    this.dropCarry();
  }

  private dropCarry(): void {
    this.carry = [];
    this.carryBytes = 0;
    this.carryStart = undefined;
  }

  /** Reads the next chunk; returns its size (0 at the end of the file) and the lines it completed. */
  async read(buf: Buffer): Promise<{ bytes: number; lines: RawLine[] }> {
    const { bytesRead } = await this.handle.read(buf, 0, buf.length, this.position);
    const base = this.position;
    this.position += bytesRead;
    const view = buf.subarray(0, bytesRead);
    const lines: RawLine[] = [];
    let from = 0;
    for (let nl = view.indexOf(NEWLINE); nl >= 0; nl = view.indexOf(NEWLINE, from)) {
      if (this.carryStart === undefined) {
        lines.push({ text: view.toString('utf8', from, Math.min(nl, from + MAX_LINE_BYTES)), offset: base + from });
      } else {
        this.hold(view.subarray(from, nl));
        lines.push({ text: Buffer.concat(this.carry, this.carryBytes).toString('utf8'), offset: this.carryStart });
        this.dropCarry();
      }
      from = nl + 1;
    }
    if (from < bytesRead) {
      this.carryStart ??= base + from;
      this.hold(view.subarray(from));
    }
    return { bytes: bytesRead, lines };
  }

  /** Keeps a copy (the read buffer is reused) of what fits under MAX_LINE_BYTES; the rest of a long line is cut. */
  private hold(part: Buffer): void {
    const room = MAX_LINE_BYTES - this.carryBytes;
    if (room <= 0 || part.length === 0) return;
    const kept = Buffer.from(part.subarray(0, room));
    this.carry.push(kept);
    this.carryBytes += kept.length;
  }
}

function waitForDrain(out: LogSink, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    function done(): void {
      out.off('drain', done);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    out.once('drain', done);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Writes the log at `path` to `out` as `kubectl logs` shows it. Throws when the file is missing
 * and `follow` is off; while following, a missing file is waited for. Following ends when
 * `signal` aborts, or once `stillRunning` resolves false and the file has been read to its end.
 * A rotation (the path now names a new file) is followed: the old file is read to its end, then
 * the new one from its start. tailLines applies to the first file read only.
 *
 * Limits: lines are decoded as UTF-8, so bytes that are not (binary output) come out as U+FFFD;
 * a truncation in place is noticed only when the file is found shorter than what was read; a
 * line's partial pieces lying before all of the last N lines (the other stream wrote N lines
 * while it waited for its end) are not looked for, so a follow that sees its end writes it short.
 */
export async function readContainerLog(path: string, out: LogSink, options: LogReadOptions & LogFollowControl = {}): Promise<void> {
  await new LogCopy(path, out, options).run();
}

class LogCopy {
  private readonly path: string;
  private readonly out: LogSink;
  private readonly options: LogReadOptions & LogFollowControl;
  private readonly format: LogFormat;
  private readonly sinceMs: number | undefined;
  private readonly buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private readonly joiner = new PartialJoiner();
  private file: OpenLog | undefined;
  /** Lines whose last piece is before this offset (of the first file) are before the tail. */
  private minOffset = 0;
  private written = 0;
  private limitReached: boolean;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private lastRunningCheck = -Infinity;

  constructor(path: string, out: LogSink, options: LogReadOptions & LogFollowControl) {
    this.path = path;
    this.out = out;
    this.options = options;
    this.format = options.format ?? 'auto';
    this.sinceMs = options.sinceTime?.getTime();
    this.limitReached = options.limitBytes !== undefined && options.limitBytes <= 0;
  }

  async run(): Promise<void> {
    try {
      this.file = await this.openLog();
      if (!this.file) {
        if (!this.options.follow) throw new Error(`container log file ${this.path} is missing`);
        this.file = await this.waitForFile();
        if (!this.file) return;
      }
      const { tailLines } = this.options;
      if (tailLines !== undefined && tailLines >= 0) {
        const tail = await findTailStart(this.file.handle, Math.floor(tailLines), {
          wanted: (piece) => this.wanted(piece),
          sinceMs: this.sinceMs,
          signal: this.options.signal,
          format: this.format,
        });
        this.file.seek(tail.start);
        this.minOffset = tail.minOffset;
      }
      await this.copy();
    } finally {
      await this.file?.handle.close();
    }
  }

  private get finished(): boolean {
    return this.limitReached || this.options.signal?.aborted === true;
  }

  private async copy(): Promise<void> {
    const follow = this.options.follow === true;
    const pollMs = this.options.pollMs ?? DEFAULT_POLL_MS;
    let stopping = false;
    for (let file = this.file; file; file = this.file) {
      if (this.finished) return;
      if ((await this.pump(file)) > 0) continue;
      if (!follow || this.finished) break;
      const { size } = await file.handle.stat();
      if (size < file.position) {
        // Truncated in place (copytruncate): what is there now is new.
        file.seek(0);
        this.minOffset = 0;
        continue;
      }
      if (await this.replaced(file)) {
        while (!this.finished && (await this.pump(file)) > 0) {
          // The old file is read to its end before the new one: the writer may have added to it after we last looked.
        }
        this.file = undefined;
        await file.handle.close();
        this.file = (await this.openLog()) ?? (stopping ? undefined : await this.waitForFile());
        this.minOffset = 0;
        continue;
      }
      if (stopping) break;
      // Read once more after the container is seen gone: it may have written just before exiting.
      if (await this.containerExited()) stopping = true;
      else await sleep(pollMs, this.options.signal);
    }
    if (this.finished) return;
    for (const line of this.joiner.drain()) this.emit(line);
    await this.flush();
  }

  /** Reads one chunk and writes the lines it completes; returns the chunk's size. */
  private async pump(file: OpenLog): Promise<number> {
    const { bytes, lines } = await file.read(this.buf);
    for (const raw of lines) {
      if (this.finished) break;
      const piece = parseLogLine(raw.text, this.format);
      if (!piece || !this.wanted(piece)) continue;
      const line = this.joiner.push(piece, raw.offset);
      if (line) this.emit(line);
    }
    await this.flush();
    return bytes;
  }

  private wanted(piece: LogPiece): boolean {
    const stream = this.options.stream ?? 'all';
    return stream === 'all' || piece.stream === stream;
  }

  /** Adds the line to the batch written at the end of the chunk, cut at limitBytes. */
  private emit(line: JoinedLine): void {
    if (this.limitReached || line.offset < this.minOffset) return;
    if (this.sinceMs !== undefined && line.timeMs < this.sinceMs) return;
    let bytes = Buffer.from(this.options.timestamps ? `${line.time} ${line.content}` : line.content, 'utf8');
    const { limitBytes } = this.options;
    if (limitBytes !== undefined && bytes.length >= limitBytes - this.written) {
      bytes = bytes.subarray(0, limitBytes - this.written);
      this.limitReached = true;
    }
    this.written += bytes.length;
    this.batch.push(bytes);
    this.batchBytes += bytes.length;
  }

  private async flush(): Promise<void> {
    if (this.batchBytes === 0) return;
    const chunk = Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    if (!this.out.write(chunk)) await waitForDrain(this.out, this.options.signal);
  }

  private async openLog(): Promise<OpenLog | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const st = await handle.stat({ bigint: true });
      return new OpenLog(handle, st.ino, st.dev);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Whether the path now names another file than the one open: the log was rotated. Gone is not replaced, yet. */
  private async replaced(file: OpenLog): Promise<boolean> {
    const st = await stat(this.path, { bigint: true }).catch(() => undefined);
    return st !== undefined && (st.ino !== file.ino || st.dev !== file.dev);
  }

  /** Polls for the file to appear; undefined when the read ends first (abort, or the container exited). */
  private async waitForFile(): Promise<OpenLog | undefined> {
    const pollMs = this.options.pollMs ?? DEFAULT_POLL_MS;
    for (;;) {
      if (this.options.signal?.aborted) return undefined;
      const file = await this.openLog();
      if (file) return file;
      if (await this.containerExited()) return this.openLog();
      await sleep(pollMs, this.options.signal);
    }
  }

  /**
   * Whether stillRunning says the container has exited, asked at most once a second. A failed
   * question counts as still running: a runtime hiccup should not cut `kubectl logs -f` short.
   */
  private async containerExited(): Promise<boolean> {
    const { stillRunning } = this.options;
    if (!stillRunning) return false;
    const now = Date.now();
    if (now - this.lastRunningCheck < STILL_RUNNING_EVERY_MS) return false;
    this.lastRunningCheck = now;
    try {
      return !(await stillRunning());
    } catch {
      return false;
    }
  }
}
