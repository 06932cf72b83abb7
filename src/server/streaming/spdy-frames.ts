/**
 * SPDY/3.1 frames as bytes, both ways, without compression (spdy-session.ts owns the zlib
 * contexts). Only what a streaming server needs: the frames moby/spdystream (the client inside
 * kube-apiserver and kubectl) sends and reads. Pure: buffers in, frames out.
 *
 * Control frame: 1 bit set, 15-bit version (3), 16-bit type, 8-bit flags, 24-bit length, data.
 * Data frame:    1 bit clear, 31-bit stream id, 8-bit flags, 24-bit length, data.
 */

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

/** RST_STREAM status codes used here. */
export const RstStatus = { ProtocolError: 1, RefusedStream: 3, Cancel: 5, InternalError: 6 } as const;

export type Frame =
  | { kind: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { kind: 'control'; type: number; flags: number; data: Buffer };

/** Frame header (8 bytes) plus the largest length 24 bits can carry. */
export const MAX_FRAME_BYTES = 8 + 0xffffff;

/**
 * Splits as many whole frames as `buffer` holds; the rest is returned for the next read. Never
 * throws on a partial frame; a control frame of another SPDY version is a protocol error.
 */
export function readFrames(buffer: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let offset = 0;
  while (buffer.length - offset >= 8) {
    const length = buffer.readUIntBE(offset + 5, 3);
    if (buffer.length - offset < 8 + length) break;
    const first = buffer.readUInt32BE(offset);
    const flags = buffer[offset + 4]!;
    const data = buffer.subarray(offset + 8, offset + 8 + length);
    if (first & 0x80000000) {
      const version = (first >>> 16) & 0x7fff;
      if (version !== SPDY_VERSION) throw new SpdyProtocolError(`SPDY version ${version} is not spoken here (only 3)`);
      frames.push({ kind: 'control', type: first & 0xffff, flags, data });
    } else {
      frames.push({ kind: 'data', streamId: first & 0x7fffffff, fin: (flags & FLAG_FIN) !== 0, data });
    }
    offset += 8 + length;
  }
  return { frames, rest: buffer.subarray(offset) };
}

export class SpdyProtocolError extends Error {}

function header(first: number, flags: number, length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(first >>> 0, 0);
  b[4] = flags;
  b.writeUIntBE(length, 5, 3);
  return b;
}

export function controlFrame(type: number, flags: number, data: Buffer): Buffer {
  if (data.length > 0xffffff) throw new SpdyProtocolError('control frame too large');
  return Buffer.concat([header((0x8000 | SPDY_VERSION) * 0x10000 + type, flags, data.length), data]);
}

export function dataFrame(streamId: number, data: Buffer, fin: boolean): Buffer {
  if (data.length > 0xffffff) throw new SpdyProtocolError('data frame too large');
  return Buffer.concat([header(streamId & 0x7fffffff, fin ? FLAG_FIN : 0, data.length), data]);
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

/** SYN_REPLY: the answer to a stream the client opened, with an already compressed header block. */
export function synReplyFrame(streamId: number, compressedHeaders: Buffer, fin = false): Buffer {
  return controlFrame(FrameType.SynReply, fin ? FLAG_FIN : 0, Buffer.concat([u32(streamId & 0x7fffffff), compressedHeaders]));
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  return controlFrame(FrameType.RstStream, 0, u32(streamId & 0x7fffffff, status));
}

export function goAwayFrame(lastGoodStreamId: number, status = 0): Buffer {
  return controlFrame(FrameType.GoAway, 0, u32(lastGoodStreamId & 0x7fffffff, status));
}

export function pingFrame(id: number): Buffer {
  return controlFrame(FrameType.Ping, 0, u32(id));
}

export interface SynStream {
  streamId: number;
  associatedTo: number;
  fin: boolean;
  unidirectional: boolean;
  compressedHeaders: Buffer;
}

export function parseSynStream(flags: number, data: Buffer): SynStream {
  if (data.length < 10) throw new SpdyProtocolError('SYN_STREAM shorter than its fixed fields');
  return {
    streamId: data.readUInt32BE(0) & 0x7fffffff,
    associatedTo: data.readUInt32BE(4) & 0x7fffffff,
    fin: (flags & FLAG_FIN) !== 0,
    unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
    compressedHeaders: data.subarray(10),
  };
}

/** The stream id of RST_STREAM, HEADERS, WINDOW_UPDATE and SYN_REPLY frames (their first field). */
export function frameStreamId(data: Buffer): number {
  if (data.length < 4) throw new SpdyProtocolError('control frame shorter than its stream id');
  return data.readUInt32BE(0) & 0x7fffffff;
}

/** The most header pairs and bytes a block may decode to: far above what any client sends. */
export const MAX_HEADER_PAIRS = 256;

/**
 * An uncompressed SPDY/3 header block: a 32-bit count, then length-prefixed names and values
 * (a value with several entries separates them with NUL). Names are lower case on the wire.
 */
export function encodeHeaderBlock(headers: Record<string, string | string[]>): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(Array.isArray(value) ? value.join('\0') : value, 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(block: Buffer): Record<string, string[]> {
  const headers: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  const need = (offset: number, n: number) => {
    if (offset + n > block.length) throw new SpdyProtocolError('header block ends inside a field');
  };
  need(0, 4);
  const count = block.readUInt32BE(0);
  if (count > MAX_HEADER_PAIRS) throw new SpdyProtocolError(`header block holds ${count} pairs (at most ${MAX_HEADER_PAIRS})`);
  let offset = 4;
  for (let i = 0; i < count; i++) {
    need(offset, 4);
    const nameLength = block.readUInt32BE(offset);
    need(offset + 4, nameLength + 4);
    const name = block.toString('utf8', offset + 4, offset + 4 + nameLength).toLowerCase();
    offset += 4 + nameLength;
    const valueLength = block.readUInt32BE(offset);
    need(offset + 4, valueLength);
    const value = block.toString('utf8', offset + 4, offset + 4 + valueLength);
    offset += 4 + valueLength;
    (headers[name] ??= []).push(...value.split('\0'));
  }
  return headers;
}
