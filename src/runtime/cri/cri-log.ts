import type { LogOptions } from '../types.ts';

/**
 * The CRI container log format, as containerd writes it and kubelet reads it: one record per line,
 *
 *   2026-12-03T12:51:53.393037132Z stdout F hello
 *
 * a RFC 3339 timestamp with nanoseconds, the stream, a tag (F for a full line, P for a part of a
 * line the runtime split because it was too long) and the content. Parts are joined until the F
 * record that ends them. Pure: the caller reads the file.
 */

export interface CriLogLine {
  /** The timestamp as written (RFC 3339, nanoseconds), of the line's first record. */
  timestamp: string;
  /** Milliseconds since the epoch, for `since`. */
  timeMs: number;
  stream: 'stdout' | 'stderr';
  content: string;
}

/** One record, or undefined for a line that is not in the format (skipped, as kubelet does). */
export function parseCriLogRecord(line: string): { timestamp: string; timeMs: number; stream: 'stdout' | 'stderr'; partial: boolean; content: string } | undefined {
  const a = line.indexOf(' ');
  const b = a < 0 ? -1 : line.indexOf(' ', a + 1);
  if (a <= 0 || b < 0) return undefined;
  const timestamp = line.slice(0, a);
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const timeMs = Date.parse(timestamp);
  if (Number.isNaN(timeMs)) return undefined;
  // The tag field may carry more tags after ':'; only P/F matters here. An empty log line has
  // nothing after the tag (not even the separating space).
  const c = line.indexOf(' ', b + 1);
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  const kind = tag.split(':')[0];
  if (kind !== 'P' && kind !== 'F') return undefined;
  return { timestamp, timeMs, stream, partial: kind === 'P', content: c < 0 ? '' : line.slice(c + 1) };
}

/** The file's lines, parts joined, per stream (a stdout part is never joined to a stderr one). */
export function parseCriLog(text: string): CriLogLine[] {
  const out: CriLogLine[] = [];
  const pending: Partial<Record<'stdout' | 'stderr', CriLogLine>> = {};
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const record = parseCriLogRecord(raw);
    if (!record) continue;
    const open = pending[record.stream];
    const line = open ?? { timestamp: record.timestamp, timeMs: record.timeMs, stream: record.stream, content: '' };
    line.content += record.content;
    if (record.partial) {
      pending[record.stream] = line;
    } else {
      delete pending[record.stream];
      out.push(line);
    }
  }
  // A part still open at the end (the container is writing the rest) is shown as it is.
  for (const line of Object.values(pending)) if (line) out.push(line);
  return out.sort((x, y) => x.timeMs - y.timeMs);
}

/** What `kubectl logs` shows: lines after `since`, the last `tailLines`, each with its timestamp if asked. */
export function formatCriLog(text: string, options: LogOptions = {}): string {
  let lines = parseCriLog(text);
  if (options.since) {
    const since = options.since.getTime();
    lines = lines.filter((l) => l.timeMs >= since);
  }
  if (options.tailLines !== undefined) lines = options.tailLines <= 0 ? [] : lines.slice(-options.tailLines);
  return lines.map((l) => `${options.timestamps ? `${l.timestamp} ` : ''}${l.content}\n`).join('');
}
