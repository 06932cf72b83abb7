import type { Logger } from '../../log/logger.ts';
import { HttpError } from '../http-util.ts';
import type { Handler, UpgradeHandler } from '../kubelet-server.ts';
import { runningPodContainer, type PodContainerDeps } from '../pod-container.ts';
import { proxyUpgrade } from '../streaming/proxy-upgrade.ts';
import { acceptRemoteCommand, type RemoteCommandStreams } from '../streaming/remote-command-server.ts';
import { execRequestFromQuery, RemoteCommandError, streamOptionsFromQuery, type ExecRequest, type TerminalSize } from '../streaming/remote-command.ts';

/**
 * /exec/{namespace}/{pod}/{container}?command=...&input=1&output=1&error=1&tty=1: `kubectl exec`,
 * which kube-apiserver sends here as a SPDY upgrade. A CRI runtime serves the streams itself
 * (the agent proxies to the URL its Exec answers); with Docker the agent serves them. Either
 * way the command's exit code reaches kubectl on the error stream.
 */
export function execUpgradeHandler(deps: PodContainerDeps & { log: Logger }): UpgradeHandler {
  return streamingUpgradeHandler(deps, 'exec');
}

/**
 * /attach/{namespace}/{pod}/{container}?input=1&output=1&error=1&tty=1: `kubectl attach` and
 * `kubectl run -it`, the container's own process; it ends when the process does, with Success.
 */
export function attachUpgradeHandler(deps: PodContainerDeps & { log: Logger }): UpgradeHandler {
  return streamingUpgradeHandler(deps, 'attach');
}

function streamingUpgradeHandler(deps: PodContainerDeps & { log: Logger }, verb: 'exec' | 'attach'): UpgradeHandler {
  return async (req, socket, head, ctx) => {
    const request: ExecRequest = verb === 'exec' ? execRequestFromQuery(ctx.query) : { command: [], ...streamOptionsFromQuery(ctx.query) };
    const { pod, containerName, instance } = await runningPodContainer(deps, ctx.path);
    const log = deps.log.child({ pod: pod.metadata?.name, namespace: pod.metadata?.namespace, uid: pod.metadata?.uid, container: containerName });
    // Arguments can hold anything the user typed; only their number is logged.
    log.info({ user: ctx.user.username, args: request.command.length, tty: request.tty, stdin: request.stdin }, `${verb} into container`);
    const started = verb === 'exec' ? deps.runtime.execStreaming(instance.id, request) : deps.runtime.attachStreaming(instance.id, request);
    const target = await started.catch((err: unknown) => {
      throw new HttpError(500, `error ${verb === 'exec' ? 'executing command in' : 'attaching to'} container: ${err instanceof Error ? err.message : String(err)}`);
    });
    if (target.kind === 'url') {
      await proxyUpgrade(req, socket, head, target.url);
      return;
    }
    let streams;
    try {
      streams = await acceptRemoteCommand(req, socket, head, request);
    } catch (err) {
      // Refused before the upgrade (bad headers, no common version): answered as HTTP. After it
      // (timeout, client gone) the socket speaks SPDY and there is nothing to answer.
      if (err instanceof RemoteCommandError && socket.writable && err.code < 408) throw err;
      log.info({ why: err instanceof Error ? err.message : String(err) }, `${verb} ended before its streams were open`);
      return;
    }
    // With a tty, the client sends its size first thing: the process starts at that size rather
    // than at the runtime's default and a resize a moment later.
    const firstSize = request.tty ? await firstResize(streams, 1000) : undefined;
    let session;
    try {
      session = await target.start();
    } catch (err) {
      await streams.finish({ error: err instanceof Error ? err.message : String(err) }, request.command);
      return;
    }
    if (firstSize) await session.resize(firstSize.width, firstSize.height).catch(() => undefined);
    if (streams.stdin && session.stdin) streams.stdin.pipe(session.stdin);
    if (session.stdout && streams.stdout) session.stdout.pipe(streams.stdout, { end: false });
    if (session.stderr && streams.stderr) session.stderr.pipe(streams.stderr, { end: false });
    streams.onResize((size) => {
      session.resize(size.width, size.height).catch((err: unknown) => log.debug({ err: String(err) }, 'terminal resize refused'));
    });
    const outcome = await Promise.race([
      session.exited.then((exitCode) => ({ exitCode }), (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) })),
      streams.clientGone.then(() => undefined),
    ]);
    if (!outcome) {
      session.close();
      return;
    }
    // The output is read to its end before the status goes out: the exit can come first.
    await Promise.all([drained(session.stdout), drained(session.stderr)]);
    await streams.finish(outcome, request.command);
    log.info(`${verb} finished` + ('exitCode' in outcome ? ` with exit code ${outcome.exitCode}` : `: ${outcome.error}`));
  };
}

function firstResize(streams: RemoteCommandStreams, waitMs: number): Promise<TerminalSize | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), waitMs);
    streams.onResize((size) => {
      clearTimeout(timer);
      resolve(size);
    });
  });
}

function drained(stream: NodeJS.ReadableStream | undefined): Promise<void> {
  if (!stream || (stream as { readableEnded?: boolean }).readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

/** A plain request to /exec or /attach (no upgrade): answered as kubelet does, with what is missing. */
export const streamingWithoutUpgrade: Handler = () => Promise.reject(new HttpError(400, 'Upgrade request required: exec and attach stream over SPDY/3.1 (kubectl exec or attach, through the apiserver)'));

/**
 * /run/{namespace}/{pod}/{container}?cmd=...: runs a command and answers with its output
 * (stdout, then stderr), kubelet's non-streaming exec. The command is split on spaces, as
 * kubelet splits it. Output is capped as probes' is (10 KiB per stream).
 */
export function runHandler(deps: PodContainerDeps & { log: Logger; timeoutSeconds?: number }): Handler {
  return async (req, res, ctx) => {
    if (req.method !== 'POST' && req.method !== 'GET') throw new HttpError(405, 'use POST /run/{namespace}/{pod}/{container}?cmd=...');
    const cmd = (ctx.query.get('cmd') ?? '').split(' ').filter(Boolean);
    if (cmd.length === 0) throw new HttpError(400, 'no command given: add cmd=... (words separated by spaces)');
    const { instance, pod, containerName } = await runningPodContainer(deps, ctx.path);
    deps.log.info({ pod: pod.metadata?.name, namespace: pod.metadata?.namespace, container: containerName, user: ctx.user.username, args: cmd.length }, 'run in container');
    const r = await deps.runtime.execSync(instance.id, cmd, deps.timeoutSeconds ?? 300);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(r.stdout + r.stderr);
  };
}
