import { execa } from 'execa';

/** Runs a command and returns stdout; failures throw with the command's stderr in the message. */
export async function run(file: string, args: string[], options: { input?: string; reject?: boolean } = {}): Promise<string> {
  const result = await execa(file, args, { reject: false, ...(options.input !== undefined ? { input: options.input } : {}) });
  if (result.exitCode !== 0 && options.reject !== false) {
    throw new Error(`${file} ${args.join(' ')} failed (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim()}`);
  }
  return result.stdout;
}

/** Like run, but never throws: for clean-up steps where "already gone" is fine. */
export async function tryRun(file: string, args: string[]): Promise<boolean> {
  const result = await execa(file, args, { reject: false });
  return result.exitCode === 0;
}
