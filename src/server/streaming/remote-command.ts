/**
 * Kubernetes' remote command protocol (k8s.io/apimachinery remotecommand, "channel.k8s.io"), the
 * pure half: what the request asks for, which protocol version both sides speak, which streams
 * the client must open, and the status written on the error stream when the command ends.
 * remote-command-server.ts carries it out over SPDY.
 */
import { HttpError } from '../http-util.ts';

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface ExecRequest extends StreamOptions {
  command: string[];
}

/** v5 adds a stdin close signal for WebSockets; over SPDY it is v4, which is why kubelet offers both. */
export const SUPPORTED_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
export const PROTOCOL_HEADER = 'x-stream-protocol-version';

/** The most arguments and bytes of command line a request may carry (ARG_MAX is 2 MiB). */
const MAX_COMMAND_ARGS = 4096;
const MAX_COMMAND_BYTES = 256 * 1024;

const flag = (q: URLSearchParams, name: string): boolean => {
  const v = q.get(name);
  return v === '1' || v === 'true';
};

/**
 * The streams as kubelet reads them from the query the apiserver builds: input, output, error
 * and tty ("1" or "true"). A tty carries stdout and stderr together, so stderr is dropped with
 * it, as kubelet does. Throws a message for the 400 when nothing would be streamed.
 */
export function streamOptionsFromQuery(q: URLSearchParams): StreamOptions {
  const tty = flag(q, 'tty');
  const options = { stdin: flag(q, 'input'), stdout: flag(q, 'output'), stderr: flag(q, 'error') && !tty, tty };
  if (!options.stdin && !options.stdout && !options.stderr) throw new RemoteCommandError(400, 'you must specify at least 1 of stdin, stdout, stderr');
  return options;
}

export function execRequestFromQuery(q: URLSearchParams): ExecRequest {
  const command = q.getAll('command');
  if (command.length === 0 || command[0] === '') throw new RemoteCommandError(400, 'no command given: add command=... (kubectl exec POD -- COMMAND)');
  if (command.length > MAX_COMMAND_ARGS || command.reduce((n, a) => n + Buffer.byteLength(a), 0) > MAX_COMMAND_BYTES) {
    throw new RemoteCommandError(400, `the command is longer than this node accepts (${MAX_COMMAND_ARGS} arguments, ${MAX_COMMAND_BYTES} bytes)`);
  }
  if (command.some((a) => a.includes('\0'))) throw new RemoteCommandError(400, 'command arguments may not contain NUL bytes');
  return { command, ...streamOptionsFromQuery(q) };
}

/**
 * An error answered before the upgrade, with its HTTP status: an HttpError, so the server's
 * upgrade path writes it as it writes every handler's refusal.
 */
export class RemoteCommandError extends HttpError {}

/**
 * The first protocol the client lists that this server speaks (httpstream.Handshake). The header
 * may repeat or hold a comma-separated list (Node joins repeats with ", "). None offered is the
 * legacy unversioned protocol, which kubelet still serves and this server does not.
 */
export function negotiateProtocol(header: string | string[] | undefined, supported: readonly string[] = SUPPORTED_PROTOCOLS): string {
  const offered = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  const chosen = offered.find((p) => supported.includes(p));
  if (chosen) return chosen;
  throw new RemoteCommandError(403, `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${supported.join(' ')}]`);
}

export type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/** The streams a v4 client opens for these options: always error, resize with a tty. */
export function expectedStreams(o: StreamOptions): StreamType[] {
  const streams: StreamType[] = ['error'];
  if (o.stdin) streams.push('stdin');
  if (o.stdout) streams.push('stdout');
  if (o.stderr) streams.push('stderr');
  if (o.tty) streams.push('resize');
  return streams;
}

export interface TerminalSize {
  width: number;
  height: number;
}

/**
 * The resize stream is a sequence of JSON objects {"Width":w,"Height":h} (Go's json.Encoder, one
 * per line). Returns the sizes complete in `buffer` and the rest. A size out of a terminal's
 * range, or junk, is skipped rather than passed to the runtime.
 */
export function readTerminalSizes(buffer: string): { sizes: TerminalSize[]; rest: string } {
  const sizes: TerminalSize[] = [];
  const lines = buffer.split('\n');
  const rest = lines.pop() ?? '';
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as { Width?: unknown; Height?: unknown };
      const width = v.Width;
      const height = v.Height;
      if (typeof width === 'number' && typeof height === 'number' && Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && width <= 0xffff && height <= 0xffff) {
        sizes.push({ width, height });
      }
    } catch {
      // not a size: skipped
    }
  }
  // A "line" without end that grows past any size object is junk, not a size in the making.
  return { sizes, rest: rest.length > 1024 ? '' : rest };
}

export type CommandOutcome = { exitCode: number } | { error: string };

/**
 * The metav1.Status written on the error stream when the command ends (v4): Success for exit 0;
 * for another exit code, Failure with reason NonZeroExitCode and the code as the ExitCode cause,
 * which kubectl turns into its own exit code; InternalError for a command that could not run.
 */
export function commandStatus(outcome: CommandOutcome, command: string[]): Record<string, unknown> {
  if ('error' in outcome) {
    return { metadata: {}, status: 'Failure', message: `Internal error occurred: error executing command in container: ${outcome.error}`, reason: 'InternalError', details: { causes: [{ message: outcome.error }] }, code: 500 };
  }
  if (outcome.exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${outcome.exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(outcome.exitCode) }] },
  };
}
