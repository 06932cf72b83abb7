import { Writable, type Readable } from 'node:stream';
import { PassThrough } from 'node:stream';

/**
 * Docker's multiplexed attach stream (no tty): frames of an 8-byte header [stream, 0, 0, 0,
 * size32] and `size` bytes, stream 1 stdout and 2 stderr. Unlike dockerode's demuxStream this
 * one holds back when a reader is slow: the next frame is parsed only after the last write
 * drained, so a command printing without end cannot grow the agent's memory past one frame.
 */
export function demuxDockerStream(source: Readable): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let pending: Buffer = Buffer.alloc(0);
  const sink = new Writable({
    write(chunk: Buffer, _enc, callback) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const waits: Promise<void>[] = [];
      while (pending.length >= 8) {
        const size = pending.readUInt32BE(4);
        if (pending.length < 8 + size) break;
        const kind = pending[0];
        const payload = pending.subarray(8, 8 + size);
        pending = pending.subarray(8 + size);
        const target = kind === 2 ? stderr : stdout;
        if (payload.length > 0 && !target.write(payload)) waits.push(new Promise((resolve) => target.once('drain', resolve)));
      }
      if (waits.length === 0) callback();
      else void Promise.all(waits).then(() => callback());
    },
    final(callback) {
      stdout.end();
      stderr.end();
      callback();
    },
  });
  source.pipe(sink);
  const end = () => {
    if (!stdout.writableEnded) stdout.end();
    if (!stderr.writableEnded) stderr.end();
  };
  source.once('close', end);
  source.once('error', end);
  return { stdout, stderr };
}
