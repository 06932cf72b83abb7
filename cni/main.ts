/**
 * The exec'd CNI plugin: reads the network configuration from stdin and CNI_* from the
 * environment, prints the result (or the spec's error object) on stdout and exits non-zero on
 * error. Installed into the CNI bin directory by the agent (see install.ts).
 */
import { runCni } from './commands.ts';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const out = await runCni(process.env, await readStdin());
if (out.stdout) process.stdout.write(`${out.stdout}\n`);
process.exitCode = out.exitCode;
