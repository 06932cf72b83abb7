import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ErrorCode, isAgentError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { buildContainerConfig } from '../../src/pods/container-config.ts';
import { CriRuntime } from '../../src/runtime/cri/cri-runtime.ts';
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.ts';
import { maxExecOutputBytes, type Runtime, type SandboxConfig } from '../../src/runtime/types.ts';
import { FakeRuntime } from '../fakes/fake-runtime.ts';
import { testRuntimes } from '../helpers/node-runtime.ts';
import { startRegistry, type TestRegistry } from '../helpers/registry.ts';

// One contract for every backend of the runtime seam: what the pod syncer relies on, checked
// against the machine's real dockerd and containerd (CRI) alike, and against the fake runtime the
// unit tests use, so that the fake cannot drift from what the real ones do. Sandboxes use the
// host network here: the pod network has its own tests, and containerd's CRI would need the
// node's CNI configuration for anything else.

const busybox = 'localhost/busybox:1';
const run = randomBytes(3).toString('hex');

// One registry on loopback for the real runtimes' pulls, with an image of the test's own in it
// (removing it must not take the shared local images, which runtimes remove by id).
let registry: TestRegistry | undefined;
let pullable = '';
beforeAll(async () => {
  if (testRuntimes.length === 0) return;
  registry = await startRegistry();
  pullable = await registry.pushDistinct(busybox, `contract/pullable:${run}`, run);
}, 60_000);
afterAll(async () => {
  await registry?.stop();
});

interface Backend {
  name: string;
  real: boolean;
  make: (node: string, root: string) => Runtime;
}

const backends: Backend[] = [
  { name: 'fake', real: false, make: () => new FakeRuntime() },
  ...(testRuntimes.includes('docker') ? [{ name: 'docker', real: true, make: (node: string, root: string) => new DockerRuntime({ endpoint: 'unix:///var/run/docker.sock', timeoutMs: 60_000, nodeName: node, rootDir: root }) }] : []),
  ...(testRuntimes.includes('containerd')
    ? [{ name: 'containerd', real: true, make: (node: string, root: string) => new CriRuntime({ endpoint: 'unix:///run/containerd/containerd.sock', timeoutMs: 60_000, nodeName: node, rootDir: root, log: silentLogger() }) }]
    : []),
];

for (const backend of backends) {
  describe(`runtime contract: ${backend.name}`, () => {
    let dir = '';
    let runtime: Runtime;
    let other: Runtime;
    const made: string[] = [];
    let n = 0;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `na-contract-${backend.name}-`));
      runtime = backend.make(`contract-${run}`, join(dir, 'root'));
      // Another agent on the same runtime: a different node name.
      other = backend.make(`contract-other-${run}`, join(dir, 'root'));
    });

    afterAll(async () => {
      for (const id of made) await runtime.removeSandbox(id).catch(() => undefined);
      await runtime?.close();
      await other?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    function sandboxConfig(extra: Partial<SandboxConfig> = {}): SandboxConfig {
      const i = n++;
      const pod = { name: `contract-${i}`, namespace: 'default', uid: `uid-${run}-${backend.name}-${i}`, attempt: 0 };
      return {
        pod, hostname: pod.name, hostNetwork: true, shareProcessNamespace: false,
        labels: { 'io.kubernetes.pod.uid': pod.uid, app: 'contract' }, annotations: { note: 'kept' },
        logDirectory: join(dir, 'logs', pod.uid), portMappings: [], cgroupParent: '', security: { privileged: false, hostPID: false, hostIPC: false, sysctls: {} }, ...extra,
      };
    }

    async function sandbox(extra: Partial<SandboxConfig> = {}): Promise<{ id: string; config: SandboxConfig }> {
      const config = sandboxConfig(extra);
      const id = await runtime.runSandbox(config);
      made.push(id);
      return { id, config };
    }

    async function container(sb: { id: string; config: SandboxConfig }, command: string[], extra: { name?: string; attempt?: number; limits?: Record<string, string>; user?: number } = {}): Promise<string> {
      const name = extra.name ?? 'c';
      const spec = { name, image: busybox, command, ...(extra.limits ? { resources: { limits: extra.limits } } : {}), ...(extra.user !== undefined ? { securityContext: { runAsUser: extra.user } } : {}) };
      const pod = { metadata: { name: sb.config.pod.name, namespace: 'default', uid: sb.config.pod.uid }, spec: { containers: [spec] } };
      return runtime.createContainer(sb.id, buildContainerConfig(pod, spec, extra.attempt ?? 0, [{ name: 'GREETING', value: 'hi' }], [], sb.config), sb.config);
    }

    async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
      const end = Date.now() + ms;
      for (;;) {
        const v = await check();
        if (v !== undefined) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    it('answers version and status: RuntimeReady', async () => {
      const v = await runtime.version();
      expect(v.runtimeApiVersion).toBe('v1');
      if (backend.real) expect(v.runtimeName).toBe(backend.name);
      const ready = (await runtime.status()).find((c) => c.type === 'RuntimeReady');
      expect(ready?.status).toBe(true);
    });

    it('names its image filesystem: a directory that exists (imagefs.available is measured there)', async () => {
      const path = await runtime.imageFilesystem();
      expect((await stat(path)).isDirectory()).toBe(true);
      expect((await statfs(path)).blocks).toBeGreaterThan(0);
      if (backend.real) expect(path).toContain(backend.name === 'docker' ? 'docker' : 'containerd');
    });

    it('a sandbox keeps its pod, labels and annotations, is listed by label, and is invisible to another agent', async () => {
      const sb = await sandbox();
      const status = await runtime.sandboxStatus(sb.id);
      expect(status).toMatchObject({ id: sb.id, state: 'ready', pod: sb.config.pod });
      expect(status.labels).toMatchObject({ app: 'contract' });
      expect(status.annotations).toMatchObject({ note: 'kept' });
      expect(status.createdAt.getTime()).toBeGreaterThan(Date.now() - 120_000);
      const listed = await runtime.listSandboxes({ labels: { 'io.kubernetes.pod.uid': sb.config.pod.uid } });
      expect(listed.map((s) => s.id)).toEqual([sb.id]);
      if (backend.real) {
        expect(await other.listSandboxes({ labels: { 'io.kubernetes.pod.uid': sb.config.pod.uid } })).toEqual([]);
        await expect(other.sandboxStatus(sb.id)).rejects.toSatisfy((e) => isAgentError(e, ErrorCode.RuntimeNotFound));
      }
    });

    it('a container goes created -> running -> exited with its exit code, reason and times', async () => {
      const sb = await sandbox();
      const id = await container(sb, ['sh', '-c', 'echo out; echo err >&2; sleep 1; exit 3']);
      const created = await runtime.containerStatus(id);
      expect(created).toMatchObject({ id, sandboxId: sb.id, name: 'c', attempt: 0, state: 'created', image: busybox });
      await runtime.startContainer(id);
      if (backend.name === 'fake') (runtime as FakeRuntime).exit(id, 3);
      const exited = await until('the container to exit', async () => {
        const s = await runtime.containerStatus(id);
        return s.state === 'exited' ? s : undefined;
      });
      expect(exited).toMatchObject({ exitCode: 3, reason: 'Error' });
      expect(exited.startedAt).toBeInstanceOf(Date);
      expect(exited.finishedAt!.getTime()).toBeGreaterThanOrEqual(exited.startedAt!.getTime());
      expect(exited.imageRef).not.toBe('');
      // Both streams, each in order. Across the two streams no order is promised: containerd reads
      // the stdout and stderr pipes concurrently and logs whichever it reads first (seen here).
      if (backend.real) expect((await runtime.logs(id)).split('\n').filter(Boolean).sort()).toEqual(['err', 'out']);
    });

    it('lists containers by sandbox and label, and summarises sandboxes and containers in one call', async () => {
      const sb = await sandbox();
      const a = await container(sb, ['sleep', '60'], { name: 'a' });
      const b = await container(sb, ['sleep', '60'], { name: 'b', attempt: 2 });
      await runtime.startContainer(a);
      const list = await runtime.listContainers({ sandboxId: sb.id });
      expect(list.map((c) => `${c.name}/${c.attempt}/${c.state}`).sort()).toEqual(['a/0/running', 'b/2/created']);
      const byUid = await runtime.listContainers({ labels: { 'io.kubernetes.pod.uid': sb.config.pod.uid } });
      expect(byUid).toHaveLength(2);
      const summaries = (await runtime.listSummaries()).filter((o) => o.labels['io.kubernetes.pod.uid'] === sb.config.pod.uid);
      expect(summaries.map((o) => o.kind).sort()).toEqual(['container', 'container', 'sandbox']);
      expect(summaries.map((o) => o.id).sort()).toEqual([a, b, sb.id].sort());
      if (backend.real) expect((await other.listSummaries()).filter((o) => o.labels['io.kubernetes.pod.uid'] === sb.config.pod.uid)).toEqual([]);
    });

    it.runIf(backend.real)('exec gives stdout, stderr and the exit code, and a command past its timeout is reported as timed out', async () => {
      const sb = await sandbox();
      const id = await container(sb, ['sleep', '60']);
      await runtime.startContainer(id);
      expect(await runtime.execSync(id, ['sh', '-c', 'echo "$GREETING"; echo oops >&2; exit 4'], 5)).toEqual({ exitCode: 4, stdout: 'hi\n', stderr: 'oops\n', timedOut: false });
      const slow = await runtime.execSync(id, ['sleep', '5'], 1);
      expect(slow.timedOut).toBe(true);
      // Output past 10 KiB per stream is dropped (Docker while it streams, CRI on arrival); the rest still arrives.
      const loud = await runtime.execSync(id, ['sh', '-c', "head -c 1000000 /dev/zero | tr '\\0' a; echo done >&2"], 10);
      expect({ ...loud, stdout: loud.stdout.length }).toEqual({ exitCode: 0, stdout: maxExecOutputBytes, stderr: 'done\n', timedOut: false });
      expect(loud.stdout).toMatch(/^a+$/);
    });

    it.runIf(backend.real)('stop sends SIGTERM, then SIGKILL after the timeout; stop and remove are idempotent; removed is not found', async () => {
      const sb = await sandbox();
      const id = await container(sb, ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done']);
      await runtime.startContainer(id);
      await until('running', async () => ((await runtime.containerStatus(id)).state === 'running' ? true : undefined));
      const t0 = Date.now();
      await runtime.stopContainer(id, 2);
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(1500);
      expect((await runtime.containerStatus(id)).exitCode).toBe(137);
      await runtime.stopContainer(id, 2);
      await runtime.removeContainer(id);
      await expect(runtime.containerStatus(id)).rejects.toSatisfy((e) => isAgentError(e, ErrorCode.RuntimeNotFound));
      await runtime.removeContainer(id);
    });

    it.runIf(backend.real)('a memory limit is enforced: the container is OOMKilled with 137; runAsUser applies', async () => {
      const sb = await sandbox();
      const hog = await container(sb, ['sh', '-c', 'x=$(head -c 60000000 /dev/zero | tr "\\0" a); echo ${#x}'], { name: 'hog', limits: { memory: '16Mi' } });
      const who = await container(sb, ['id', '-u'], { name: 'who', user: 1234 });
      await runtime.startContainer(hog);
      await runtime.startContainer(who);
      const s = await until('the hog to be killed', async () => {
        const st = await runtime.containerStatus(hog);
        return st.state === 'exited' ? st : undefined;
      });
      expect(s).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
      await until('who to finish', async () => ((await runtime.containerStatus(who)).state === 'exited' ? true : undefined));
      expect(await runtime.logs(who)).toBe('1234\n');
    });

    it('stopping a sandbox stops its containers; removing it removes them; both are idempotent', async () => {
      const sb = await sandbox();
      const id = await container(sb, ['sleep', '60']);
      await runtime.startContainer(id);
      await runtime.stopSandbox(sb.id);
      expect((await runtime.sandboxStatus(sb.id)).state).toBe('notready');
      expect((await runtime.containerStatus(id)).state).toBe('exited');
      await runtime.stopSandbox(sb.id);
      await runtime.removeSandbox(sb.id);
      await runtime.removeSandbox(sb.id);
      expect(await runtime.listSandboxes({ labels: { 'io.kubernetes.pod.uid': sb.config.pod.uid } })).toEqual([]);
      await expect(runtime.containerStatus(id)).rejects.toSatisfy((e) => isAgentError(e, ErrorCode.RuntimeNotFound));
    });

    it.runIf(backend.name === 'containerd')('a chatty container\'s log is rotated kubelet\'s way: renamed, reopened, at most maxFiles kept', async () => {
      // containerd never rotates its CRI log files; the agent does (10 MiB x 5 by default, small here).
      const rotating = new CriRuntime({ endpoint: 'unix:///run/containerd/containerd.sock', timeoutMs: 60_000, nodeName: `contract-${run}`, rootDir: join(dir, 'root'), log: silentLogger(), logMaxBytes: 64 * 1024, logMaxFiles: 3 });
      try {
        const sb = await sandbox();
        const id = await container(sb, ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; done']);
        await runtime.startContainer(id);
        const logPath = (await runtime.containerStatus(id)).logPath!;
        const logDir = join(logPath, '..');
        for (let i = 0; i < 5; i++) {
          await until('the log past its limit', async () => ((await stat(logPath).catch(() => undefined))?.size ?? 0) > 64 * 1024 ? true : undefined);
          expect(await rotating.rotateLogs(new Date(Date.UTC(2026, 11, 3, 12, 0, i)))).toBe(1);
          // containerd writes a new file at the same path, and goes on writing.
          await until('the reopened log to grow', async () => ((await stat(logPath).catch(() => undefined))?.size ?? 0) > 0 ? true : undefined);
        }
        const files = (await readdir(logDir)).sort();
        expect(files).toEqual(['0.log', '0.log.20261203-120003', '0.log.20261203-120004']);
        expect((await rotating.logs(id, { tailLines: 1 })).trim()).toMatch(/^line \d+ x+$/);
        await runtime.stopContainer(id, 0);
        await runtime.removeContainer(id);
        expect(await readdir(logDir)).toEqual([]);
      } finally {
        await rotating.close();
      }
    }, 60_000);

    it.runIf(backend.real)('pulls an image from a registry, finds it by that name, and removes it (twice is fine)', async () => {
      expect(await runtime.imageStatus(pullable)).toBeUndefined();
      const ref = await runtime.pullImage(pullable);
      expect(ref).not.toBe('');
      const status = await runtime.imageStatus(pullable);
      expect(status?.repoTags).toContain(pullable);
      expect(status?.sizeBytes).toBeGreaterThan(1_000_000);
      expect(status?.id).not.toBe((await runtime.imageStatus(busybox))?.id);
      // The pulled image runs.
      const sb = await sandbox();
      const pod = { metadata: { name: sb.config.pod.name, namespace: 'default', uid: sb.config.pod.uid }, spec: { containers: [] } };
      const spec = { name: 'pulled', image: pullable, command: ['cat', '/marker'] };
      const id = await runtime.createContainer(sb.id, buildContainerConfig(pod, spec, 0, [], [], sb.config), sb.config);
      await runtime.startContainer(id);
      await until('the pulled image to run', async () => ((await runtime.containerStatus(id)).state === 'exited' ? true : undefined));
      expect(await runtime.logs(id)).toBe(`${run}\n`);
      await runtime.removeSandbox(sb.id);
      await runtime.removeImage(pullable);
      expect(await runtime.imageStatus(pullable)).toBeUndefined();
      await runtime.removeImage(pullable);
      expect(await runtime.imageStatus(busybox)).toBeDefined();
    }, 60_000);

    it('images: present, absent, listed; a pull from nowhere is ErrImagePull', async () => {
      expect((await runtime.imageStatus(busybox))?.repoTags).toContain(busybox);
      expect(await runtime.imageStatus(`localhost/not-there-${run}:1`)).toBeUndefined();
      expect((await runtime.listImages()).some((i) => i.repoTags.includes(busybox))).toBe(true);
      if (backend.name === 'fake') (runtime as FakeRuntime).unpullable.set(`127.0.0.1:1/nothing-${run}:1`, 'connection refused');
      await expect(runtime.pullImage(`127.0.0.1:1/nothing-${run}:1`)).rejects.toSatisfy((e) => isAgentError(e, ErrorCode.ImagePull) && e.reason === 'ErrImagePull');
    }, 60_000);
  });
}
