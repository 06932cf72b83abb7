import { afterAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { execa } from 'execa';

// The local images, as the runtimes see them: built by images/build.sh (scripts/setup.sh runs it).
const repo = resolve(import.meta.dirname, '../..');
const name = `na-test-pause-${process.pid}`;

describe('local images', () => {
  afterAll(async () => {
    await execa('docker', ['rm', '-f', name, `${name}-app`], { reject: false });
  });

  it('are in Docker and in containerd\'s k8s.io namespace, and a rebuild with no change is a no-op', async () => {
    const again = await execa('bash', [`${repo}/images/build.sh`]);
    expect(again.stdout).toBe('localhost/pause:1: up to date\nlocalhost/busybox:1: up to date\nlocalhost/grpc-health:1: up to date');
    const ctr = (await execa('ctr', ['-n', 'k8s.io', 'images', 'ls', '-q'])).stdout.split('\n');
    expect(ctr).toEqual(expect.arrayContaining(['localhost/pause:1', 'localhost/busybox:1', 'localhost/grpc-health:1']));
  });

  it('busybox has the applets pods use', async () => {
    const { stdout } = await execa('docker', ['run', '--rm', '--network', 'none', 'localhost/busybox:1', 'sh', '-c',
      'for a in sh ping wget httpd nc sleep hostname ip nslookup; do command -v $a >/dev/null || echo missing $a; done; echo done']);
    expect(stdout).toBe('done');
  });

  it('pause exits 0 on SIGTERM at once and reaps the zombies of its pod', async () => {
    await execa('docker', ['run', '-d', '--name', name, '--network', 'none', '--ipc', 'shareable', 'localhost/pause:1']);
    // An app container in the pause container's PID namespace leaves an orphan behind; when the
    // orphan exits, only PID 1 (pause) can reap it.
    await execa('docker', ['run', '-d', '--name', `${name}-app`, '--pid', `container:${name}`, '--network', `container:${name}`,
      'localhost/busybox:1', 'sh', '-c', '(sleep 1 &); sleep 30']);
    await new Promise((r) => setTimeout(r, 2500));
    const ps = await execa('docker', ['exec', `${name}-app`, 'ps', '-o', 'pid,stat,comm']);
    expect(ps.stdout).not.toMatch(/\sZ\s/);
    await execa('docker', ['rm', '-f', `${name}-app`]);
    const started = Date.now();
    await execa('docker', ['stop', '-t', '10', name]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await execa('docker', ['inspect', '-f', '{{.State.ExitCode}}', name])).stdout).toBe('0');
  });
});
