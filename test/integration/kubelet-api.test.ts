import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { Lab } from '../../src/lab/lab.ts';
import type { LabMachine } from '../../src/lab/topology.ts';
import { apply, createTestLab, eventually, getPod, kubectl, podManifest } from '../helpers/test-lab.ts';
import { testRuntimes } from '../helpers/node-runtime.ts';

// The kubelet API on 10250 as the real apiserver uses it: kubectl logs (tail, timestamps,
// follow, previous) proxied with the apiserver's kubelet client certificate, and refusals
// for a client with no credentials (401) and a token without rights (403).
const busybox = 'localhost/busybox:1';

for (const runtime of testRuntimes) {
  describe(`kubelet API on ${runtime}`, () => {
    let lab: Lab;
    let worker: LabMachine;

    beforeAll(async () => {
      const created = await createTestLab({ workers: 1, runtime });
      lab = created.lab;
      worker = lab.topology.workers[0]!;
      await lab.up(created.binDir);
      await apply(
        lab,
        podManifest('talker', worker.name, { containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.2; done'] }] }),
        podManifest('crasher', worker.name, { containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['sh', '-c', 'echo run-$(cat /proc/sys/kernel/random/uuid); sleep 1; exit 3'] }] }),
      );
      await eventually('talker Running', 60_000, async () => (await getPod(lab, 'talker')).status?.phase === 'Running');
    }, 240_000);

    afterAll(async () => {
      await kubectl(lab, ['delete', 'pod', 'talker', 'crasher', '--wait=false'], { reject: false });
      await lab?.down();
    });

    it('kubectl logs, --tail, --timestamps and -f reach the container log through the apiserver', async () => {
      const all = await eventually('some lines logged', 30_000, async () => {
        const r = await kubectl(lab, ['logs', 'talker'], { reject: false });
        return r.exitCode === 0 && r.stdout.split('\n').length >= 5 ? r.stdout : undefined;
      });
      expect(all.split('\n').slice(0, 3)).toEqual(['line-1', 'line-2', 'line-3']);
      const tail = (await kubectl(lab, ['logs', 'talker', '--tail=2'])).stdout.split('\n');
      expect(tail).toHaveLength(2);
      expect(tail.every((l) => /^line-\d+$/.test(l))).toBe(true);
      const stamped = (await kubectl(lab, ['logs', 'talker', '--tail=1', '--timestamps'])).stdout;
      expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z line-\d+$/);
      // -f keeps the stream open and brings lines written after it started.
      const follow = execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, 'logs', '-f', 'talker', '--tail=1'], { reject: false });
      let seen = '';
      follow.stdout?.on('data', (chunk: Buffer) => (seen += chunk.toString()));
      try {
        await eventually('followed lines arriving', 20_000, async () => seen.split('\n').filter(Boolean).length >= 5);
        const numbers = seen.split('\n').filter(Boolean).map((l) => Number(l.replace('line-', '')));
        expect(numbers.slice(1).every((n, i) => n === numbers[i]! + 1)).toBe(true);
      } finally {
        follow.kill('SIGTERM');
        await follow;
      }
    }, 90_000);

    it('kubectl logs --previous shows the instance before the current one', async () => {
      await eventually('crasher restarted', 90_000, async () => ((await getPod(lab, 'crasher')).status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1);
      const previous = await eventually('the previous log', 30_000, async () => {
        const r = await kubectl(lab, ['logs', 'crasher', '--previous'], { reject: false });
        return r.exitCode === 0 && r.stdout.startsWith('run-') ? r.stdout : undefined;
      });
      expect(previous).toMatch(/^run-[0-9a-f-]{36}$/);
      const missing = await kubectl(lab, ['logs', 'talker', '--previous'], { reject: false });
      expect(missing.exitCode).not.toBe(0);
      expect(missing.stderr).toContain('previous terminated container "c" in pod "talker" not found');
    }, 120_000);

    it('refuses a client with no credentials (401) and a token without rights (403), and logs both', async () => {
      const url = `https://${worker.ip}:10250/pods`;
      const anonymous = await execa('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', url]);
      expect(anonymous.stdout).toBe('401');
      const token = (await kubectl(lab, ['create', 'token', 'default'])).stdout.trim();
      const denied = await execa('curl', ['-sk', '-H', `Authorization: Bearer ${token}`, url]);
      expect(denied.stdout.trim()).toBe('Forbidden (user=system:serviceaccount:default:default, verb=get, resource=nodes, subresource=proxy)');
      // The apiserver's own identity may: /pods lists the node's pods.
      const pods = JSON.parse((await kubectl(lab, ['get', '--raw', `/api/v1/nodes/${worker.name}/proxy/pods`])).stdout);
      expect(pods.items.map((p: { metadata: { name: string } }) => p.metadata.name).sort()).toEqual(['crasher', 'talker']);
      const log = await readFile(lab.agentPaths(worker).log, 'utf8');
      expect(log).toContain('kubelet API: unauthorized request (401)');
      expect(log).toContain('kubelet API: forbidden request (403)');
      expect(log).not.toContain(token);
    }, 60_000);
  });
}
