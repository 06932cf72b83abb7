/**
 * Keeps the first `limit` bytes written to it and counts the rest, as upstream's LimitWriter
 * does for exec probe output: a command printing without end (`cat /dev/zero`) costs `limit`
 * bytes of memory, not its output's size, and the stream is still read to its end so the
 * command is never blocked on a full pipe while it is being waited for.
 */
export class BoundedBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;
  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  write(chunk: Buffer): void {
    const room = this.limit - this.kept;
    if (room > 0) {
      // subarray shares the chunk's memory: copy, or the whole chunk would stay alive.
      const part = chunk.length <= room ? chunk : Buffer.from(chunk.subarray(0, room));
      this.chunks.push(part);
      this.kept += part.length;
    }
    this.dropped += Math.max(0, chunk.length - Math.max(0, room));
  }

  /** Bytes written past the limit and thrown away. */
  get droppedBytes(): number {
    return this.dropped;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }

  toString(): string {
    return this.toBuffer().toString('utf8');
  }
}
