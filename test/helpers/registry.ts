import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * A real image registry on loopback for pull tests: Debian's docker-registry (the CNCF
 * distribution registry) with a store of its own, on a free port. Both runtimes pull from
 * 127.0.0.1 over plain HTTP without set-up (Docker treats 127.0.0.0/8 as insecure, containerd's
 * CRI plugin talks HTTP to localhost). Images get in with `docker push`.
 */
export interface TestRegistry {
  /** host:port, the prefix of image references, e.g. 127.0.0.1:5123 */
  host: string;
  /**
   * Pushes an image of its own, `base` plus a file with `marker` in it, as `repository` and
   * takes it out of Docker's store again, so that a pull fetches it for real. Its own content
   * (not a tag of `base`) matters: runtimes remove images by id, with every tag they have.
   */
  pushDistinct(base: string, repository: string, marker: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'na-registry-'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const host = `127.0.0.1:${port}`;
    const config = join(dir, 'config.yml');
    await writeFile(config, `version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: ${join(dir, 'store')}}\n  delete: {enabled: true}\nhttp: {addr: "${host}"}\n`);
    const proc = execa('docker-registry', ['serve', config], { reject: false, stdio: 'ignore' });
    const up = await waitUp(host, proc);
    if (!up) {
      proc.kill('SIGKILL');
      await proc;
      continue;
    }
    return {
      host,
      async pushDistinct(base, repository, marker) {
        const ref = `${host}/${repository}`;
        const name = `na-registry-${process.pid}-${Date.now()}`;
        await execa('docker', ['run', '--name', name, '--network', 'none', base, 'sh', '-c', `echo ${marker} > /marker`]);
        try {
          await execa('docker', ['commit', name, ref]);
        } finally {
          await execa('docker', ['rm', '-f', name], { reject: false });
        }
        await execa('docker', ['push', ref]);
        await execa('docker', ['rmi', ref]);
        return ref;
      },
      async stop() {
        // Its store is a temporary directory: nothing to shut down gracefully (on SIGTERM it
        // would wait for idle connections).
        proc.kill('SIGKILL');
        await proc;
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error('docker-registry did not start on a free port (is the package docker-registry installed? scripts/setup.sh installs it)');
}

async function waitUp(host: string, proc: Promise<unknown>): Promise<boolean> {
  let exited = false;
  void proc.finally(() => (exited = true));
  for (let i = 0; i < 50 && !exited; i++) {
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.status === 200, () => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
