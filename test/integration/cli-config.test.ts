import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import yaml from 'js-yaml';
import { eventually } from '../helpers/test-lab.ts';
import { processAlive } from '../../src/lab/netns.ts';

// The node-agent command as an operator runs it: each kind of bad configuration gives one clear
// message that names the fix, and an apiserver that is away does not kill the agent.
const agent = resolve(import.meta.dirname, '../../bin/node-agent');

describe('node-agent configuration errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'node-agent-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const runAgent = (args: string[]) => execa(agent, args, { reject: false, timeout: 20_000 });
  const kubeconfig = async (name: string, doc: unknown) => {
    const path = join(dir, name);
    await writeFile(path, typeof doc === 'string' ? doc : yaml.dump(doc));
    return path;
  };
  const validKubeconfig = (server: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'k', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { token: 'not-a-secret-but-never-logged', ...extra } }],
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
  });

  it('missing node name: exit 2 and the flag to pass', async () => {
    const r = await runAgent(['run', '--node-ip', '192.168.56.11', '--kubeconfig', '/x']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('nodeName: is missing. Fix: set nodeName in the config file or pass --node-name');
  });

  it('bad CIDR: exit 2 and the corrected network', async () => {
    const r = await runAgent(['run', '--node-name', 'w1', '--node-ip', '192.168.56.11', '--standalone', '--pod-cidr', '10.244.1.9/24']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('podCIDR: "10.244.1.9/24" has host bits set; the network is 10.244.1.0/24');
  });

  it('a misspelt nested key stops the agent, naming it and the right spelling', async () => {
    const file = join(dir, 'typo.yaml');
    await writeFile(file, yaml.dump({ nodeName: 'w1', nodeIP: '192.168.56.11', standalone: true, network: { mode: 'vxlan', vxlanport: 4789 } }));
    const r = await runAgent(['run', '--config', file]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('network.vxlanport: is not a known setting. Fix: did you mean network.vxlanPort?');
  });

  it('a config file that is missing or not YAML', async () => {
    expect((await runAgent(['run', '--config', join(dir, 'nope.yaml')])).stderr).toContain('cannot read the configuration file');
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'nodeName: [unclosed\n');
    const r = await runAgent(['run', '--config', bad]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('is not valid YAML');
  });

  it('bad kubeconfigs: unreadable, not a kubeconfig, no server, missing certificate file', async () => {
    const cases: [string, string][] = [
      [join(dir, 'absent'), 'cannot be read'],
      [await kubeconfig('garbage', 'this: [is not'), 'is not a valid kubeconfig'],
      [await kubeconfig('noserver', validKubeconfig('')), 'cluster.server is missing'],
      [await kubeconfig('badserver', validKubeconfig('ftp://x')), 'has no usable server URL'],
      [await kubeconfig('nocert', { ...validKubeconfig('https://127.0.0.1:1'), users: [{ name: 'u', user: { 'client-certificate': '/nonexistent.crt', 'client-key': '/nonexistent.key' } }] }), 'client-certificate file /nonexistent.crt does not exist'],
    ];
    for (const [path, expected] of cases) {
      const r = await runAgent(['run', '--node-name', 'w1', '--node-ip', '192.168.56.11', '--kubeconfig', path, '--healthz-port', '0']);
      expect(r.exitCode, path).toBe(1);
      const messages = r.stderr.split('\n').filter((l) => l.startsWith('node-agent:'));
      expect(messages, r.stderr).toHaveLength(1);
      expect(messages[0]).toContain(expected);
      expect(messages[0]).toContain('Fix:');
    }
  });

  it('an unreachable apiserver: check fails naming the fix; run keeps retrying quietly and stops cleanly', async () => {
    const path = await kubeconfig('unreachable', validKubeconfig('https://127.0.0.1:1'));
    const args = ['--node-name', 'w1', '--node-ip', '192.168.56.11', '--kubeconfig', path, '--healthz-port', '0', '--root-dir', join(dir, 'root')];
    const check = await runAgent(['check', ...args]);
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toMatch(/FAIL apiserver: .*unreachable.*Fix: start the control plane/);

    const child = execa(agent, ['run', ...args], { reject: false });
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually('the unreachable message', 10_000, async () => output.includes('unreachable'));
    await new Promise((r) => setTimeout(r, 4000));
    expect(child.pid !== undefined && (await processAlive(child.pid))).toBe(true);
    const complaints = output.split('\n').filter((l) => l.includes('unreachable'));
    expect(complaints.length).toBeGreaterThanOrEqual(1);
    expect(complaints.length).toBeLessThanOrEqual(2);
    expect(output).not.toContain('not-a-secret-but-never-logged');
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(0);
  }, 30_000);

  it('prints its version and usage', async () => {
    expect((await runAgent(['version'])).stdout).toMatch(/^v\d+\.\d+\.\d+$/);
    expect((await runAgent(['--version'])).stdout).toMatch(/^v\d+\.\d+\.\d+$/);
    const report = await runAgent(['run', '--output', 'json']);
    expect(report.exitCode).toBe(2);
    expect(report.stderr).toContain('--output is for "node-agent report" only');
    const usage = await runAgent(['--help']);
    expect(usage.exitCode).toBe(0);
    expect(usage.stdout).toContain('node-agent run');
  });
});
