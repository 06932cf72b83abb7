import type { ExecHandler } from './probe-spec.ts';
import type { Runtime } from '../runtime/types.ts';
import { errorMessage, truncateOutput, type ProbeOutcome } from './probe-outcome.ts';

/**
 * The exec probe: the command runs inside the container through the runtime (CRI ExecSync),
 * with timeoutSeconds. Exit 0 is success; a non-zero exit is a failure whose output (stdout then
 * stderr, at most 10 KiB) is the message users see; a timeout is a failure. An exec that cannot
 * even start (container gone, runtime down) is the agent's trouble: 'unknown', not counted.
 */
export interface ExecProbeOptions {
  containerId: string;
  runtime: Pick<Runtime, 'execSync'>;
  timeoutSeconds: number;
}

export async function execProbe(handler: Omit<ExecHandler, 'type'>, options: ExecProbeOptions): Promise<ProbeOutcome> {
  if (handler.command.length === 0) return { result: 'unknown', output: 'exec probe has no command' };
  let result;
  try {
    result = await options.runtime.execSync(options.containerId, handler.command, options.timeoutSeconds);
  } catch (err) {
    return { result: 'unknown', output: `exec ${JSON.stringify(handler.command)} in container ${options.containerId}: ${errorMessage(err)}` };
  }
  if (result.timedOut) return { result: 'failure', output: `command ${JSON.stringify(handler.command)} timed out` };
  const output = truncateOutput(result.stdout + result.stderr);
  if (result.exitCode === 0) return { result: 'success', output };
  // Kubelet reports only the output; with none, the exit code is all there is to tell.
  return { result: 'failure', output: output || `command ${JSON.stringify(handler.command)} exited with code ${result.exitCode}` };
}
