import type { V1Container, V1LifecycleHandler, V1Pod } from '@kubernetes/client-node';
import type { Runtime } from '../runtime/types.ts';
import { httpGet } from './http-get.ts';
import { errorMessage, probeUserAgent } from './probe-outcome.ts';
import { httpGetHandlerOf } from './probe-spec.ts';
import { timerDelayMs } from '../util/timer-delay.ts';

export type HookResult = { ok: true } | { ok: false; message: string };

/**
 * Runs a postStart or preStop handler with the probes' own mechanisms (the same exec through the
 * runtime and the same HTTP client), judged as kubelet judges hooks (pkg/kubelet/lifecycle):
 *
 * - exec fails on a non-zero exit (or when it cannot run);
 * - httpGet fails only when no response comes back (refused, timed out): kubelet does not look
 *   at the status code of a hook's response, so a 500 from the hook endpoint is not a failure;
 * - sleep waits, and never fails.
 *
 * `timeoutSeconds` bounds the hook: for preStop, what is left of the grace period.
 *
 * The message names the hook the way kubelet does ("Exec lifecycle hook ([...]) for Container
 * "c" in Pod "ns/name" failed - error: ..."). It carries no output of the command: the events it
 * ends up in are readable by anyone who can list events, and output may hold secrets.
 */
export async function runLifecycleHook(options: {
  handler: V1LifecycleHandler;
  pod: V1Pod;
  container: V1Container;
  containerId: string;
  runtime: Pick<Runtime, 'execSync'>;
  podIP: string;
  timeoutSeconds: number;
}): Promise<HookResult> {
  const { handler, container, containerId, timeoutSeconds } = options;
  const where = `for Container ${JSON.stringify(container.name)} in Pod ${JSON.stringify(`${options.pod.metadata?.namespace ?? 'default'}/${options.pod.metadata?.name ?? ''}`)}`;
  if (handler.exec) {
    const command = handler.exec.command ?? [];
    const fail = (error: string): HookResult => ({ ok: false, message: `Exec lifecycle hook ([${command.join(' ')}]) ${where} failed - error: ${error}` });
    if (command.length === 0) return fail('no command given');
    try {
      const result = await options.runtime.execSync(containerId, command, timeoutSeconds);
      if (result.timedOut) return fail(`command timed out after ${timeoutSeconds}s`);
      if (result.exitCode !== 0) return fail(`command terminated with exit code ${result.exitCode}`);
      return { ok: true };
    } catch (err) {
      return fail(errorMessage(err));
    }
  }
  if (handler.httpGet) {
    const get = httpGetHandlerOf(handler.httpGet);
    const result = await httpGet(get, { podIP: options.podIP, container, timeoutSeconds, userAgent: probeUserAgent(undefined, 'lifecycle') });
    if (result.kind === 'response') return { ok: true };
    return { ok: false, message: `HTTP lifecycle hook (${get.path}) ${where} failed - error: ${result.message}` };
  }
  if (handler.sleep) {
    await new Promise((r) => setTimeout(r, timerDelayMs(Math.min(handler.sleep!.seconds, timeoutSeconds))));
    return { ok: true };
  }
  return { ok: false, message: `Cannot run handler: invalid handler (no exec, httpGet or sleep action) ${where}` };
}
