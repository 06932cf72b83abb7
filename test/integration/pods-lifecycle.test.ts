import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import type { Lab } from '../../src/lab/lab.ts';
import { apply, condition, createTestLab, eventsOf, eventually, getPod, kubectl, kubectlJson, podCgroupDirs, podManifest } from '../helpers/test-lab.ts';
import { runtimeCli, testRuntimes } from '../helpers/node-runtime.ts';

// What happens around a pod's life: termination with preStop and grace, configMap updates,
// agent restarts, bad specs beside good pods, and static pods with no apiserver at all.
const busybox = 'localhost/busybox:1';
const repo = resolve(import.meta.dirname, '../..');

for (const runtime of testRuntimes) describe(`pod lifecycle on ${runtime}`, () => {
  let lab: Lab;
  let hostDir: string;
  const cli = () => runtimeCli(lab, 'worker-1');
  const idOf = (containerID: string) => containerID.replace(`${runtime}://`, '');

  beforeAll(async () => {
    const created = await createTestLab({ workers: 1, runtime });
    lab = created.lab;
    await lab.up(created.binDir);
    await eventually('worker-1 Ready', 60_000, async () => condition(await kubectlJson(lab, ['get', 'node', 'worker-1']), 'Ready')?.status === 'True');
    await eventually('the default service account', 30_000, async () => (await kubectl(lab, ['get', 'serviceaccount', 'default'], { reject: false })).exitCode === 0);
    hostDir = await mkdtemp(join(tmpdir(), 'na-pods-'));
  });

  afterAll(async () => {
    await lab?.down();
    if (hostDir) await rm(hostDir, { recursive: true, force: true });
  });

  it('runs preStop, then SIGTERM, and SIGKILLs at the grace period a container that ignores SIGTERM', async () => {
    await apply(lab, podManifest('stubborn', 'worker-1', {
      terminationGracePeriodSeconds: 6,
      volumes: [{ name: 'out', hostPath: { path: hostDir, type: 'Directory' } }],
      containers: [{
        name: 'c', image: busybox,
        command: ['sh', '-c', 'trap "echo got-term >> /out/log" TERM; while true; do sleep 1; done'],
        volumeMounts: [{ name: 'out', mountPath: '/out' }],
        lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /out/log'] } } },
      }],
    }));
    const uid = (await eventually('stubborn Running', 60_000, async () => {
      const p = await getPod(lab, 'stubborn');
      return p.status.phase === 'Running' ? p : undefined;
    })).metadata.uid as string;
    expect((await podCgroupDirs(uid)).length).toBeGreaterThan(0);
    const started = Date.now();
    await kubectl(lab, ['delete', 'pod', 'stubborn', '--wait=true', '--timeout=60s']);
    const took = (Date.now() - started) / 1000;
    // Gone from the apiserver only after the agent stopped everything: about the grace period.
    expect(took).toBeGreaterThanOrEqual(5);
    expect(took).toBeLessThan(20);
    const log = (await readFile(join(hostDir, 'log'), 'utf8')).trim().split('\n');
    expect(log[0]).toBe('prestop');
    const events = await eventsOf(lab, 'stubborn');
    expect(events.some((e) => e.startsWith('Killing: Stopping container c'))).toBe(true);
    expect(await cli().containers({ 'io.kubernetes.pod.name': 'stubborn' }, { all: true })).toEqual([]);
    // Its cgroup (/kubepods/besteffort/pod<uid>) went with it.
    expect(await podCgroupDirs(uid)).toEqual([]);
  }, 90_000);

  it('a configMap change reaches the mounted file atomically within seconds (watched, not polled)', async () => {
    await apply(lab,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { 'greeting.txt': 'v1' } },
      podManifest('reader', 'worker-1', {
        volumes: [{ name: 'cfg', configMap: { name: 'settings' } }],
        containers: [{ name: 'c', image: busybox, command: ['sh', '-c', 'while true; do cat /cfg/greeting.txt > /tmp/seen; echo >> /tmp/seen; sleep 0.2; done'], volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }],
      }),
    );
    const pod = await eventually('reader Running', 60_000, async () => {
      const p = await getPod(lab, 'reader');
      return p.status.phase === 'Running' ? p : undefined;
    });
    const id = idOf(pod.status.containerStatuses[0].containerID);
    const read = async () => (await cli().exec(id, ['cat', '/cfg/greeting.txt'])).stdout;
    expect(await read()).toBe('v1');
    const link = (await cli().exec(id, ['readlink', '/cfg/..data'])).stdout;
    expect(link).toMatch(/^\.\.\d/);
    await kubectl(lab, ['patch', 'configmap', 'settings', '-p', JSON.stringify({ data: { 'greeting.txt': 'v2' } })]);
    const changedAt = Date.now();
    await eventually('the new content in the pod', 30_000, async () => (await read()) === 'v2', 200);
    // The agent watches the configMap and rewrites the volume on the change, long before the
    // 60 s periodic sync would.
    const took = Date.now() - changedAt;
    console.log(`configMap change visible in the pod after ${took} ms`);
    expect(took).toBeLessThan(10_000);
    expect((await cli().exec(id, ['readlink', '/cfg/..data'])).stdout).not.toBe(link);
    await kubectl(lab, ['delete', 'pod', 'reader', '--wait=false']);
  }, 90_000);

  it('bad pods get a clear waiting reason and an event, and the pods beside them are untouched', async () => {
    await writeFile(join(hostDir, 'a-file'), 'x');
    await apply(lab,
      podManifest('good', 'worker-1', { containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'] }] }),
      podManifest('bad-image', 'worker-1', { containers: [{ name: 'c', image: 'localhost/does-not-exist:1' }] }),
      podManifest('bad-never', 'worker-1', { containers: [{ name: 'c', image: 'localhost/does-not-exist:2', imagePullPolicy: 'Never' }] }),
      podManifest('bad-env', 'worker-1', { containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'], env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'missing-cm', key: 'k' } } }] }] }),
      podManifest('bad-secret', 'worker-1', { containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'], env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'missing-secret', key: 'k' } } }] }] }),
      podManifest('bad-volume', 'worker-1', { volumes: [{ name: 'v', configMap: { name: 'missing-cm' } }], containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'], volumeMounts: [{ name: 'v', mountPath: '/v' }] }] }),
      podManifest('bad-hostpath', 'worker-1', { volumes: [{ name: 'v', hostPath: { path: join(hostDir, 'a-file'), type: 'Directory' } }], containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'], volumeMounts: [{ name: 'v', mountPath: '/v' }] }] }),
    );
    await eventually('good Running', 60_000, async () => (await getPod(lab, 'good')).status.phase === 'Running');
    const good = await getPod(lab, 'good');
    const goodId = good.status.containerStatuses[0].containerID;
    const expectations: [string, RegExp, RegExp][] = [
      ['bad-image', /^(ErrImagePull|ImagePullBackOff)$/, /^Failed: Failed to pull image "localhost\/does-not-exist:1"/],
      ['bad-never', /^ErrImageNeverPull$/, /^ErrImageNeverPull: Container image "localhost\/does-not-exist:2" is not present with pull policy of Never/],
      ['bad-env', /^CreateContainerConfigError$/, /^Failed: Error: configmap "missing-cm" not found/],
      ['bad-secret', /^CreateContainerConfigError$/, /^Failed: Error: secret "missing-secret" not found/],
      ['bad-volume', /^ContainerCreating$/, /^FailedMount: .*configmap "missing-cm" not found/],
      ['bad-hostpath', /^ContainerCreating$/, /^FailedMount: .*not a directory/],
    ];
    for (const [name, reason, event] of expectations) {
      const pod = await eventually(`${name} waiting with a reason`, 40_000, async () => {
        const p = await getPod(lab, name);
        return reason.test(p.status.containerStatuses?.[0]?.state?.waiting?.reason ?? '') ? p : undefined;
      });
      expect(pod.status.phase).toBe('Pending');
      const events = await eventually(`${name} event`, 20_000, async () => {
        const list = await eventsOf(lab, name);
        return list.some((e) => event.test(e)) ? list : undefined;
      });
      expect(events.some((e) => event.test(e))).toBe(true);
    }
    const after = await getPod(lab, 'good');
    expect(after.status.phase).toBe('Running');
    expect(after.status.containerStatuses[0]).toMatchObject({ containerID: goodId, restartCount: 0 });
    // The agent is still the one that started: no crash.
    expect(await lab.agentAlive('worker-1')).toBe(true);
    await kubectl(lab, ['delete', 'pod', 'good', 'bad-image', 'bad-never', 'bad-env', 'bad-secret', 'bad-volume', 'bad-hostpath', '--wait=false']);
  }, 150_000);

  it('10 running pods survive kill -9 of the agent: same containers, same restart counts', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `steady-${i}`);
    await apply(lab, ...names.map((n) => podManifest(n, 'worker-1', { containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'] }] })));
    const before = await eventually('10 pods Running', 90_000, async () => {
      const list = await kubectlJson(lab, ['get', 'pods', '-l', '!none']);
      const running = list.items.filter((p: any) => names.includes(p.metadata.name) && p.status.phase === 'Running' && condition(p, 'Ready')?.status === 'True');
      return running.length === 10 ? running : undefined;
    });
    const ids = Object.fromEntries(before.map((p: any) => [p.metadata.name, p.status.containerStatuses[0].containerID]));
    await lab.stopAgent('worker-1', 'SIGKILL');
    await new Promise((r) => setTimeout(r, 2000));
    await lab.startAgent('worker-1');
    const restartedAt = Date.now();
    // The restarted agent adopts them; nothing is restarted, and statuses stay right.
    await new Promise((r) => setTimeout(r, 5000));
    const list = await kubectlJson(lab, ['get', 'pods']);
    for (const name of names) {
      const p = list.items.find((x: any) => x.metadata.name === name);
      expect(p.status.phase).toBe('Running');
      expect(p.status.containerStatuses[0]).toMatchObject({ containerID: ids[name], restartCount: 0, ready: true });
    }
    expect(Date.now() - restartedAt).toBeLessThan(15_000);
    const running = await cli().containers({});
    for (const id of Object.values(ids)) expect(running).toContain(idOf(String(id)));
    // A container that dies behind the agent's back is noticed by the relist and restarted.
    await cli().kill(idOf(String(ids['steady-0'])));
    const restarted = await eventually('steady-0 restarted after a kill behind the agent\'s back', 20_000, async () => {
      const p = await getPod(lab, 'steady-0');
      return p.status.containerStatuses[0].restartCount === 1 && p.status.containerStatuses[0].state.running ? p : undefined;
    });
    expect(restarted.status.containerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 137 });
    await kubectl(lab, ['delete', 'pod', ...names, '--wait=false']);
  }, 150_000);

  it('a pod reaches the apiserver with its projected service account token', async () => {
    // Pod networking arrives later; a host-network pod reaches the control plane over the lab's bridge.
    await kubectl(lab, ['create', 'rolebinding', 'default-view', '--clusterrole=view', '--serviceaccount=default:default']);
    const url = `${lab.topology.apiserverURL}/api/v1/namespaces/default/configmaps`;
    await apply(lab, podManifest('sa-client', 'worker-1', {
      hostNetwork: true,
      restartPolicy: 'Never',
      containers: [{
        name: 'c', image: busybox,
        command: ['sh', '-c', `cd /var/run/secrets/kubernetes.io/serviceaccount && cat namespace && echo && test -s ca.crt && echo ca-ok && wget -q -O- --no-check-certificate --header "Authorization: Bearer $(cat token)" ${url}`],
      }],
    }));
    const pod = await eventually('sa-client Succeeded', 60_000, async () => {
      const p = await getPod(lab, 'sa-client');
      return p.status.phase === 'Succeeded' || p.status.phase === 'Failed' ? p : undefined;
    });
    const out = (await cli().logs(idOf(pod.status.containerStatuses[0].containerID))).split('\n');
    expect(out[0]).toBe('default');
    expect(out[1]).toBe('ca-ok');
    expect(JSON.parse(out.slice(2).join('\n')).kind).toBe('ConfigMapList');
    expect(pod.status.phase).toBe('Succeeded');
    await kubectl(lab, ['delete', 'pod', 'sa-client', '--wait=false']);
  }, 90_000);

  it('runs static pods from a manifest directory with no apiserver at all', async () => {
    const dir = join(hostDir, 'standalone');
    await mkdir(join(dir, 'manifests'), { recursive: true });
    // Host network: a standalone agent with --network none has no pod network to give (and
    // containerd's CRI refuses a pod-network sandbox without one).
    await writeFile(join(dir, 'manifests', 'static-web.yaml'), [
      'apiVersion: v1', 'kind: Pod', 'metadata: {name: static-web}',
      'spec:', '  hostNetwork: true', '  containers:', `  - {name: web, image: "${busybox}", command: [sh, -c, "echo static > /tmp/ok; exec sleep 3600"]}`,
    ].join('\n'));
    const node = `standalone${process.pid % 10000}`;
    const root = join(dir, 'root');
    // The same runtime the lab's worker uses (the machine's dockerd, or worker-1's containerd).
    const endpoint = runtime === 'containerd' ? ['--runtime', 'containerd', '--runtime-endpoint', `unix://${lab.containerdSocket('worker-1')}`] : ['--runtime', 'docker'];
    const agent = execa(join(repo, 'bin/node-agent'), ['run', '--standalone', '--network', 'none', ...endpoint, '--node-name', node, '--node-ip', '127.0.0.1', '--root-dir', root, '--healthz-port', '0',
      '--pod-manifest-path', join(dir, 'manifests'), '--pod-logs-dir', join(dir, 'logs'), '--container-logs-dir', join(dir, 'containers')], { reject: false });
    const theirs = runtimeCli(lab, 'worker-1', { node, root });
    try {
      const id = await eventually('the static pod container running', 40_000, async () => (await theirs.containers({ 'io.kubernetes.container.name': 'web' }))[0]);
      expect((await theirs.exec(id, ['cat', '/tmp/ok'])).stdout).toBe('static');
      expect((await theirs.labels(id))['io.kubernetes.pod.name']).toBe(`static-web-${node}`);
      // The lab's own agent on the same runtime leaves another agent's pod alone.
      expect(await cli().containers({ 'io.kubernetes.container.name': 'web' })).toEqual([]);
    } finally {
      agent.kill('SIGTERM');
      await agent;
      // The agent leaves pods running when it stops (as kubelet does): clean them up here.
      await theirs.removeAll();
    }
  }, 60_000);
});
