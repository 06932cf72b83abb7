import { Duplex } from 'node:stream';
import { constants as zlibConstants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary.ts';
import {
  dataFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  frameStreamId,
  FrameType,
  goAwayFrame,
  MAX_FRAME_BYTES,
  parseSynStream,
  pingFrame,
  readFrames,
  RstStatus,
  rstStreamFrame,
  SpdyProtocolError,
  synReplyFrame,
  type Frame,
} from './spdy-frames.ts';

/**
 * The server end of a SPDY/3.1 connection, as the kubelet's streaming server speaks it to
 * kube-apiserver after `Upgrade: SPDY/3.1`: the client opens streams (SYN_STREAM with headers),
 * the server accepts each (SYN_REPLY) and both sides send DATA until FIN.
 *
 * No flow control, on purpose: moby/spdystream, the client end, neither sends nor honours
 * WINDOW_UPDATE, so a server that waited for window would stall after 64 KiB. Memory stays
 * bounded another way: when a stream's reader falls behind, the whole socket is paused (TCP pushes
 * back on the client), and a client that opens more streams than `maxStreams` is refused.
 *
 * Frames are handled strictly in order through one chain, since a SYN_STREAM's header block must
 * be inflated (asynchronously) before the DATA frames after it can find their stream.
 */

/** Far above any header block a streaming client sends (a few short headers). */
const MAX_HEADER_BLOCK_BYTES = 64 * 1024;

export interface SpdySessionOptions {
  /** Streams a client may have open at once; more are refused (RST_STREAM REFUSED_STREAM). */
  maxStreams: number;
  onStream: (stream: SpdyStream) => void;
  /** The connection ended (either side, or an error); every stream is closed by then. */
  onClose?: (error?: Error) => void;
}

export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: Record<string, string[]>;
  private readonly session: SpdySession;
  private finSent = false;

  constructor(session: SpdySession, id: number, headers: Record<string, string[]>) {
    super({ allowHalfOpen: true });
    this.session = session;
    this.id = id;
    this.headers = headers;
    // A stream's error must never reach the process as an uncaught one: the exec it carries ends
    // (its reader sees the close), and the daemon goes on serving every other pod.
    this.on('error', () => undefined);
  }

  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()]?.[0];
  }

  override _read(): void {
    this.session.resumeReading();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.session.sendData(this.id, chunk, false).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finSent = true;
    this.session.sendData(this.id, Buffer.alloc(0), true).then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Ending without FIN (an error on our side): tell the client, so its reader does not wait.
    if (!this.finSent && error) this.session.reset(this.id, RstStatus.Cancel);
    this.session.forget(this.id);
    callback(error);
  }

  /** Data from the client; false when the reader is full (the session then pauses the socket). */
  receive(data: Buffer): boolean {
    return this.push(data);
  }

  remoteFin(): void {
    this.push(null);
  }
}

export class SpdySession {
  private readonly socket: Duplex;
  private readonly options: SpdySessionOptions;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly inflate: Inflate;
  private readonly deflate: Deflate;
  private pending: Buffer = Buffer.alloc(0);
  private inbound: Promise<void> = Promise.resolve();
  private outbound: Promise<void> = Promise.resolve();
  private queuedFrames = 0;
  private lastStreamId = 0;
  private closed = false;

  constructor(socket: Duplex, options: SpdySessionOptions) {
    this.socket = socket;
    this.options = options;
    this.inflate = createInflate({ dictionary: SPDY3_DICTIONARY });
    this.deflate = createDeflate({ dictionary: SPDY3_DICTIONARY });
    this.inflate.on('error', (err) => this.fail(err));
    this.deflate.on('error', (err) => this.fail(err));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.close());
    socket.on('close', () => this.close());
    socket.on('error', (err: Error) => this.close(err));
  }

  /** Bytes the upgrade request carried past its headers (Node hands them over as `head`). */
  feed(head: Buffer): void {
    if (head.length > 0) this.onData(head);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let frames: Frame[];
    try {
      ({ frames, rest: this.pending } = readFrames(this.pending));
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (this.pending.length > MAX_FRAME_BYTES) {
      this.fail(new SpdyProtocolError('frame larger than SPDY allows'));
      return;
    }
    for (const frame of frames) {
      this.queuedFrames++;
      this.inbound = this.inbound
        .then(() => this.handle(frame))
        .catch((err: unknown) => this.fail(err as Error))
        .finally(() => {
          this.queuedFrames--;
          if (this.queuedFrames < 16) this.resumeReading();
        });
    }
    // Header blocks inflate asynchronously: a client far ahead of us waits in TCP, not in memory.
    if (this.queuedFrames >= 64) this.socket.pause();
  }

  private async handle(frame: Frame): Promise<void> {
    if (this.closed) return;
    if (frame.kind === 'data') {
      const stream = this.streams.get(frame.streamId);
      if (!stream) return; // data for a stream already reset or closed: dropped, as spdystream does
      if (frame.data.length > 0 && !stream.receive(frame.data)) this.socket.pause();
      if (frame.fin) stream.remoteFin();
      return;
    }
    switch (frame.type) {
      case FrameType.SynStream: {
        const syn = parseSynStream(frame.flags, frame.data);
        const headers = decodeHeaderBlock(await this.inflateBlock(syn.compressedHeaders));
        if (syn.streamId <= this.lastStreamId || syn.streamId % 2 === 0) throw new SpdyProtocolError(`stream id ${syn.streamId} out of order`);
        this.lastStreamId = syn.streamId;
        if (this.streams.size >= this.options.maxStreams) {
          this.reset(syn.streamId, RstStatus.RefusedStream);
          return;
        }
        const stream = new SpdyStream(this, syn.streamId, headers);
        this.streams.set(syn.streamId, stream);
        await this.send(async () => synReplyFrame(syn.streamId, await this.deflateBlock(encodeHeaderBlock({}))));
        if (syn.fin || syn.unidirectional) stream.remoteFin();
        this.options.onStream(stream);
        return;
      }
      case FrameType.RstStream: {
        const stream = this.streams.get(frameStreamId(frame.data));
        stream?.destroy();
        return;
      }
      case FrameType.Ping:
        // Echoed back unchanged: the client's keep-alive.
        if (frame.data.length >= 4) await this.send(() => Promise.resolve(pingFrame(frame.data.readUInt32BE(0))));
        return;
      case FrameType.GoAway:
        this.close();
        return;
      case FrameType.Headers:
        // Extra headers on an open stream: they must still go through the inflater to keep its state.
        await this.inflateBlock(frame.data.subarray(4));
        return;
      default:
        // SETTINGS, WINDOW_UPDATE and the rest carry nothing this server acts on.
        return;
    }
  }

  private zlibRound(z: Inflate | Deflate, input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (c: Buffer) => {
        size += c.length;
        // A header block that inflates past any real one is a zlib bomb, not headers.
        if (size > MAX_HEADER_BLOCK_BYTES) {
          z.off('data', onData);
          this.fail(new SpdyProtocolError(`a header block inflates past ${MAX_HEADER_BLOCK_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      };
      z.on('data', onData);
      z.write(input);
      z.flush(zlibConstants.Z_SYNC_FLUSH, () => {
        z.off('data', onData);
        if (this.closed) reject(new Error('SPDY session closed'));
        else resolve(Buffer.concat(chunks));
      });
    });
  }

  private inflateBlock(compressed: Buffer): Promise<Buffer> {
    return this.zlibRound(this.inflate, compressed);
  }

  private deflateBlock(block: Buffer): Promise<Buffer> {
    return this.zlibRound(this.deflate, block);
  }

  /** Frames leave in the order they were queued; resolves once the socket took this one. */
  private send(build: () => Promise<Buffer>): Promise<void> {
    const next = this.outbound.then(async () => {
      if (this.closed) throw new Error('SPDY session closed');
      const bytes = await build();
      if (!this.socket.write(bytes)) await new Promise<void>((resolve) => {
        const done = () => {
          this.socket.off('drain', done);
          this.socket.off('close', done);
          resolve();
        };
        this.socket.once('drain', done);
        this.socket.once('close', done);
      });
    });
    this.outbound = next.catch(() => undefined);
    return next;
  }

  sendData(streamId: number, data: Buffer, fin: boolean): Promise<void> {
    return this.send(() => Promise.resolve(dataFrame(streamId, data, fin)));
  }

  reset(streamId: number, status: number): void {
    this.streams.get(streamId)?.destroy();
    this.streams.delete(streamId);
    this.send(() => Promise.resolve(rstStreamFrame(streamId, status))).catch(() => undefined);
  }

  forget(streamId: number): void {
    this.streams.delete(streamId);
  }

  resumeReading(): void {
    if (!this.closed && this.queuedFrames < 16) this.socket.resume();
  }

  /** GOAWAY once every queued frame has left, then the socket ends; streams end with it. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    await this.send(() => Promise.resolve(goAwayFrame(this.lastStreamId))).catch(() => undefined);
    this.socket.end();
    this.close();
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.socket.destroy();
    this.close(err);
  }

  private close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams.values()) stream.destroy();
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    this.options.onClose?.(error);
  }
}
