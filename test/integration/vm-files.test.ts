import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import yaml from 'js-yaml';
import { validateConfig } from '../../src/config/validate.ts';

// What the Vagrantfile installs on real VMs: the control plane's systemd units, written from the
// lab's own flags, and the agent's unit and per-worker configuration. systemd cannot run here,
// so the units are checked with systemd-analyze and the configuration with the agent's validator.
const repo = resolve(import.meta.dirname, '../..');
const prefix = `v${process.pid % 100000}`;

describe('files for real VMs', () => {
  let out = '';
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
    await rm(`/var/lib/node-agent-lab/${prefix}`, { recursive: true, force: true });
  });

  it('writes control-plane units that systemd accepts and worker configs the agent accepts', async () => {
    out = await mkdtemp(join(tmpdir(), 'na-vm-'));
    await execa(join(repo, 'node_modules/.bin/node'), [join(repo, 'src/lab/main.ts'), 'vm-files', '--out', out, '--nodes', '2', '--prefix', prefix]);
    for (const unit of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      const path = join(out, 'control-plane/systemd', `${unit}.service`);
      const verify = await execa('systemd-analyze', ['verify', path], { reject: false });
      expect(verify.stderr, unit).toBe('');
      expect(verify.exitCode).toBe(0);
    }
    const apiserver = await readFile(join(out, 'control-plane/systemd/kube-apiserver.service'), 'utf8');
    expect(apiserver).toContain('--authorization-mode=Node,RBAC');
    expect(apiserver).toContain('--advertise-address=192.168.56.10');
    for (const [i, worker] of ['worker-1', 'worker-2'].entries()) {
      const config = yaml.load(await readFile(join(out, worker, 'config.yaml'), 'utf8')) as Record<string, unknown>;
      const result = validateConfig(config);
      expect(result.ok).toBe(true);
      expect(config).toMatchObject({ nodeName: worker, nodeIP: `192.168.56.${11 + i}`, kubeconfig: '/etc/node-agent/kubeconfig' });
      const kubeconfig = await readFile(join(out, worker, 'kubeconfig'), 'utf8');
      expect(kubeconfig).toContain(`system:node:${worker}`);
      expect(config['runtime']).toEqual({ type: 'docker' });
    }
    // RUNTIME=containerd vagrant up: the workers' agents talk CRI to containerd's default socket.
    await execa(join(repo, 'node_modules/.bin/node'), [join(repo, 'src/lab/main.ts'), 'vm-files', '--out', join(out, 'ctd'), '--nodes', '1', '--prefix', prefix, '--runtime', 'containerd']);
    const ctd = validateConfig(yaml.load(await readFile(join(out, 'ctd', 'worker-1', 'config.yaml'), 'utf8')) as Record<string, unknown>);
    expect(ctd.ok && ctd.config.runtime).toMatchObject({ type: 'containerd', endpoint: 'unix:///run/containerd/containerd.sock' });
  });

  it('ships an agent unit that systemd accepts', async () => {
    const verify = await execa('systemd-analyze', ['verify', join(repo, 'systemd/node-agent.service')], { reject: false });
    // The only complaint allowed off a VM: the agent is not installed under /opt/node-agent here.
    const complaints = verify.stderr.split('\n').filter((l) => l && !l.includes('/opt/node-agent/bin/node-agent is not executable'));
    expect(complaints).toEqual([]);
  });
});
