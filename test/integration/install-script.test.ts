import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { launcherText } from '../../src/net/cni-install.ts';

// scripts/install.sh as the lab runs it for a namespace node (`--root`, `--no-systemd`), and once
// with the unit (systemctl --root enables it offline): a second run writes nothing, --uninstall
// leaves nothing of it behind and puts the namespace's ip_forward back.
const repo = resolve(import.meta.dirname, '../..');
const script = join(repo, 'scripts/install.sh');
const netns = `nainst-${randomBytes(3).toString('hex')}`;
const nodeIP = '192.168.253.11';

interface Entry { type: string; mode: number; mtimeMs: number; target?: string; sha256?: string }

/** Every file, directory and link under `dir`: type, mode, mtime, link target, content hash. */
async function snapshot(dir: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    const entry: Entry = { type: st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
    if (st.isSymbolicLink()) entry.target = await readlink(path);
    else if (st.isFile()) entry.sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
    out.set(path, entry);
    if (st.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
  return out;
}

const inNetns = (args: string[]) => execa('nsenter', [`--net=/run/netns/${netns}`, 'bash', script, ...args], { reject: false, all: true });
const ipForward = async (): Promise<string> => (await execa('ip', ['netns', 'exec', netns, 'cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim();
const stepLines = (out: string): string[] => out.split('\n').filter((l) => /^install\.sh: [a-z]+: /.test(l) && !l.startsWith('install.sh: done:'));

describe('scripts/install.sh in a namespace node', () => {
  let work = '';
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'na-install-'));
    await execa('ip', ['netns', 'add', netns]);
    // The node IP on a device, as on a VM's host-only interface: the conflist's MTU comes from it.
    await execa('ip', ['-n', netns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'peer1']);
    await execa('ip', ['-n', netns, 'addr', 'add', `${nodeIP}/24`, 'dev', 'eth1']);
    await execa('ip', ['-n', netns, 'link', 'set', 'eth1', 'up']);
  });
  afterAll(async () => {
    await execa('ip', ['netns', 'delete', netns], { reject: false });
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A --from directory as vm-files writes it, with paths under `root` (the caller's job with --root). */
  async function fromDir(name: string, root: string): Promise<string> {
    const from = join(work, `${name}-from`);
    await mkdir(from, { recursive: true });
    const etc = join(root, 'etc/node-agent');
    await writeFile(join(from, 'config.yaml'), [
      'nodeName: worker-1',
      `nodeIP: ${nodeIP}`,
      `kubeconfig: ${etc}/kubeconfig`,
      // A fixed pod CIDR: the script writes the conflist too (without one the agent does, later).
      'podCIDR: 10.244.9.0/24',
      `tlsCertFile: ${etc}/pki/kubelet.crt`,
      `tlsPrivateKeyFile: ${etc}/pki/kubelet.key`,
      'directories:',
      `  root: ${root}/var/lib/node-agent`,
      `  logs: ${root}/var/log/pods`,
      `  containerLogs: ${root}/var/log/containers`,
      `  manifests: ${etc}/manifests`,
      `  cniBin: ${root}/opt/cni/bin`,
      `  cniConf: ${root}/etc/cni/net.d`,
      '',
    ].join('\n'));
    await writeFile(join(from, 'kubeconfig'), 'apiVersion: v1\nkind: Config\n');
    await writeFile(join(from, 'kubelet.crt'), 'CERT\n');
    await writeFile(join(from, 'kubelet.key'), 'KEY\n');
    await writeFile(join(from, 'ca.crt'), 'CA\n');
    return from;
  }

  for (const variant of ['--no-systemd', 'with the unit'] as const) {
    it(`installs, changes nothing the second time, and uninstalls to nothing (${variant})`, async () => {
      const root = join(work, variant === '--no-systemd' ? 'nosystemd' : 'systemd');
      await mkdir(root);
      const from = await fromDir(variant === '--no-systemd' ? 'a' : 'b', root);
      const flags = ['--from', from, '--root', root, '--link-agent', ...(variant === '--no-systemd' ? ['--no-systemd'] : [])];
      await execa('ip', ['netns', 'exec', netns, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward']);
      const before = await snapshot(root);

      const first = await inNetns(flags);
      expect(first.all, 'first run').toContain('install.sh: done:');
      expect(first.exitCode).toBe(0);
      expect(await ipForward()).toBe('1');
      const installed = await snapshot(root);
      const etc = join(root, 'etc/node-agent');
      expect(installed.get(etc)).toMatchObject({ type: 'dir', mode: 0o700 });
      expect(installed.get(join(etc, 'pki'))).toMatchObject({ type: 'dir', mode: 0o700 });
      expect(installed.get(join(etc, 'kubeconfig'))).toMatchObject({ mode: 0o600 });
      expect(installed.get(join(etc, 'pki/kubelet.key'))).toMatchObject({ mode: 0o600 });
      expect(installed.get(join(etc, 'config.yaml'))).toMatchObject({ mode: 0o644 });
      expect(installed.get(join(root, 'opt/node-agent'))).toMatchObject({ type: 'link', target: repo });
      expect(installed.get(join(root, 'usr/local/bin/node-agent'))).toMatchObject({ type: 'link', target: join(root, 'opt/node-agent/bin/node-agent') });
      expect(await readFile(join(root, 'etc/sysctl.d/90-node-agent.conf'), 'utf8')).toMatch(/^# before: net\.ipv4\.ip_forward=0$[\s\S]*^net\.ipv4\.ip_forward = 1$/m);
      // The plugin's launcher is exactly what the agent writes at start (the same code wrote it),
      // so the agent finds nothing to rewrite.
      const node = await execa('readlink', ['-f', join(repo, 'node_modules/.bin/node')]);
      expect(await readFile(join(root, 'opt/cni/bin/node-agent-bridge'), 'utf8')).toBe(launcherText(node.stdout, join(repo, 'cni/main.ts')));
      const conflist = JSON.parse(await readFile(join(root, 'etc/cni/net.d/10-node-agent.conflist'), 'utf8'));
      expect(conflist.plugins[0]).toMatchObject({ type: 'node-agent-bridge', subnet: '10.244.9.0/24', mtu: 1500 });
      if (variant === 'with the unit') {
        expect(installed.get(join(root, 'etc/systemd/system/node-agent.service'))?.type).toBe('file');
        expect(installed.get(join(root, 'etc/systemd/system/multi-user.target.wants/node-agent.service'))).toMatchObject({ type: 'link' });
      } else {
        expect([...installed.keys()].some((p) => p.includes('/systemd/'))).toBe(false);
      }

      const second = await inNetns(flags);
      expect(second.exitCode, second.all).toBe(0);
      const steps = stepLines(second.all ?? '');
      expect(steps.length).toBeGreaterThanOrEqual(6);
      for (const line of steps) expect(line).toMatch(/: unchanged( \(.*\))?$/);
      expect(second.all).toContain('install.sh: done: nothing changed');
      expect(await snapshot(root)).toEqual(installed);
      expect(await ipForward()).toBe('1');

      const removed = await inNetns(['--uninstall', '--root', root, ...(variant === '--no-systemd' ? ['--no-systemd'] : [])]);
      expect(removed.exitCode, removed.all).toBe(0);
      expect(removed.all).toContain('install.sh: kept: the agent\'s state');
      // The root itself was there before and stays; only its mtime moved (entries came and went).
      const after = await snapshot(root);
      for (const shot of [before, after]) shot.set(root, { ...shot.get(root)!, mtimeMs: 0 });
      expect(after).toEqual(before);
      expect(await ipForward()).toBe('0');
    });
  }

  it('refuses to uninstall under a running agent', async () => {
    const root = join(work, 'running');
    await mkdir(join(root, 'etc/node-agent'), { recursive: true });
    const config = join(root, 'etc/node-agent/config.yaml');
    await writeFile(config, 'nodeName: x\n');
    // A process with the agent's command line, standing in for it.
    const fake = execa(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'main.ts', 'run', '--config', config], { reject: false });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const result = await inNetns(['--uninstall', '--root', root, '--no-systemd']);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/the agent still runs .*Fix: stop it first/);
    } finally {
      fake.kill();
      await Promise.allSettled([fake]);
    }
  });

  it('says what is wrong with bad input, and how to fix it', async () => {
    const noFrom = await execa('bash', [script, '--no-systemd'], { reject: false });
    expect(noFrom.exitCode).toBe(2);
    expect(noFrom.stderr).toMatch(/--from DIR is required.*Fix: npm run lab -- vm-files/);

    const empty = await mkdtemp(join(work, 'empty-'));
    const missing = await execa('bash', [script, '--from', empty], { reject: false });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain(`${empty}/config.yaml is missing`);
    expect(missing.stderr).toContain('Fix:');

    await writeFile(join(empty, 'config.yaml'), 'nodeName: x\n');
    await writeFile(join(empty, 'kubeconfig'), '');
    await writeFile(join(empty, 'kubelet.crt'), '');
    const halfPki = await execa('bash', [script, '--from', empty], { reject: false });
    expect(halfPki.exitCode).toBe(2);
    expect(halfPki.stderr).toMatch(/has kubelet\.crt but no kubelet\.key/);

    const unknown = await execa('bash', [script, '--frm', empty], { reject: false });
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('unknown option "--frm"');
    expect(unknown.stderr).toContain('--from DIR');

    const noValue = await execa('bash', [script, '--from', '--no-systemd'], { reject: false });
    expect(noValue.exitCode).toBe(2);
    expect(noValue.stderr).toContain('--from needs a directory');

    // Not root: the same check a person running it without sudo meets.
    const notRoot = await execa('runuser', ['-u', 'nobody', '--', 'bash', script, '--from', empty], { reject: false });
    expect(notRoot.exitCode).toBe(1);
    expect(notRoot.stderr).toMatch(/must run as root.*Fix: sudo bash/);
  });
});
