import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { Lab } from '../../src/lab/lab.ts';
import { apply, createTestLab, eventually, getPod, kubectl, podManifest } from '../helpers/test-lab.ts';
import { testRuntimes } from '../helpers/node-runtime.ts';

// kubectl exec as against a kubelet: kubectl speaks WebSocket to the real apiserver, which
// translates to SPDY and reaches the agent on 10250 with its kubelet client certificate. On
// containerd the agent proxies to containerd's streaming server; on Docker it serves the streams.
// The acceptance: `kubectl exec POD -- ping -c 1 <other pod IP>` across workers.
const busybox = 'localhost/busybox:1';
const sleeper = (name: string, node: string) => podManifest(name, node, { containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] });

for (const runtime of testRuntimes) {
  describe(`kubectl exec on ${runtime}`, () => {
    let lab: Lab;
    let ipB = '';

    beforeAll(async () => {
      const created = await createTestLab({ workers: 2, runtime });
      lab = created.lab;
      await lab.up(created.binDir);
      const [w1, w2] = lab.topology.workers as [(typeof lab.topology.workers)[0], (typeof lab.topology.workers)[0]];
      await apply(
        lab,
        sleeper('pod-a', w1.name),
        sleeper('pod-b', w2.name),
        // For kubectl attach: a process that echoes its stdin back.
        podManifest('echoer', w1.name, { containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', stdin: true, command: ['sh', '-c', 'echo ready; while read -r l; do echo "got $l"; done'] }] }),
      );
      for (const name of ['pod-a', 'pod-b', 'echoer']) await eventually(`${name} Running`, 90_000, async () => (await getPod(lab, name)).status?.phase === 'Running');
      ipB = (await getPod(lab, 'pod-b')).status.podIP;
    }, 300_000);

    afterAll(async () => {
      await kubectl(lab, ['delete', 'pod', 'pod-a', 'pod-b', 'echoer', '--wait=false'], { reject: false });
      await lab?.down();
    });

    it('kubectl exec POD -- ping -c 1 <pod on the other worker> works', async () => {
      const r = await kubectl(lab, ['exec', 'pod-a', '--', 'ping', '-c', '1', '-W', '5', ipB], { reject: false });
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain(`1 packets transmitted, 1 packets received`);
      expect(r.stdout).toContain(`from ${ipB}`);
    }, 60_000);

    it('passes the exit code, both output streams and stdin through', async () => {
      const failed = await kubectl(lab, ['exec', 'pod-b', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'], { reject: false });
      expect(failed.exitCode).toBe(7);
      expect(failed.stdout).toBe('out');
      expect(failed.stderr).toContain('err');
      expect(failed.stderr).toContain('command terminated with exit code 7');
      // -i: stdin reaches the command and its end ends the command.
      const input = Array.from({ length: 2000 }, (_, i) => `line ${i}`).join('\n');
      const cat = await kubectl(lab, ['exec', '-i', 'pod-a', '--', 'sh', '-c', 'wc -l; echo done'], { input: `${input}\n` });
      expect(cat.stdout.split('\n').map((l) => l.trim())).toEqual(['2000', 'done']);
      // A lot of output arrives whole (no flow-control stall, nothing dropped).
      const big = await kubectl(lab, ['exec', 'pod-a', '--', 'sh', '-c', 'i=0; while [ $i -lt 20000 ]; do echo "row $i"; i=$((i+1)); done']);
      const rows = big.stdout.split('\n');
      expect(rows).toHaveLength(20000);
      expect(rows[19999]).toBe('row 19999');
    }, 90_000);

    it('kubectl exec -it gets a terminal of the client\'s size', async () => {
      // script(1) gives kubectl a pseudo-terminal, as a user's shell would; stty sets its size,
      // which kubectl sends on the resize stream. The runtimes apply a size to a running process
      // only (Docker's API 1.41 has no size at exec start), hence the command's short pause.
      const inner = `stty cols 91 rows 33; kubectl --kubeconfig ${lab.adminKubeconfig} exec -it pod-a -- sh -c 'sleep 0.5; stty size; tty'`;
      const r = await execa('script', ['-qec', inner, '/dev/null'], { reject: false, timeout: 30_000 });
      const lines = r.stdout.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
      expect(lines).toContain('33 91');
      expect(lines.some((l) => l.startsWith('/dev/pts/'))).toBe(true);
      expect(r.exitCode).toBe(0);
    }, 60_000);

    it('kubectl attach -i reaches the container\'s own process', async () => {
      const attach = execa('kubectl', ['--kubeconfig', lab.adminKubeconfig, 'attach', '-i', 'echoer'], { reject: false, stdin: 'pipe' });
      let seen = '';
      attach.stdout?.on('data', (c: Buffer) => (seen += c.toString()));
      try {
        // Attach streams from now on (no replay of the log), so keep saying hello until heard.
        await eventually('the echo', 20_000, async () => {
          attach.stdin?.write('hello\n');
          return seen.includes('got hello');
        });
      } finally {
        attach.kill('SIGTERM');
        await attach;
      }
      // The pod runs on after the client leaves.
      expect((await getPod(lab, 'echoer')).status.containerStatuses[0].restartCount).toBe(0);
    }, 60_000);

    it('refuses what it cannot do with kubelet\'s answers', async () => {
      const missing = await kubectl(lab, ['exec', 'pod-a', '--', '/no/such/binary'], { reject: false });
      expect(missing.exitCode).not.toBe(0);
      const wrong = await kubectl(lab, ['exec', 'pod-a', '-c', 'nope', '--', 'true'], { reject: false });
      expect(wrong.exitCode).not.toBe(0);
      expect(wrong.stderr).toContain('container nope is not valid for pod pod-a');
      // Straight to the node without credentials: 401 before any upgrade, and logged.
      const w1 = lab.topology.workers[0]!;
      const anonymous = await execa('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', '-H', 'Connection: Upgrade', '-H', 'Upgrade: SPDY/3.1', '-H', 'X-Stream-Protocol-Version: v4.channel.k8s.io', `https://${w1.ip}:10250/exec/default/pod-a/c?command=true&output=1`]);
      expect(anonymous.stdout).toBe('401');
      const token = (await kubectl(lab, ['create', 'token', 'default'])).stdout.trim();
      const denied = await execa('curl', ['-sk', '-X', 'POST', '-H', `Authorization: Bearer ${token}`, '-H', 'Connection: Upgrade', '-H', 'Upgrade: SPDY/3.1', `https://${w1.ip}:10250/exec/default/pod-a/c?command=true&output=1`]);
      expect(denied.stdout.trim()).toBe('Forbidden (user=system:serviceaccount:default:default, verb=create, resource=nodes, subresource=proxy)');
      const log = await readFile(lab.agentPaths(w1).log, 'utf8');
      expect(log).toContain('kubelet API: unauthorized request (401)');
      expect(log).not.toContain(token);
      // The pods are unharmed.
      expect((await kubectl(lab, ['exec', 'pod-a', '--', 'echo', 'still here'])).stdout).toBe('still here');
    }, 60_000);
  });
}
