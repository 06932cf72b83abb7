import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Lab } from '../../src/lab/lab.ts';
import { apply, createTestLab, eventsOf, eventually, getPod, kubectl, kubectlJson, labLeftovers, podManifest, condition } from '../helpers/test-lab.ts';
import { logFileLines, runtimeCli, testRuntimes } from '../helpers/node-runtime.ts';

// Pods run for real: the lab's control plane schedules them, the agents run them on Docker and on
// containerd (the same tests for each) and report their status; everything is read back with
// kubectl, as a user would, and with the runtime's own CLI where kubectl cannot look yet.
const busybox = 'localhost/busybox:1';

for (const runtime of testRuntimes) describe(`pods on ${runtime}`, () => {
  let lab: Lab;
  const cli = (node: string) => runtimeCli(lab, node);

  beforeAll(async () => {
    const created = await createTestLab({ workers: 2, runtime });
    lab = created.lab;
    await lab.up(created.binDir);
    await eventually('both nodes Ready', 60_000, async () => {
      const list = await kubectlJson(lab, ['get', 'nodes']);
      return list.items.filter((n: any) => condition(n, 'Ready')?.status === 'True').length === 2;
    });
    await eventually('the default service account', 30_000, async () => (await kubectl(lab, ['get', 'serviceaccount', 'default'], { reject: false })).exitCode === 0);
  });

  afterAll(async () => {
    const uids = lab ? (await kubectlJson(lab, ['get', 'pods', '-A'])).items.map((p: any) => p.metadata.uid as string) : [];
    await lab?.down();
    // Down takes the pods the agents left running, their runtimes, cgroups and mounts with it.
    if (lab) expect(await labLeftovers(lab, uids)).toEqual([]);
  });

  it('a two-container pod shares localhost and reports every status field', async () => {
    await apply(lab, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        terminationGracePeriodSeconds: 5,
        containers: [
          { name: 'server', image: busybox, command: ['sh', '-c', 'mkdir -p /www && echo hello-from-server > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www'], resources: { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '200m', memory: '64Mi' } } },
          { name: 'client', image: busybox, command: ['sh', '-c', 'while true; do wget -qO- http://127.0.0.1:8080/ > /tmp/got 2>&1; sleep 1; done'] },
        ],
      },
    });
    const pod = await eventually('web Running and Ready', 60_000, async () => {
      const p = await getPod(lab, 'web');
      return p.status.phase === 'Running' && condition(p, 'Ready')?.status === 'True' ? p : undefined;
    });
    const worker = lab.worker(pod.spec.nodeName);
    expect(pod.status).toMatchObject({ hostIP: worker.ip, hostIPs: [{ ip: worker.ip }], qosClass: 'Burstable' });
    expect(Date.parse(pod.status.startTime)).toBeGreaterThan(0);
    expect(pod.status.conditions.map((c: any) => `${c.type}=${c.status}`).sort()).toEqual(
      ['ContainersReady=True', 'Initialized=True', 'PodReadyToStartContainers=True', 'PodScheduled=True', 'Ready=True'],
    );
    for (const c of pod.status.containerStatuses) {
      expect(c).toMatchObject({ ready: true, started: true, restartCount: 0, image: busybox, lastState: {} });
      expect(c.containerID).toMatch(new RegExp(`^${runtime}://[0-9a-f]{64}$`));
      // Docker names the image by its id; containerd by its digest (the config digest for a local import).
      expect(c.imageID).toMatch(runtime === 'docker' ? /^docker(-pullable)?:\/\/.+/ : /^(sha256:[0-9a-f]{64}|.+@sha256:[0-9a-f]{64})$/);
      expect(Date.parse(c.state.running.startedAt)).toBeGreaterThan(0);
    }
    // The client reached the server over the pod's shared localhost.
    const client = pod.status.containerStatuses.find((c: any) => c.name === 'client').containerID.replace(`${runtime}://`, '');
    const got = await eventually('the client to fetch the page', 20_000, async () => {
      const r = await cli(pod.spec.nodeName).exec(client, ['cat', '/tmp/got'], { reject: false });
      return r.stdout.includes('hello-from-server') ? r.stdout : undefined;
    });
    expect(got.trim()).toBe('hello-from-server');
    const events = await eventsOf(lab, 'web');
    for (const reason of ['Scheduled', 'Pulled', 'Created', 'Started']) expect(events.some((e) => e.startsWith(`${reason}:`)), events.join('\n')).toBe(true);
  }, 90_000);

  it('restart policies give the right phase, exit codes and restart counts', async () => {
    const node = 'worker-1';
    const exit = (code: number) => [{ name: 'c', image: busybox, command: ['sh', '-c', `sleep 1; exit ${code}`] }];
    await apply(
      lab,
      podManifest('never-ok', node, { restartPolicy: 'Never', containers: exit(0) }),
      podManifest('never-fail', node, { restartPolicy: 'Never', containers: exit(3) }),
      podManifest('onfailure-fail', node, { restartPolicy: 'OnFailure', containers: exit(4) }),
      podManifest('onfailure-ok', node, { restartPolicy: 'OnFailure', containers: exit(0) }),
      podManifest('always-ok', node, { restartPolicy: 'Always', containers: exit(0) }),
    );
    const neverOk = await eventually('never-ok Succeeded', 40_000, async () => ((await getPod(lab, 'never-ok')).status.phase === 'Succeeded' ? getPod(lab, 'never-ok') : undefined));
    expect(neverOk.status.containerStatuses[0]).toMatchObject({ restartCount: 0, ready: false, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    const neverFail = await eventually('never-fail Failed', 40_000, async () => ((await getPod(lab, 'never-fail')).status.phase === 'Failed' ? getPod(lab, 'never-fail') : undefined));
    expect(neverFail.status.containerStatuses[0]).toMatchObject({ restartCount: 0, state: { terminated: { exitCode: 3, reason: 'Error' } } });
    const onFailureOk = await eventually('onfailure-ok Succeeded', 40_000, async () => ((await getPod(lab, 'onfailure-ok')).status.phase === 'Succeeded' ? getPod(lab, 'onfailure-ok') : undefined));
    expect(onFailureOk.status.containerStatuses[0].restartCount).toBe(0);
    const onFailure = await eventually('onfailure-fail restarted', 60_000, async () => {
      const p = await getPod(lab, 'onfailure-fail');
      return p.status.containerStatuses?.[0]?.restartCount >= 1 ? p : undefined;
    });
    expect(onFailure.status.phase).toBe('Running');
    expect(onFailure.status.containerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 4, reason: 'Error' });
    const always = await eventually('always-ok restarted after a clean exit', 60_000, async () => {
      const p = await getPod(lab, 'always-ok');
      return p.status.containerStatuses?.[0]?.restartCount >= 1 ? p : undefined;
    });
    expect(always.status.phase).toBe('Running');
    expect(always.status.containerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    await kubectl(lab, ['delete', 'pod', 'never-ok', 'never-fail', 'onfailure-fail', 'onfailure-ok', 'always-ok', '--wait=false']);
  }, 120_000);

  it('OOMKilled, securityContext, downward API env, and the container log in the pod log directory', async () => {
    const node = 'worker-1';
    await apply(lab,
      podManifest('hog', node, { restartPolicy: 'Never', containers: [{ name: 'c', image: busybox, resources: { limits: { memory: '16Mi' } }, command: ['sh', '-c', 'x=$(head -c 60000000 /dev/zero | tr "\\0" a); echo ${#x}'] }] }),
      podManifest('identity', node, {
        restartPolicy: 'Never',
        securityContext: { runAsUser: 1000, runAsGroup: 3000 },
        containers: [{
          name: 'c', image: busybox, command: ['sh', '-c', 'echo "$(id -u):$(id -g):$POD_NAME:$HOST_IP:$MEM"; touch /ro 2>/dev/null || echo read-only'],
          securityContext: { readOnlyRootFilesystem: true },
          resources: { limits: { memory: '32Mi' } },
          env: [
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          ],
        }],
      }),
    );
    const hog = await eventually('hog Failed', 60_000, async () => {
      const p = await getPod(lab, 'hog');
      return p.status.phase === 'Failed' ? p : undefined;
    });
    expect(hog.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
    const identity = await eventually('identity Succeeded', 60_000, async () => {
      const p = await getPod(lab, 'identity');
      return p.status.phase === 'Succeeded' ? p : undefined;
    });
    const worker = lab.worker(node);
    const logDir = join(worker.dir, 'pod-logs', `default_identity_${identity.metadata.uid}`);
    const text = await readFile(join(logDir, 'c', '0.log'), 'utf8');
    const lines = logFileLines(text).map((l) => l.trim());
    expect(lines).toEqual([`1000:3000:identity:${worker.ip}:32`, 'read-only']);
    // The kubelet's link for log shippers: /var/log/containers/<pod>_<namespace>_<container>-<id>.log.
    const containerId = String(identity.status.containerStatuses[0].containerID).replace(/^\w+:\/\//, '');
    const link = join(lab.agentPaths(worker).containerLogs, `identity_default_c-${containerId}.log`);
    expect(await readFile(link, 'utf8')).toBe(text);
    await kubectl(lab, ['delete', 'pod', 'hog', 'identity', '--wait=false']);
    await eventually('the log link gone with the pod', 60_000, async () => !(await readlink(link).then(() => true, () => false)));
  }, 150_000);

  it('the subPath attack: an init container links / into an emptyDir; a container mounting that subPath gets CreateContainerConfigError and nothing of the host', async () => {
    const node = 'worker-1';
    const marker = `/tmp/na-subpath-pwned-${process.pid}-${runtime}`;
    await rm(marker, { force: true });
    const data = [{ name: 'data', mountPath: '/data' }];
    await apply(lab, podManifest('subpath-escape', node, {
      volumes: [{ name: 'data', emptyDir: {} }],
      initContainers: [{ name: 'plant', image: busybox, command: ['sh', '-c', 'ln -s / /data/x && mkdir /data/ok && echo in-volume > /data/ok/f'], volumeMounts: data }],
      containers: [
        // Listed first: its failure must not hold up its sibling.
        { name: 'evil', image: busybox, command: ['sh', '-c', `touch /host${marker}; sleep 3600`], volumeMounts: [{ name: 'data', mountPath: '/host', subPath: 'x' }] },
        { name: 'fine', image: busybox, command: ['sh', '-c', 'cat /d/f; sleep 3600'], volumeMounts: [{ name: 'data', mountPath: '/d', subPath: 'ok' }] },
      ],
    }));
    const pod = await eventually('evil refused, fine running', 60_000, async () => {
      const p = await getPod(lab, 'subpath-escape');
      const status = (name: string) => p.status?.containerStatuses?.find((c: any) => c.name === name);
      return status('evil')?.state?.waiting?.reason === 'CreateContainerConfigError' && status('fine')?.state?.running ? p : undefined;
    });
    const evil = pod.status.containerStatuses.find((c: any) => c.name === 'evil');
    expect(evil.state.waiting.message).toMatch(/^failed to prepare subPath for volumeMount "data" of container "evil": subPath "x" resolves to \/, outside the volume$/);
    const events = await eventsOf(lab, 'subpath-escape');
    expect(events.some((e) => e.startsWith('Failed: Error: failed to prepare subPath for volumeMount "data" of container "evil"')), events.join('\n')).toBe(true);
    await expect(readFile(marker)).rejects.toMatchObject({ code: 'ENOENT' });
    // The container that used a subPath inside the volume read it through the agent's bind.
    const worker = lab.worker(node);
    const log = await readFile(join(worker.dir, 'pod-logs', `default_subpath-escape_${pod.metadata.uid}`, 'fine', '0.log'), 'utf8');
    expect(logFileLines(log).map((l) => l.trim())).toEqual(['in-volume']);
    await kubectl(lab, ['delete', 'pod', 'subpath-escape', '--wait=false']);
  }, 90_000);

  it('a pod\'s service-account token: its non-root container reads it, a non-root user of the host cannot', async () => {
    const node = 'worker-1';
    await apply(lab, podManifest('token-reader', node, {
      securityContext: { runAsUser: 65534, runAsGroup: 65534 },
      containers: [{ name: 'c', image: busybox, command: ['sh', '-c', 'wc -c < /var/run/secrets/kubernetes.io/serviceaccount/token; sleep 3600'] }],
    }));
    const pod = await eventually('token-reader Running', 60_000, async () => {
      const p = await getPod(lab, 'token-reader');
      return p.status?.phase === 'Running' ? p : undefined;
    });
    const worker = lab.worker(node);
    const access = pod.spec.volumes.find((v: any) => v.name.startsWith('kube-api-access-')).name;
    const token = join(worker.dir, 'root', 'pods', pod.metadata.uid, 'volumes', 'kubernetes.io~projected', access, 'token');
    expect((await readFile(token, 'utf8')).split('.')).toHaveLength(3); // a JWT, readable by root
    const log = join(worker.dir, 'pod-logs', `default_token-reader_${pod.metadata.uid}`, 'c', '0.log');
    const length = await eventually('the container printed the token\'s length', 20_000, async () => logFileLines(await readFile(log, 'utf8').catch(() => '')).map((l) => Number(l.trim()))[0]);
    expect(length).toBeGreaterThan(100);
    // The host user is kept out by the agent's directories, not by the lab's: nobody reaches the worker's directory.
    expect((await execa('runuser', ['-u', 'nobody', '--', 'ls', worker.dir], { reject: false })).exitCode).toBe(0);
    const attempt = await execa('runuser', ['-u', 'nobody', '--', 'cat', token], { reject: false });
    expect(attempt.exitCode).not.toBe(0);
    expect(attempt.stderr).toMatch(/Permission denied/);
    await kubectl(lab, ['delete', 'pod', 'token-reader', '--wait=false']);
  }, 90_000);

  it('security context: runAsNonRoot with a root image fails with CreateContainerConfigError; no_new_privs, seccomp, capabilities, read-only root and hostPID take effect', async () => {
    const node = 'worker-1';
    const show = "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status | tr -d '\\t'; (touch /rootfs-probe 2>/dev/null && echo rootfs=writable) || echo rootfs=readonly; echo pid1=$(cat /proc/1/comm); sleep 3600";
    await apply(lab, podManifest('secctx', node, {
      hostPID: true,
      containers: [
        // busybox names no user: it runs as root, which runAsNonRoot refuses before creating anything.
        { name: 'nonroot', image: busybox, command: ['sleep', '3600'], securityContext: { runAsNonRoot: true } },
        {
          name: 'locked', image: busybox, command: ['sh', '-c', show],
          securityContext: { allowPrivilegeEscalation: false, seccompProfile: { type: 'RuntimeDefault' }, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
        },
        { name: 'plain', image: busybox, command: ['sh', '-c', show] },
      ],
    }));
    const pod = await eventually('nonroot refused, the others running', 60_000, async () => {
      const p = await getPod(lab, 'secctx');
      const status = (name: string) => p.status?.containerStatuses?.find((c: any) => c.name === name);
      return status('nonroot')?.state?.waiting?.reason === 'CreateContainerConfigError' && status('locked')?.state?.running && status('plain')?.state?.running ? p : undefined;
    });
    const nonroot = pod.status.containerStatuses.find((c: any) => c.name === 'nonroot');
    expect(nonroot.state.waiting.message).toBe(`container has runAsNonRoot and image will run as root (pod: "secctx_default(${pod.metadata.uid})", container: nonroot)`);
    const events = await eventsOf(lab, 'secctx');
    expect(events.some((e) => e.startsWith('Failed: Error: container has runAsNonRoot and image will run as root')), events.join('\n')).toBe(true);
    expect(await cli(node).containers({ 'io.kubernetes.pod.name': 'secctx', 'io.kubernetes.container.name': 'nonroot' })).toEqual([]);
    const worker = lab.worker(node);
    const output = async (name: string) => eventually(`${name} printed its security state`, 20_000, async () => {
      const lines = logFileLines(await readFile(join(worker.dir, 'pod-logs', `default_secctx_${pod.metadata.uid}`, name, '0.log'), 'utf8').catch(() => '')).map((l) => l.trim());
      return lines.length >= 5 ? lines : undefined;
    });
    const hostInit = (await readFile('/proc/1/comm', 'utf8')).trim();
    // /proc/self/status order: CapEff, NoNewPrivs, Seccomp.
    expect(await output('locked')).toEqual(['CapEff:0000000000000000', 'NoNewPrivs:1', 'Seccomp:2', 'rootfs=readonly', `pid1=${hostInit}`]);
    // Unset seccomp is Unconfined (kubelet's default), and nothing else is taken away either.
    const plain = await output('plain');
    expect(plain[0]).not.toBe('CapEff:0000000000000000');
    expect(plain.slice(1, 3)).toEqual(['NoNewPrivs:0', 'Seccomp:0']);
    expect(plain.slice(3)).toEqual(['rootfs=writable', `pid1=${hostInit}`]);
    await kubectl(lab, ['delete', 'pod', 'secctx', '--wait=false']);
  }, 90_000);

  it('admission: a pod asking for 1000 CPUs is OutOfcpu and one over maxPods is OutOfpods, both phase Failed with an event; the pods before them run', async () => {
    const node = 'worker-2';
    const worker = lab.worker(node);
    const sleeper = { containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'] }], terminationGracePeriodSeconds: 1 };
    await apply(lab, podManifest('hungry', node, { containers: [{ name: 'c', image: busybox, command: ['sleep', '3600'], resources: { requests: { cpu: '1000' } } }] }));
    const rejected = async (name: string) => eventually(`${name} rejected`, 30_000, async () => {
      const p = await getPod(lab, name);
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    const hungry = await rejected('hungry');
    expect(hungry.status.reason).toBe('OutOfcpu');
    expect(hungry.status.message).toMatch(/^Pod was rejected: Node didn't have enough resource: cpu, requested: 1000000, used: \d+, capacity: \d+$/);
    expect((await eventsOf(lab, 'hungry')).some((e) => e.startsWith("OutOfcpu: Node didn't have enough resource: cpu"))).toBe(true);
    expect(await cli(node).containers({ 'io.kubernetes.pod.name': 'hungry' })).toEqual([]);

    // maxPods one above what runs there now: the next pod fits, the one after is OutOfpods.
    const list = await kubectlJson(lab, ['get', 'pods', '-A', '--field-selector', `spec.nodeName=${node}`]);
    const active = list.items.filter((p: any) => p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded').length;
    await lab.stopAgent(node, 'SIGTERM');
    await lab.prepareWorker(worker, { maxPods: active + 1 });
    await lab.startAgent(node);
    try {
      await apply(lab, podManifest('fits', node, sleeper));
      await eventually('fits Running', 60_000, async () => (await getPod(lab, 'fits')).status?.phase === 'Running');
      await apply(lab, podManifest('one-too-many', node, sleeper));
      const over = await rejected('one-too-many');
      expect(over.status.reason).toBe('OutOfpods');
      expect(over.status.message).toBe(`Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: ${active + 1}, capacity: ${active + 1}`);
      // The pods admitted before are untouched by the restart and the refusal.
      expect((await getPod(lab, 'fits')).status.phase).toBe('Running');
    } finally {
      await lab.stopAgent(node, 'SIGTERM');
      await lab.prepareWorker(worker);
      await lab.startAgent(node);
      await kubectl(lab, ['delete', 'pod', 'hungry', 'fits', 'one-too-many', '--wait=false', '--ignore-not-found']);
    }
  }, 150_000);

  it('runs a static pod from the worker\'s manifest directory and mirrors it to the apiserver', async () => {
    const worker = lab.worker('worker-2');
    await mkdir(join(worker.dir, 'manifests'), { recursive: true });
    // Beside it, a manifest whose emptyDir name climbs out of the pod directory to /etc and one to a marker in /tmp:
    // refused with the apiserver's words, and nothing of either is made. The good manifest still runs.
    const etcBefore = await stat('/etc');
    const marker = `/tmp/na-static-escape-${process.pid}-${runtime}`;
    const climb = (to: string) => `${'../'.repeat(12)}${to.slice(1)}`;
    await writeFile(join(worker.dir, 'manifests', 'evil.yaml'), `apiVersion: v1\nkind: Pod\nmetadata: {name: evil}\nspec:\n  volumes: [{name: "${climb('/etc')}", emptyDir: {}}, {name: "${climb(marker)}", emptyDir: {}}]\n  containers: [{name: c, image: "${busybox}", command: [sleep, "3600"]}]\n`);
    await writeFile(join(worker.dir, 'manifests', 'static-web.yaml'), `apiVersion: v1\nkind: Pod\nmetadata: {name: static-web, labels: {tier: static}}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers: [{name: web, image: "${busybox}", command: [sleep, "3600"]}]\n`);
    const mirror = await eventually('the mirror pod Running', 60_000, async () => {
      const r = await kubectl(lab, ['get', 'pod', 'static-web-worker-2', '-o', 'json'], { reject: false });
      const p = r.exitCode === 0 ? JSON.parse(r.stdout) : undefined;
      return p?.status?.phase === 'Running' ? p : undefined;
    });
    expect(mirror.metadata.annotations['kubernetes.io/config.mirror']).toMatch(/^[0-9a-f]{32}$/);
    expect(mirror.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Node', name: 'worker-2' })]);
    expect(mirror.spec.nodeName).toBe('worker-2');
    expect(mirror.status.containerStatuses[0]).toMatchObject({ name: 'web', ready: true, restartCount: 0 });
    const agentLog = await readFile(join(worker.dir, 'agent.log'), 'utf8');
    expect(agentLog).toMatch(/static pod manifest skipped: [^"]*evil\.yaml: invalid pod: spec\.volumes\[0\]\.name: Invalid value: \\?"(\.\.\/)+etc\\?": a lowercase RFC 1123 label/);
    await expect(stat(marker)).rejects.toMatchObject({ code: 'ENOENT' });
    const etcAfter = await stat('/etc');
    expect([etcAfter.mode, etcAfter.mtimeMs, etcAfter.ctimeMs]).toEqual([etcBefore.mode, etcBefore.mtimeMs, etcBefore.ctimeMs]);
    expect((await kubectl(lab, ['get', 'pod', 'evil-worker-2'], { reject: false })).exitCode).not.toBe(0);
    await rm(join(worker.dir, 'manifests', 'evil.yaml'));
    // Removing the manifest removes the pod and its mirror.
    await rm(join(worker.dir, 'manifests', 'static-web.yaml'));
    await eventually('the static pod and its mirror gone', 40_000, async () => {
      const left = await cli('worker-2').containers({ 'io.kubernetes.pod.name': 'static-web-worker-2' });
      const m = await kubectl(lab, ['get', 'pod', 'static-web-worker-2'], { reject: false });
      return left.length === 0 && m.exitCode !== 0;
    });
  }, 90_000);

  it('CrashLoopBackOff waits 10 s, 20 s, 40 s between restarts, with BackOff events', async () => {
    await apply(lab, podManifest('crasher', 'worker-2', { containers: [{ name: 'c', image: busybox, command: ['sh', '-c', 'exit 1'] }] }));
    // Each attempt's start and finish, read from the container status: while a container runs
    // (or has just exited) `state` is attempt restartCount and `lastState` the one before; while it
    // waits out its backoff, `lastState` is attempt restartCount.
    const runs = new Map<number, { startedAt: number; finishedAt: number }>();
    const record = (attempt: number, state: any): void => {
      const t = state?.terminated;
      if (t?.startedAt && t?.finishedAt && attempt >= 0) runs.set(attempt, { startedAt: Date.parse(t.startedAt), finishedAt: Date.parse(t.finishedAt) });
    };
    const startOf = new Map<number, number>();
    await eventually('attempt 4 to start', 120_000, async () => {
      const c = (await getPod(lab, 'crasher')).status.containerStatuses?.[0];
      if (!c) return false;
      const n = c.restartCount as number;
      if (c.state.waiting) record(n, c.lastState);
      else {
        record(n, c.state);
        record(n - 1, c.lastState);
        const started = c.state.running?.startedAt ?? c.state.terminated?.startedAt;
        if (started) startOf.set(n, Date.parse(started));
      }
      for (const [a, r] of runs) startOf.set(a, r.startedAt);
      return startOf.has(4) && runs.has(1) && runs.has(2) && runs.has(3);
    }, 200);
    const gaps = [1, 2, 3].map((a) => (startOf.get(a + 1)! - runs.get(a)!.finishedAt) / 1000);
    // After the first failure kubelet restarts at once, then backs off 10 s, 20 s, 40 s. Pod status
    // times have whole seconds, so each gap is known to ±1 s; the agent's own reaction adds a little.
    expect(Math.abs(gaps[0]! - 10), `gaps ${gaps.join(', ')}`).toBeLessThanOrEqual(1.5);
    expect(Math.abs(gaps[1]! - 20), `gaps ${gaps.join(', ')}`).toBeLessThanOrEqual(1.5);
    expect(Math.abs(gaps[2]! - 40), `gaps ${gaps.join(', ')}`).toBeLessThanOrEqual(1.5);
    const pod = await getPod(lab, 'crasher');
    const waiting = pod.status.containerStatuses[0].state.waiting;
    if (waiting) expect(waiting.reason).toBe('CrashLoopBackOff');
    const events = await eventsOf(lab, 'crasher');
    expect(events.some((e) => e.startsWith('BackOff: Back-off restarting failed container c'))).toBe(true);
    await kubectl(lab, ['delete', 'pod', 'crasher', '--wait=false']);
  }, 180_000);
});
