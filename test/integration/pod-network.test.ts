import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdirSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '../../src/lab/lab.ts';
import type { LabMachine } from '../../src/lab/topology.ts';
import { apply, condition, createTestLab, eventually, getPod, kubectl, kubectlJson, labLeftovers, podManifest } from '../helpers/test-lab.ts';
import { runtimeCli, testRuntimes } from '../helpers/node-runtime.ts';

// The pod network, end to end, in both modes and on both runtimes: three nodes, the real control
// plane assigning each a pod CIDR, the agents programming routes or VXLAN tunnels, and pods wired
// by the CNI plugin (run by the agent for Docker sandboxes, exec'd by containerd's CRI for its
// own). Driven and checked with kubectl: client pods run ping or wget and must end Succeeded.
const busybox = 'localhost/busybox:1';
const nodes = ['worker-1', 'worker-2', 'worker-3'];

/** busybox httpd with a CGI that prints the peer address it saw. */
const cgiServer = [
  'sh',
  '-c',
  'mkdir -p /www/cgi-bin && printf "#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho \\$REMOTE_ADDR\\n" > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 0.0.0.0:8080 -h /www',
];

async function phaseOf(lab: Lab, name: string): Promise<string | undefined> {
  const pod = await getPod(lab, name);
  const phase = pod.status?.phase as string | undefined;
  return phase === 'Succeeded' || phase === 'Failed' ? phase : undefined;
}

/** The output of a pod's container c, from the runtime of the node it ran on. */
async function logsOf(lab: Lab, name: string): Promise<string> {
  const pod = await getPod(lab, name);
  const cli = runtimeCli(lab, pod.spec.nodeName);
  const id = (await cli.containers({ 'io.kubernetes.pod.name': name, 'io.kubernetes.container.name': 'c' }, { all: true }))[0];
  return id ? cli.logs(id) : '';
}

/**
 * What a node really has wired: the owners of its IP allocation files, its running pod
 * sandboxes, its bridge ports, and the running sandboxes whose netns has no address on eth0.
 */
async function wiringOf(lab: Lab, worker: LabMachine): Promise<{ files: string[]; owners: string[]; sandboxes: string[]; ports: number; unwired: string[] }> {
  const root = join(worker.dir, 'root');
  const dir = join(root, 'cni', 'networks', 'node-agent');
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  const owners = await Promise.all(files.map(async (f) => (await readFile(join(dir, f), 'utf8').catch(() => '')).split('\n')[0] ?? ''));
  const cli = runtimeCli(lab, worker.name);
  const sandboxes = await cli.sandboxes();
  const ports = (await execa('ip', ['-n', worker.netns, '-o', 'link', 'show', 'master', 'cni0'], { reject: false })).stdout.split('\n').filter(Boolean).length;
  const unwired: string[] = [];
  for (const id of sandboxes) {
    const pid = await cli.pid(id).catch(() => 0);
    const addr = await execa('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'], { reject: false });
    if (!addr.stdout.includes('inet ')) unwired.push(id);
  }
  return { files, owners: [...owners].sort(), sandboxes: [...sandboxes].sort(), ports, unwired };
}

for (const runtime of testRuntimes) for (const mode of ['host-gw', 'vxlan'] as const) {
  describe(`pod network on ${runtime}, ${mode}`, () => {
    let lab: Lab;
    let hostServer: (Promise<unknown> & { kill: () => boolean }) | undefined;
    let wwwDir = '';

    beforeAll(async () => {
      const created = await createTestLab({ workers: 3, network: mode, runtime });
      lab = created.lab;
      await lab.up(created.binDir);
      await eventually('three nodes Ready with pod CIDRs', 90_000, async () => {
        const list = await kubectlJson(lab, ['get', 'nodes']);
        return list.items.filter((n: any) => condition(n, 'Ready')?.status === 'True' && n.spec?.podCIDR).length === 3;
      });
      await eventually('the default service account', 30_000, async () => (await kubectl(lab, ['get', 'serviceaccount', 'default'], { reject: false })).exitCode === 0);
      // A server outside the cluster CIDR: the lab host on the bridge (this machine).
      wwwDir = await mkdtemp(join(tmpdir(), 'na-www-'));
      await mkdir(join(wwwDir, 'cgi-bin'));
      await writeFile(join(wwwDir, 'cgi-bin', 'ip'), '#!/bin/sh\necho Content-Type: text/plain\necho\necho $REMOTE_ADDR\n');
      await chmod(join(wwwDir, 'cgi-bin', 'ip'), 0o755);
      hostServer = execa('busybox', ['httpd', '-f', '-p', `${lab.topology.hostIP}:18080`, '-h', wwwDir], { reject: false });
    });

    afterAll(async () => {
      hostServer?.kill();
      await hostServer;
      if (wwwDir) await rm(wwwDir, { recursive: true, force: true });
      // Every pod that ran here (the churn and the kills included) has a log directory,
      // <namespace>_<name>_<uid>: none of them may keep a cgroup after down.
      const uids = lab ? (await Promise.all(lab.topology.workers.map((w) => readdir(lab.agentPaths(w).podLogs).catch(() => [] as string[])))).flat().map((d) => d.split('_').at(-1) ?? '') : [];
      await lab?.down();
      if (lab) expect(await labLeftovers(lab, uids)).toEqual([]);
    });

    it('every pod reaches every other pod, on its own node and on the others', async () => {
      await apply(
        lab,
        ...nodes.map((node, i) => podManifest(`server-${i + 1}`, node, { containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: cgiServer }] })),
      );
      const ips = await eventually('servers running with pod IPs', 60_000, async () => {
        const pods = await Promise.all(nodes.map((_, i) => getPod(lab, `server-${i + 1}`)));
        if (!pods.every((p) => p.status?.phase === 'Running' && p.status?.podIP)) return undefined;
        return pods.map((p) => p.status.podIP as string);
      });
      // Each server's IP is inside its node's pod CIDR, and no two are alike.
      const list = await kubectlJson(lab, ['get', 'nodes']);
      for (const [i, node] of nodes.entries()) {
        const cidr = list.items.find((n: any) => n.metadata.name === node).spec.podCIDR as string;
        expect(ips[i]?.startsWith(cidr.split('.').slice(0, 3).join('.') + '.'), `${ips[i]} in ${cidr}`).toBe(true);
      }
      expect(new Set(ips).size).toBe(3);

      const pairs = nodes.flatMap((from, i) => nodes.map((_, j) => ({ name: `ping-${i + 1}-${j + 1}`, from, to: ips[j] ?? '' })));
      await apply(
        lab,
        ...pairs.map((p) =>
          podManifest(p.name, p.from, { restartPolicy: 'Never', containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['ping', '-c', '3', '-W', '3', p.to] }] }),
        ),
      );
      const phases = await eventually('all ping pods finished', 90_000, async () => {
        const done = await Promise.all(pairs.map((p) => phaseOf(lab, p.name)));
        return done.every(Boolean) ? done : undefined;
      });
      const failed = pairs.filter((_, k) => phases[k] !== 'Succeeded');
      const details = await Promise.all(failed.map(async (p) => `${p.name} -> ${p.to}: ${await logsOf(lab, p.name)}`));
      expect(details).toEqual([]);
      for (const p of pairs) expect(await logsOf(lab, p.name)).toContain('3 packets received');
    });

    it('a server sees the client pod IP across nodes, and the outside sees the node IP', async () => {
      const server2 = await getPod(lab, 'server-2');
      // busybox-static's wget crashes when given -T, so the time limit comes from timeout(1).
      const script = [
        `seen=$(timeout 10 wget -q -O- http://${server2.status.podIP}:8080/cgi-bin/ip)`,
        `outside=$(timeout 10 wget -q -O- http://${lab.topology.hostIP}:18080/cgi-bin/ip)`,
        'echo "pod=$MY_IP seen=$seen node=$NODE_IP outside=$outside"',
        '[ "$seen" = "$MY_IP" ] && [ "$outside" = "$NODE_IP" ]',
      ].join('; ');
      await apply(
        lab,
        podManifest('source-ip', 'worker-1', {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'c',
              image: busybox,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', script],
              env: [
                { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
              ],
            },
          ],
        }),
      );
      const phase = await eventually('source-ip finished', 60_000, () => phaseOf(lab, 'source-ip'));
      const output = await logsOf(lab, 'source-ip');
      const pod = await getPod(lab, 'source-ip');
      expect(output).toContain(`pod=${pod.status.podIP} seen=${pod.status.podIP}`);
      expect(output).toContain(`node=${lab.topology.workers[0]?.ip} outside=${lab.topology.workers[0]?.ip}`);
      expect(phase).toBe('Succeeded');
    });

    // Once, in host-gw mode: the IPAM and bridge code is the same in both modes. This is the
    // churn that wedged Debian's dockerd 20.10 before the agent bounded its concurrent daemon
    // calls (DockerRuntime's slots) and `lab down` removed containers in batches.
    it.runIf(mode === 'host-gw')('200 pods created and deleted in random order never share an IP; allocations and bridge ports match the pods', async () => {
      const names = Array.from({ length: 200 }, (_, i) => `churn-${i}`);
      const manifest = (name: string, i: number) =>
        podManifest(name, nodes[i % 3] ?? 'worker-1', { terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] }, { labels: { churn: 'yes' } });
      const shuffled = <T,>(list: T[]): T[] => list.map((v) => [Math.random(), v] as const).sort((a, b) => a[0] - b[0]).map(([, v]) => v);
      const alive = new Set<string>();
      // Three rounds: create a batch, then delete a random part of everything alive, while the
      // agents are still busy with the creations.
      for (const [from, to, remove] of [[0, 70, 30], [70, 140, 40], [140, 200, 50]] as const) {
        const batch = names.slice(from, to);
        await apply(lab, ...batch.map((n) => manifest(n, names.indexOf(n))));
        batch.forEach((n) => alive.add(n));
        await new Promise((r) => setTimeout(r, 3000));
        const victims = shuffled([...alive]).slice(0, remove);
        await kubectl(lab, ['delete', 'pod', '--wait=false', ...victims]);
        victims.forEach((n) => alive.delete(n));
      }
      const pods = await eventually(`${alive.size} churn pods Running and the rest gone`, 240_000, async () => {
        const list = await kubectlJson(lab, ['get', 'pods', '-l', 'churn=yes']);
        const items = list.items as any[];
        if (items.length !== alive.size || !items.every((p) => p.status?.phase === 'Running' && p.status?.podIP)) return undefined;
        return items;
      }, 2000);
      expect(new Set(pods.map((p) => p.metadata.name))).toEqual(alive);
      const everyPod = (await kubectlJson(lab, ['get', 'pods'])).items.filter((p: any) => p.status?.phase === 'Running' && p.status?.podIP);
      const ips = everyPod.map((p: any) => p.status.podIP as string);
      expect(new Set(ips).size).toBe(ips.length);

      // Grace 0 makes the apiserver drop a Pod at once, while the agent may still be tearing it
      // down (under this churn dockerd answers slowly, and that can take minutes). So the files and
      // ports are held against what the node really runs: every allocation belongs to a running
      // pod sandbox of this node and every running sandbox has exactly one, every bridge port is
      // one of theirs, and every running Pod's IP is among them.
      for (const worker of lab.topology.workers) {
        const podIPs = everyPod.filter((p: any) => p.spec.nodeName === worker.name).map((p: any) => p.status.podIP as string);
        const snapshot = () => wiringOf(lab, worker);
        await eventually(`allocations and bridge ports on ${worker.name} equal its running sandboxes`, 60_000, async () => {
          const s = await snapshot();
          return JSON.stringify(s.owners) === JSON.stringify(s.sandboxes) && s.ports === s.sandboxes.length;
        });
        const s = await snapshot();
        expect(s.owners, `allocation owners on ${worker.name}`).toEqual(s.sandboxes);
        expect(s.ports, `bridge ports on ${worker.name}`).toBe(s.sandboxes.length);
        expect(s.files, `running pods' IPs on ${worker.name}`).toEqual(expect.arrayContaining(podIPs));
        expect(s.unwired, `sandboxes without an address on ${worker.name}`).toEqual([]);
      }
      await kubectl(lab, ['delete', 'pod', '-l', 'churn=yes', '--wait=false']);
    }, 420_000);

    // The agent wires a sandbox in steps (pause container, IP allocation, veth, addresses): killed
    // with SIGKILL in the middle, it leaves half-wired sandboxes. The restarted agent must find
    // them (CNI CHECK at start), replace them, and leave exactly one allocation and one bridge port
    // per running sandbox. Rounds alternate two kill points: at a random moment while pods are
    // being created, and the instant an allocation file appears (inotify), which lands inside a
    // CNI ADD, between the address being reserved and the veth being wired. Each restart must
    // also cope with what the kills before it left.
    it.runIf(mode === 'host-gw')('an agent killed while wiring pods leaves nothing that its restart does not clean up', async () => {
      const worker = lab.topology.workers[0]!;
      const allocationDir = join(worker.dir, 'root', 'cni', 'networks', 'node-agent');
      const settled = async (): Promise<Awaited<ReturnType<typeof wiringOf>> | undefined> => {
        const w = await wiringOf(lab, worker);
        return JSON.stringify(w.owners) === JSON.stringify(w.sandboxes) && w.ports === w.sandboxes.length && w.unwired.length === 0 ? w : undefined;
      };
      // Whatever earlier tests left being torn down is finished first, so it is not taken for
      // the kill's leftovers.
      await eventually(`${worker.name} settled before the kills`, 120_000, settled, 2000);
      const names: string[] = [];
      let unwiredSeen = 0;
      let midAddSeen = 0;
      for (let round = 0; round < 10 && (round < 4 || (runtime === 'docker' && (unwiredSeen === 0 || midAddSeen === 0))); round++) {
        const batch = Array.from({ length: 12 }, (_, i) => `crash-${round}-${i}`);
        names.push(...batch);
        const pid = await lab.agentPidOf(worker.name);
        const onAllocation = round % 2 === 1;
        let watcher: FSWatcher | undefined;
        const killed = new Promise<void>((resolve) => {
          if (!onAllocation) return;
          // The plugin makes it on first use; made here so it can be watched before then.
          mkdirSync(allocationDir, { recursive: true });
          const before = new Set(readdirSync(allocationDir));
          watcher = watch(allocationDir, (_event, file) => {
            if (file && /^\d+\.\d+\.\d+\.\d+$/.test(file) && !before.has(file)) {
              try {
                process.kill(pid, 'SIGKILL');
              } catch {
                // already gone
              }
              resolve();
            }
          });
        });
        await apply(lab, ...batch.map((n) => podManifest(n, worker.name, { terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] }, { labels: { crash: 'yes' } })));
        if (onAllocation) await Promise.race([killed, new Promise((r) => setTimeout(r, 20_000))]);
        else await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
        watcher?.close();
        await lab.stopAgent(worker.name, 'SIGKILL');
        const s = await wiringOf(lab, worker);
        // Unfinished: a running sandbox without an address; an allocation whose sandbox has no
        // address (killed inside ADD) or is not running; bridge ports that do not match.
        const midAdd = s.owners.filter((o) => s.unwired.includes(o) || !s.sandboxes.includes(o)).length;
        unwiredSeen += s.unwired.length;
        midAddSeen += midAdd + (s.ports !== s.sandboxes.length - s.unwired.length ? 1 : 0);
        console.log(`round ${round} (kill ${onAllocation ? 'on the first new allocation' : 'at a random moment'}): ${s.sandboxes.length} sandboxes, ${s.unwired.length} without an address, ${midAdd} allocations of unwired or gone sandboxes, ${s.ports} bridge ports`);
        await lab.startAgent(worker.name);
      }
      // With Docker the agent wires each sandbox itself, so a kill must have left half-wired ones
      // for this test to mean anything. containerd wires its sandboxes (a sandbox is ready only
      // once its CNI ADD succeeded; a failed one it tears down with DEL, which the exec'd plugin
      // then does alone), so there only the end state below is checked.
      if (runtime === 'docker') {
        expect(unwiredSeen, 'a kill left running sandboxes without an address').toBeGreaterThan(0);
        expect(midAddSeen, 'a kill landed inside an ADD (an allocation without its wiring)').toBeGreaterThan(0);
      }
      const pods = await eventually(`${names.length} pods Running`, 180_000, async () => {
        const items = (await kubectlJson(lab, ['get', 'pods', '-l', 'crash=yes'])).items as any[];
        return items.length === names.length && items.every((p) => p.status?.phase === 'Running' && p.status?.podIP) ? items : undefined;
      }, 2000);
      const ips = pods.map((p) => p.status.podIP as string);
      expect(new Set(ips).size).toBe(ips.length);
      const s = await eventually(`allocations and ports on ${worker.name} equal its running sandboxes`, 90_000, settled, 2000);
      expect(s.files).toEqual(expect.arrayContaining(ips));
      await kubectl(lab, ['delete', 'pod', '-l', 'crash=yes', '--wait=false']);
    }, 420_000);

    // What containerd's CRI will do: exec the installed plugin with the node's conflist, in the
    // node's network namespace. The agent serves the call over its socket (its /statusz counts it).
    it('the installed plugin, exec\'d with the node\'s conflist, is served by the agent', async () => {
      const worker = lab.topology.workers[1]!;
      const list = JSON.parse(await readFile(join(worker.dir, 'cni-conf', '10-node-agent.conflist'), 'utf8'));
      const netconf = JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] });
      const node = (await kubectlJson(lab, ['get', 'node', worker.name])).spec.podCIDR as string;
      const served = async () => JSON.parse((await execa('ip', ['netns', 'exec', worker.netns, 'curl', '-s', 'http://127.0.0.1:10248/statusz'])).stdout).cniServer.served as number;
      const before = await served();
      const podNs = `${lab.topology.options.prefix}-execd`;
      await execa('ip', ['netns', 'add', podNs]);
      try {
        const call = (command: string) =>
          execa('ip', ['netns', 'exec', worker.netns, '/opt/cni/bin/node-agent-bridge'], {
            input: netconf,
            reject: false,
            extendEnv: false,
            env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: `execd${podNs}`, CNI_NETNS: `/run/netns/${podNs}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
          });
        const add = await call('ADD');
        expect(add.exitCode, add.stdout).toBe(0);
        const ip = (JSON.parse(add.stdout).ips[0].address as string).split('/')[0] ?? '';
        expect(ip.split('.').slice(0, 3).join('.')).toBe(node.split('.').slice(0, 3).join('.'));
        await execa('ip', ['netns', 'exec', podNs, 'ping', '-c', '1', '-W', '2', node.replace(/\.0\/24$/, '.1')]);
        expect((await call('DEL')).exitCode).toBe(0);
        expect(await served()).toBe(before + 2);
      } finally {
        await execa('ip', ['netns', 'del', podNs], { reject: false });
      }
    });

    // A runtime the agent does not know (a CNI caller of its own) sharing the node's conflist:
    // the agent's CNI GC, at each start, may free only what its own backend made. With
    // network.disableGC the conflist says so and the agent calls no GC at all.
    it.runIf(mode === 'host-gw')('CNI GC at agent start frees only its own backend\'s addresses, and none with disableGC', async () => {
      const worker = lab.topology.workers[2]!;
      const dataDir = join(worker.dir, 'root', 'cni', 'networks', 'node-agent');
      const conflistPath = join(worker.dir, 'cni-conf', '10-node-agent.conflist');
      const cidr = (await kubectlJson(lab, ['get', 'node', worker.name])).spec.podCIDR as string;
      const base = cidr.split('.').slice(0, 3).join('.');
      const podNs = `${lab.topology.options.prefix}-foreign`;
      const statusz = async () => JSON.parse((await execa('ip', ['netns', 'exec', worker.netns, 'curl', '-s', 'http://127.0.0.1:10248/statusz'], { reject: false })).stdout || '{}');
      const restart = async (network: Record<string, unknown>) => {
        await lab.stopAgent(worker.name, 'SIGTERM');
        await lab.prepareWorker(worker, { network: { mode, ...network } });
        await lab.startAgent(worker.name);
        // statusz names the pod CIDR once the start-up network set-up (and its GC) is done.
        await eventually('the restarted agent has its network set up', 60_000, async () => (await statusz()).podCIDR === cidr);
      };
      const files = async () => (await readdir(dataDir)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
      // Stale allocations of sandboxes nobody has: one the Docker backend made, one an exec'd caller made.
      const staleDocker = `${base}.250`;
      const staleExecd = `${base}.251`;
      await execa('ip', ['netns', 'add', podNs]);
      try {
        const netconfOf = async () => {
          const list = JSON.parse(await readFile(conflistPath, 'utf8'));
          return JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] });
        };
        const call = async (command: string) =>
          execa('ip', ['netns', 'exec', worker.netns, '/opt/cni/bin/node-agent-bridge'], {
            input: await netconfOf(),
            reject: false,
            extendEnv: false,
            env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: command, CNI_CONTAINERID: `foreign${podNs}`, CNI_NETNS: `/run/netns/${podNs}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
          });
        const add = await call('ADD');
        expect(add.exitCode, add.stdout).toBe(0);
        const foreignIp = (JSON.parse(add.stdout).ips[0].address as string).split('/')[0] ?? '';
        await writeFile(join(dataDir, staleDocker), 'gone-docker\neth0\nnode-agent-docker');
        await writeFile(join(dataDir, staleExecd), 'gone-execd\neth0');

        await restart({ disableGC: true });
        expect(JSON.parse(await readFile(conflistPath, 'utf8')).disableGC).toBe(true);
        expect(await files()).toEqual(expect.arrayContaining([foreignIp, staleDocker, staleExecd]));

        await restart({});
        expect(JSON.parse(await readFile(conflistPath, 'utf8')).disableGC).toBeUndefined();
        const left = await files();
        const pinged = await execa('ip', ['netns', 'exec', podNs, 'ping', '-c', '1', '-W', '2', `${base}.1`], { reject: false });
        if (runtime === 'docker') {
          // The Docker backend's GC takes its own stale address; the exec'd caller's are not its to judge.
          expect(left).not.toContain(staleDocker);
          expect(left).toEqual(expect.arrayContaining([foreignIp, staleExecd]));
          expect(pinged.exitCode, 'the foreign sandbox keeps its interface').toBe(0);
        } else {
          // containerd's sandboxes are exec'd callers too: the CRI backend's GC takes every exec'd
          // address containerd does not list (what disableGC is for) and leaves the Docker backend's.
          expect(left).not.toContain(staleExecd);
          expect(left).not.toContain(foreignIp);
          expect(left).toContain(staleDocker);
          expect(pinged.exitCode, 'the collected sandbox lost its interface').not.toBe(0);
        }
        expect((await call('DEL')).exitCode).toBe(0);
      } finally {
        await execa('ip', ['netns', 'del', podNs], { reject: false });
        await rm(join(dataDir, staleDocker), { force: true });
        await rm(join(dataDir, staleExecd), { force: true });
      }
    }, 240_000);

    it('pods get the managed /etc/hosts and the node MTU (less the tunnel overhead in vxlan mode)', async () => {
      await apply(
        lab,
        podManifest('etc', 'worker-3', {
          restartPolicy: 'Never',
          hostAliases: [{ ip: '10.1.2.3', hostnames: ['alias.example'] }],
          containers: [{ name: 'c', image: busybox, imagePullPolicy: 'Never', command: ['sh', '-c', 'cat /etc/hosts; cat /sys/class/net/eth0/mtu'] }],
        }),
      );
      await eventually('etc finished', 90_000, () => phaseOf(lab, 'etc'));
      const pod = await getPod(lab, 'etc');
      const output = await logsOf(lab, 'etc');
      expect(output).toContain('# Kubernetes-managed hosts file.');
      expect(output).toContain(`${pod.status.podIP}\tetc`);
      expect(output).toContain('10.1.2.3\talias.example');
      expect(output.trim().split('\n').at(-1)).toBe(mode === 'vxlan' ? '1450' : '1500');
      expect(pod.status.podIPs).toEqual([{ ip: pod.status.podIP }]);
    }, 120_000);
  });
}
