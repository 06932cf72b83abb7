import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { Lab, controlPlaneBinDir } from '../../src/lab/lab.ts';
import { defaultLabOptions, type LabOptions } from '../../src/lab/topology.ts';
import { sleep } from '../../src/util/sleep.ts';

/**
 * A lab of the test's own: a unique prefix and host-only subnet, so it never meets the demo's lab
 * or another test's. Callers must `await lab.down()` in afterAll (it also cleans after a crash).
 */
export async function createTestLab(options: Partial<LabOptions> = {}): Promise<{ lab: Lab; binDir: string }> {
  const prefix = `t${randomBytes(3).toString('hex').slice(0, 5)}`;
  const used = (await execa('ip', ['-o', '-4', 'addr', 'show'])).stdout;
  let subnet = '';
  for (let i = 0; i < 100 && !subnet; i++) {
    const candidate = `192.168.${150 + Math.floor(Math.random() * 100)}`;
    if (!used.includes(` ${candidate}.`)) subnet = candidate;
  }
  const lab = new Lab({
    ...defaultLabOptions,
    prefix,
    subnet,
    workers: 1,
    stateDir: join(defaultLabOptions.stateDir, prefix),
    ...options,
  });
  const binDir = await controlPlaneBinDir();
  return { lab, binDir };
}

/** The real kubectl, as the lab's admin. */
export async function kubectl(lab: Lab, args: string[], options: { reject?: boolean } = {}) {
  return execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, ...args], { reject: options.reject ?? true });
}

export async function kubectlJson<T = any>(lab: Lab, args: string[]): Promise<T> {
  const { stdout } = await kubectl(lab, [...args, '-o', 'json']);
  return JSON.parse(stdout) as T;
}

/** Polls until `check` returns a value that is not undefined/false, or fails with what was last seen. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

export function condition(node: any, type: string): { status: string; reason: string; message: string } | undefined {
  return node?.status?.conditions?.find((c: { type: string }) => c.type === type);
}
