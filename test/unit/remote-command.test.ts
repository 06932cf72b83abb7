import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import { constants as zlibConstants, createDeflate, createInflate } from 'node:zlib';
import { demuxDockerStream } from '../../src/runtime/docker/stream-demux.ts';
import { acceptRemoteCommand } from '../../src/server/streaming/remote-command-server.ts';
import { commandStatus, execRequestFromQuery, expectedStreams, negotiateProtocol, readTerminalSizes, RemoteCommandError, streamOptionsFromQuery } from '../../src/server/streaming/remote-command.ts';
import { SPDY3_DICTIONARY } from '../../src/server/streaming/spdy-dictionary.ts';
import { controlFrame, dataFrame, decodeHeaderBlock, encodeHeaderBlock, FrameType, readFrames, SpdyProtocolError } from '../../src/server/streaming/spdy-frames.ts';

describe('SPDY/3 framing', () => {
  it('uses the exact dictionary of the SPDY/3 draft', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(createHash('sha256').update(SPDY3_DICTIONARY).digest('hex')).toBe('51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
  });

  it('splits whole frames and keeps a partial one for the next read', () => {
    const bytes = Buffer.concat([dataFrame(1, Buffer.from('hello'), false), dataFrame(3, Buffer.alloc(0), true), controlFrame(FrameType.Ping, 0, Buffer.from([0, 0, 0, 9]))]);
    const { frames, rest } = readFrames(bytes.subarray(0, bytes.length - 2));
    expect(frames).toEqual([
      { kind: 'data', streamId: 1, fin: false, data: Buffer.from('hello') },
      { kind: 'data', streamId: 3, fin: true, data: Buffer.alloc(0) },
    ]);
    expect(rest.length).toBe(10);
    const again = readFrames(Buffer.concat([rest, bytes.subarray(bytes.length - 2)]));
    expect(again.frames).toEqual([{ kind: 'control', type: FrameType.Ping, flags: 0, data: Buffer.from([0, 0, 0, 9]) }]);
  });

  it('refuses another SPDY version', () => {
    const frame = controlFrame(FrameType.Ping, 0, Buffer.alloc(4));
    frame.writeUInt16BE(0x8002, 0);
    expect(() => readFrames(frame)).toThrow(SpdyProtocolError);
  });

  it('round-trips header blocks and refuses hostile ones', () => {
    const block = encodeHeaderBlock({ StreamType: 'stdout', multi: ['a', 'b'] });
    expect(decodeHeaderBlock(block)).toEqual({ streamtype: ['stdout'], multi: ['a', 'b'] });
    expect(() => decodeHeaderBlock(block.subarray(0, block.length - 1))).toThrow(SpdyProtocolError);
    const many = Buffer.alloc(4);
    many.writeUInt32BE(1_000_000);
    expect(() => decodeHeaderBlock(many)).toThrow(/at most/);
    const huge = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from([0x7f, 0xff, 0xff, 0xff])]);
    expect(() => decodeHeaderBlock(huge)).toThrow(SpdyProtocolError);
  });
});

describe('remote command protocol', () => {
  it('reads the streams as kubelet does, a tty folding stderr into stdout', () => {
    expect(streamOptionsFromQuery(new URLSearchParams('input=1&output=1&error=1'))).toEqual({ stdin: true, stdout: true, stderr: true, tty: false });
    expect(streamOptionsFromQuery(new URLSearchParams('output=true&error=1&tty=1'))).toEqual({ stdin: false, stdout: true, stderr: false, tty: true });
    expect(() => streamOptionsFromQuery(new URLSearchParams('tty=1'))).toThrow('you must specify at least 1 of stdin, stdout, stderr');
    expect(execRequestFromQuery(new URLSearchParams('command=ping&command=-c&command=1&output=1')).command).toEqual(['ping', '-c', '1']);
    expect(() => execRequestFromQuery(new URLSearchParams('output=1'))).toThrow(/no command given/);
    expect(() => execRequestFromQuery(new URLSearchParams(`output=1&command=${'x'.repeat(300_000)}`))).toThrow(/longer than/);
  });

  it('negotiates the first version both sides speak', () => {
    expect(negotiateProtocol('v5.channel.k8s.io, v4.channel.k8s.io, v3.channel.k8s.io')).toBe('v5.channel.k8s.io');
    expect(negotiateProtocol(['v3.channel.k8s.io', 'v4.channel.k8s.io'])).toBe('v4.channel.k8s.io');
    expect(() => negotiateProtocol('v2.channel.k8s.io')).toThrow('unable to negotiate protocol: client supports [v2.channel.k8s.io]');
    expect(() => negotiateProtocol(undefined)).toThrow(RemoteCommandError);
  });

  it('expects error, the asked streams, and resize with a tty', () => {
    expect(expectedStreams({ stdin: false, stdout: true, stderr: true, tty: false })).toEqual(['error', 'stdout', 'stderr']);
    expect(expectedStreams({ stdin: true, stdout: true, stderr: false, tty: true })).toEqual(['error', 'stdin', 'stdout', 'resize']);
  });

  it('writes the status kubectl turns into its exit code', () => {
    expect(commandStatus({ exitCode: 0 }, ['true'])).toEqual({ metadata: {}, status: 'Success' });
    expect(commandStatus({ exitCode: 7 }, ['sh', '-c', 'exit 7'])).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
    expect(commandStatus({ error: 'no such container' }, ['x'])).toMatchObject({ status: 'Failure', reason: 'InternalError' });
  });

  it('reads terminal sizes and skips junk', () => {
    const { sizes, rest } = readTerminalSizes('{"Width":80,"Height":24}\nnot json\n{"Width":-1,"Height":5}\n{"Width":100,"He');
    expect(sizes).toEqual([{ width: 80, height: 24 }]);
    expect(rest).toBe('{"Width":100,"He');
    expect(readTerminalSizes('x'.repeat(2000)).rest).toBe('');
  });
});

describe('Docker stream demultiplexing', () => {
  it('splits stdout and stderr frames across chunk boundaries', async () => {
    const source = new PassThrough();
    const { stdout, stderr } = demuxDockerStream(source);
    const frame = (kind: number, text: string) => Buffer.concat([Buffer.from([kind, 0, 0, 0]), Buffer.from([0, 0, 0, text.length]), Buffer.from(text)]);
    const all = Buffer.concat([frame(1, 'out1 '), frame(2, 'err1'), frame(1, 'out2')]);
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    for (let i = 0; i < all.length; i += 3) source.write(all.subarray(i, i + 3));
    source.end();
    await new Promise((resolve) => stdout.on('end', resolve));
    expect(out).toBe('out1 out2');
    expect(err).toBe('err1');
  });
});

// A SPDY client as moby/spdystream behaves, enough to drive the server: it opens streams with a
// streamtype header, sends and reads DATA, and never sends WINDOW_UPDATE.
class TestSpdyClient {
  private readonly deflate = createDeflate({ dictionary: SPDY3_DICTIONARY });
  private readonly inflate = createInflate({ dictionary: SPDY3_DICTIONARY });
  private buffer: Buffer = Buffer.alloc(0);
  readonly socket: Socket;
  readonly data = new Map<number, Buffer[]>();
  readonly fins = new Set<number>();
  readonly replies = new Set<number>();
  readonly resets = new Set<number>();
  goAway = false;
  private nextId = 1;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.onData(c));
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const { frames, rest } = readFrames(this.buffer);
    this.buffer = rest;
    for (const f of frames) {
      if (f.kind === 'data') {
        (this.data.get(f.streamId) ?? this.data.set(f.streamId, []).get(f.streamId)!).push(f.data);
        if (f.fin) this.fins.add(f.streamId);
      } else if (f.type === FrameType.SynReply) {
        this.replies.add(f.data.readUInt32BE(0));
        // Keep the inflater in step, as a real client must.
        this.inflate.write(f.data.subarray(4));
        this.inflate.flush(zlibConstants.Z_SYNC_FLUSH);
      } else if (f.type === FrameType.RstStream) this.resets.add(f.data.readUInt32BE(0));
      else if (f.type === FrameType.GoAway) this.goAway = true;
    }
  }

  private compress(block: Buffer): Promise<Buffer> {
    return new Promise((resolve) => {
      const out: Buffer[] = [];
      const onData = (c: Buffer) => out.push(c);
      this.deflate.on('data', onData);
      this.deflate.write(block);
      this.deflate.flush(zlibConstants.Z_SYNC_FLUSH, () => {
        this.deflate.off('data', onData);
        resolve(Buffer.concat(out));
      });
    });
  }

  /** SYN_STREAM with a header block of `size` inflated bytes (a zlib bomb when large). */
  async openHuge(size: number): Promise<void> {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt32BE(this.nextId, 0);
    this.nextId += 2;
    const block = Buffer.alloc(size);
    block.writeUInt32BE(1, 0);
    this.socket.write(controlFrame(FrameType.SynStream, 0, Buffer.concat([fixed, await this.compress(block)])));
  }

  async open(streamType: string): Promise<number> {
    const id = this.nextId;
    this.nextId += 2;
    const fixed = Buffer.alloc(10);
    fixed.writeUInt32BE(id, 0);
    const headers = await this.compress(encodeHeaderBlock({ streamtype: streamType }));
    this.socket.write(controlFrame(FrameType.SynStream, 0, Buffer.concat([fixed, headers])));
    return id;
  }

  send(id: number, data: string, fin = false): void {
    this.socket.write(dataFrame(id, Buffer.from(data), fin));
  }

  text(id: number): string {
    return Buffer.concat(this.data.get(id) ?? []).toString();
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out: ${what}`);
}

describe('remote command server over SPDY', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = undefined;
  });

  async function start(onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>): Promise<number> {
    server = createServer();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      onUpgrade(req, socket, head).catch(() => socket.destroy());
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }

  async function upgrade(port: number, protocol = 'v4.channel.k8s.io'): Promise<{ socket: Socket; head: string }> {
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    const head = await new Promise<string>((resolve) => {
      let seen = '';
      const onData = (c: Buffer) => {
        seen += c.toString('latin1');
        if (seen.includes('\r\n\r\n')) {
          socket.off('data', onData);
          resolve(seen);
        }
      };
      socket.on('data', onData);
    });
    return { socket, head };
  }

  it('serves stdin, stdout and stderr, then the status, then GOAWAY', async () => {
    const port = await start(async (req, socket, head) => {
      const streams = await acceptRemoteCommand(req, socket, head, { stdin: true, stdout: true, stderr: true, tty: false });
      let input = '';
      streams.stdin!.setEncoding('utf8');
      streams.stdin!.on('data', (c: string) => (input += c));
      await new Promise((r) => streams.stdin!.on('end', r));
      streams.stdout!.write(`got ${input}`);
      streams.stderr!.write('warned');
      await streams.finish({ exitCode: 3 }, ['cmd']);
    });
    const { socket, head } = await upgrade(port);
    expect(head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(head).toContain('X-Stream-Protocol-Version: v4.channel.k8s.io');
    const client = new TestSpdyClient(socket);
    const error = await client.open('error');
    const stdin = await client.open('stdin');
    const stdout = await client.open('stdout');
    const stderr = await client.open('stderr');
    await until(() => client.replies.size === 4, 'four SYN_REPLYs');
    client.send(stdin, 'hello ');
    client.send(stdin, 'world', true);
    await until(() => client.goAway, 'GOAWAY');
    expect(client.text(stdout)).toBe('got hello world');
    expect(client.text(stderr)).toBe('warned');
    expect(JSON.parse(client.text(error))).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
    expect([...client.fins].sort()).toEqual([error, stdout, stderr].sort());
    socket.destroy();
  });

  it('sends a megabyte without waiting for a window the client never opens', async () => {
    const port = await start(async (req, socket, head) => {
      const streams = await acceptRemoteCommand(req, socket, head, { stdin: false, stdout: true, stderr: false, tty: false });
      for (let i = 0; i < 64; i++) streams.stdout!.write(Buffer.alloc(16 * 1024, 97 + (i % 26)));
      await streams.finish({ exitCode: 0 }, ['cmd']);
    });
    const { socket } = await upgrade(port);
    const client = new TestSpdyClient(socket);
    const error = await client.open('error');
    const stdout = await client.open('stdout');
    await until(() => client.goAway, 'GOAWAY');
    expect(Buffer.concat(client.data.get(stdout) ?? []).length).toBe(1024 * 1024);
    expect(JSON.parse(client.text(error))).toEqual({ metadata: {}, status: 'Success' });
    socket.destroy();
  });

  it('refuses a stream it did not ask for and times out waiting for missing ones', async () => {
    let failure: unknown;
    const port = await start(async (req, socket, head) => {
      try {
        await acceptRemoteCommand(req, socket, head, { stdin: false, stdout: true, stderr: false, tty: false }, { streamCreationTimeoutMs: 300 });
      } catch (err) {
        failure = err;
      }
    });
    const { socket } = await upgrade(port);
    const client = new TestSpdyClient(socket);
    const stray = await client.open('stdin');
    await until(() => client.resets.has(stray), 'the stray stream reset');
    await until(() => failure !== undefined, 'the timeout');
    expect(String(failure)).toContain('timed out waiting for client to create streams');
    socket.destroy();
  });

  it('drops a connection whose header block inflates past any real one', async () => {
    let failure: unknown;
    const port = await start(async (req, socket, head) => {
      try {
        await acceptRemoteCommand(req, socket, head, { stdin: false, stdout: true, stderr: false, tty: false }, { streamCreationTimeoutMs: 5_000 });
      } catch (err) {
        failure = err;
      }
    });
    const { socket } = await upgrade(port);
    const client = new TestSpdyClient(socket);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await client.openHuge(8 * 1024 * 1024);
    await closed;
    await until(() => failure !== undefined, 'the refusal');
    expect(String(failure)).toContain('went away');
  });

  it('answers a version it does not speak with 403 and the versions it does', async () => {
    let failure: unknown;
    const port = await start(async (req, socket, head) => {
      try {
        await acceptRemoteCommand(req, socket, head, { stdin: false, stdout: true, stderr: false, tty: false });
      } catch (err) {
        failure = err;
        socket.destroy();
      }
    });
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: channel.k8s.io\r\n\r\n');
    await until(() => failure !== undefined, 'refusal');
    expect(failure).toBeInstanceOf(RemoteCommandError);
    expect((failure as RemoteCommandError).code).toBe(403);
    socket.destroy();
  });
});
