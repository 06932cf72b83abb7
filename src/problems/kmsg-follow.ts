import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { sleep } from '../util/sleep.ts';

/**
 * Follows /dev/kmsg, or a file of lines in its format standing in for it (tests, the lab), without
 * holding a thread: the device is opened non-blocking and polled, a read returning one record or
 * EAGAIN when there is none; a file returns what was appended, or nothing at its end. Lines are
 * bounded: a longer one is dropped, not buffered.
 */

export interface FollowOptions {
  path: string;
  pollMs: number;
  signal: AbortSignal;
  onLine: (line: string) => void;
  /** Told when records were overwritten before they were read (EPIPE): the kernel outran us. */
  onLost?: () => void;
  maxLineBytes?: number;
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

export async function followKmsg(options: FollowOptions): Promise<void> {
  const { path, pollMs, signal, onLine } = options;
  const maxLine = options.maxLineBytes ?? 16 * 1024;
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const buffer = Buffer.alloc(64 * 1024);
  let carry = '';
  let skipping = false;
  try {
    while (!signal.aborted) {
      let bytes = 0;
      try {
        ({ bytesRead: bytes } = await handle.read(buffer, 0, buffer.length, null));
      } catch (err) {
        if (errno(err) === 'EPIPE') {
          options.onLost?.();
          continue;
        }
        if (errno(err) !== 'EAGAIN') throw err;
      }
      if (bytes === 0) {
        await sleep(pollMs, signal);
        continue;
      }
      const lines = (carry + buffer.toString('utf8', 0, bytes)).split('\n');
      carry = lines.pop() ?? '';
      for (const line of lines) {
        if (skipping) {
          skipping = false;
          continue;
        }
        if (line.length > maxLine) continue;
        onLine(line);
      }
      if (carry.length > maxLine) {
        carry = '';
        skipping = true;
      }
    }
  } finally {
    await handle.close();
  }
}

/** Microseconds since boot, to compare with kmsg timestamps for the look-back window. */
export async function uptimeUsec(): Promise<number> {
  const text = await readFile('/proc/uptime', 'utf8');
  return Math.round(Number(text.split(' ')[0]) * 1e6);
}
