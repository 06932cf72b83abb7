/**
 * The exec'd CNI plugin: reads the network configuration from stdin and CNI_* from the
 * environment, prints the result (or the spec's error object) on stdout and exits non-zero on
 * error. Installed into the CNI bin directory by the agent (see src/net/cni-install.ts).
 *
 * When the agent runs (its socket is named in the configuration), the call is handed to it
 * (forward.ts); otherwise, or when the agent declines, the plugin's code is loaded and run here.
 * The import is dynamic so the forwarded path never loads it.
 */
import { forwardToAgent } from './forward.ts';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const stdin = await readStdin();
const out = (await forwardToAgent(process.env, stdin)) ?? (await (await import('./commands.ts')).runCni(process.env, stdin));
if (out.stdout) process.stdout.write(`${out.stdout}\n`);
process.exitCode = out.exitCode;
