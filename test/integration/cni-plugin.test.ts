import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { installCni } from '../../src/net/cni-install.ts';

// The plugin as a CNI runtime sees it: an executable in a bin directory, fed JSON on stdin and
// CNI_* in the environment. It runs inside a namespace standing for the node (so its bridge never
// touches this machine's own network), against pod namespaces of the test's own.

const id = randomBytes(3).toString('hex');
const nodeNs = `cni-${id}-node`;
const podNs = (n: number): string => `cni-${id}-p${n}`;
const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}.0/26`;
const prefix = subnet.split('.').slice(0, 3).join('.');
const gateway = `${prefix}.1`;
const bridge = `br${id}`;
let binDir = '';
let dataDir = '';
let plugin = '';
const created: string[] = [];

function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '1.1.0', name: 'conformance', type: 'node-agent-bridge', bridge, subnet, mtu: 1400, dataDir, ...extra };
}

async function cni(command: string, env: Record<string, string>, config: unknown = conf()) {
  const stdin = typeof config === 'string' ? config : JSON.stringify(config);
  const result = await execa('nsenter', [`--net=/run/netns/${nodeNs}`, plugin], {
    input: stdin,
    reject: false,
    // A plugin that hangs (a FIFO opened as CNI_NETNS did) fails its test rather than the run.
    timeout: 20_000,
    env: { CNI_COMMAND: command, CNI_PATH: binDir, ...env },
    extendEnv: false,
  });
  const json = result.stdout ? (JSON.parse(result.stdout)) : undefined;
  return { code: result.exitCode, json, stderr: result.stderr };
}

const attach = (n: number) => ({ CNI_CONTAINERID: `ctr${id}${n}`, CNI_NETNS: `/run/netns/${podNs(n)}`, CNI_IFNAME: 'eth0' });

async function netns(name: string): Promise<void> {
  await execa('ip', ['netns', 'add', name]);
  created.push(name);
}

async function inNode(args: string[]) {
  return execa('ip', ['-n', nodeNs, ...args], { reject: false });
}

async function allocations(): Promise<string[]> {
  return (await readdir(join(dataDir, 'conformance')).catch(() => [])).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort();
}

async function hostVeths(): Promise<string[]> {
  const out = await inNode(['-o', 'link', 'show', 'master', bridge]);
  return out.stdout.split('\n').filter(Boolean).map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '');
}

describe('CNI plugin (exec, real namespaces)', () => {
  beforeAll(async () => {
    binDir = await mkdtemp(join(tmpdir(), 'cni-bin-'));
    dataDir = await mkdtemp(join(tmpdir(), 'cni-data-'));
    const confDir = await mkdtemp(join(tmpdir(), 'cni-conf-'));
    const installed = await installCni({ cniBin: binDir, cniConf: confDir }, conf() as never);
    plugin = installed.plugin;
    await rm(confDir, { recursive: true, force: true });
    await netns(nodeNs);
    for (let n = 1; n <= 3; n++) await netns(podNs(n));
  });

  afterAll(async () => {
    for (const ns of created) await execa('ip', ['netns', 'del', ns], { reject: false });
    await rm(binDir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  });

  it('VERSION lists 1.0.0 and 1.1.0', async () => {
    const out = await cni('VERSION', {}, { cniVersion: '1.1.0' });
    expect(out.code).toBe(0);
    expect(out.json.supportedVersions).toEqual(expect.arrayContaining(['1.0.0', '1.1.0']));
  });

  it('ADD wires the pod: eth0 with the address, MTU, default route, and the gateway answers', async () => {
    const out = await cni('ADD', attach(1));
    expect(out.code, out.stderr).toBe(0);
    const ip = out.json.ips[0].address as string;
    expect(ip).toMatch(new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.\\d+/26$`));
    expect(out.json.ips[0].gateway).toBe(gateway);
    expect(out.json.interfaces[out.json.ips[0].interface]).toMatchObject({ name: 'eth0', sandbox: `/run/netns/${podNs(1)}` });
    const addr = await execa('ip', ['-n', podNs(1), '-j', 'addr', 'show', 'eth0']);
    const link = JSON.parse(addr.stdout)[0];
    expect(link.mtu).toBe(1400);
    expect(link.address).toBe(out.json.interfaces[2].mac);
    expect(link.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toContain(ip);
    expect((await execa('ip', ['-n', podNs(1), 'route', 'show', 'default'])).stdout).toContain(`via ${gateway}`);
    await execa('ip', ['netns', 'exec', podNs(1), 'ping', '-c', '1', '-W', '2', gateway]);
    expect(await allocations()).toEqual([ip.split('/')[0]]);
  });

  it('ADD twice for the same container fails clearly and changes nothing', async () => {
    const before = await allocations();
    const out = await cni('ADD', attach(1));
    expect(out.code).toBe(1);
    expect(out.json).toMatchObject({ cniVersion: '1.1.0', code: 100 });
    expect(out.json.msg).toContain('DEL it before ADD');
    expect(await allocations()).toEqual(before);
  });

  it('CHECK passes on a good attachment and names a wrong address or a missing interface', async () => {
    const add = await cni('ADD', attach(2));
    expect(add.code).toBe(0);
    const prev = conf({ prevResult: add.json });
    expect((await cni('CHECK', attach(2), prev)).code).toBe(0);

    const ip = add.json.ips[0].address as string;
    await execa('ip', ['-n', podNs(2), 'addr', 'del', ip, 'dev', 'eth0']);
    await execa('ip', ['-n', podNs(2), 'addr', 'add', `${prefix}.60/26`, 'dev', 'eth0']);
    const wrong = await cni('CHECK', attach(2), prev);
    expect(wrong.code).toBe(1);
    expect(wrong.json.code).toBe(102);
    expect(wrong.json.msg).toContain(`should hold ${ip}`);

    await execa('ip', ['-n', podNs(2), 'link', 'del', 'eth0']);
    const missing = await cni('CHECK', attach(2), prev);
    expect(missing.code).toBe(1);
    expect(missing.json.msg).toMatch(/missing/);
  });

  it('DEL twice succeeds, and DEL after the netns is gone releases the address', async () => {
    const first = await cni('DEL', attach(2));
    expect(first.code, JSON.stringify(first.json)).toBe(0);
    expect((await cni('DEL', attach(2))).code).toBe(0);

    const add = await cni('ADD', attach(3));
    expect(add.code).toBe(0);
    const ip = (add.json.ips[0].address as string).split('/')[0];
    await execa('ip', ['netns', 'del', podNs(3)]);
    expect((await cni('DEL', attach(3))).code).toBe(0);
    expect(await allocations()).not.toContain(ip);
  });

  it('bad input gets the spec codes', async () => {
    expect((await cni('ADD', attach(1), 'not json')).json.code).toBe(6);
    expect((await cni('ADD', attach(1), conf({ cniVersion: '0.3.1' }))).json.code).toBe(1);
    expect((await cni('ADD', attach(1), conf({ subnet: '10.0.0.1/24' }))).json.code).toBe(7);
    const noNetns = await cni('ADD', { CNI_CONTAINERID: 'x1', CNI_IFNAME: 'eth0' });
    expect(noNetns.json).toMatchObject({ code: 4 });
    expect(noNetns.json.msg).toContain('CNI_NETNS');
    const gone = await cni('ADD', { CNI_CONTAINERID: 'x2', CNI_NETNS: '/run/netns/does-not-exist', CNI_IFNAME: 'eth0' });
    expect(gone.json.code).toBe(3);
    // A failed ADD leaves no allocation behind.
    expect((await allocations()).length).toBe(1);
  });

  it('a CNI_NETNS that is no namespace (a file, a FIFO) and an IFNAME that would rewrite the ip batch are refused, leaving nothing behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cni-hostile-'));
    try {
      const before = { allocations: await allocations(), veths: await hostVeths() };
      const file = join(dir, 'plain');
      await writeFile(file, '');
      const fifo = join(dir, 'fifo');
      await execa('mkfifo', [fifo]);
      const plain = await cni('ADD', { CNI_CONTAINERID: 'h1', CNI_NETNS: file, CNI_IFNAME: 'eth0' });
      expect(plain.json).toMatchObject({ code: 4, msg: `CNI_NETNS ${file} is not a network namespace (not an nsfs file)` });
      // Opened blocking, a FIFO with no writer would hang the plugin (and the agent, serving it in-process).
      const pipe = await cni('ADD', { CNI_CONTAINERID: 'h2', CNI_NETNS: fifo, CNI_IFNAME: 'eth0' });
      expect(pipe.json).toMatchObject({ code: 4, msg: `CNI_NETNS ${fifo} is not a network namespace (not an nsfs file)` });
      for (const ifname of ['e#x', '-x', 'a"b', 'a\\b']) {
        const bad = await cni('ADD', { CNI_CONTAINERID: 'h3', CNI_NETNS: `/run/netns/${podNs(3)}`, CNI_IFNAME: ifname });
        expect(bad.json, ifname).toMatchObject({ code: 4 });
        expect(bad.json.msg, ifname).toContain('may hold only letters, digits');
      }
      expect({ allocations: await allocations(), veths: await hostVeths() }).toEqual(before);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('concurrent ADDs from separate processes never share an address', async () => {
    const n = 12;
    for (let i = 10; i < 10 + n; i++) await netns(podNs(i));
    const results = await Promise.all(Array.from({ length: n }, (_, k) => cni('ADD', attach(10 + k))));
    expect(results.map((r) => r.code)).toEqual(Array(n).fill(0));
    const ips = results.map((r) => r.json.ips[0].address as string);
    expect(new Set(ips).size).toBe(n);
    expect((await allocations()).length).toBe(n + 1);
  });

  it('GC removes allocations and host veths of attachments the runtime no longer has', async () => {
    const keep = [{ containerID: `ctr${id}1`, ifname: 'eth0' }];
    const out = await cni('GC', {}, conf({ 'cni.dev/valid-attachments': keep }));
    expect(out.code, JSON.stringify(out.json)).toBe(0);
    expect((await allocations()).length).toBe(1);
    expect((await hostVeths()).length).toBe(1);
  });

  it('GC frees only its own owner\'s attachments, and host ends whose allocation is gone', async () => {
    await netns(podNs(4));
    await netns(podNs(5));
    const docker = { owner: 'node-agent-docker' };
    expect((await cni('ADD', attach(4), conf(docker))).code).toBe(0);
    const other = await cni('ADD', attach(5));
    expect(other.code).toBe(0);
    expect((await allocations()).length).toBe(3);
    // The Docker backend's GC knows none of its sandboxes any more; the exec'd caller's pods 1 and
    // 5 are not its to judge.
    expect((await cni('GC', {}, conf({ ...docker, 'cni.dev/valid-attachments': [] }))).code).toBe(0);
    expect((await allocations()).length).toBe(2);
    expect((await hostVeths()).length).toBe(2);
    await execa('ip', ['netns', 'exec', podNs(5), 'ping', '-c', '1', '-W', '2', gateway]);
    // Pod 5's address record lost (a wiped store): its host end goes at the next GC, whoever's,
    // since its address could be handed out again.
    await rm(join(dataDir, 'conformance', (other.json.ips[0].address as string).split('/')[0] ?? ''));
    expect((await cni('GC', {}, conf({ ...docker, 'cni.dev/valid-attachments': [] }))).code).toBe(0);
    expect((await hostVeths()).length).toBe(1);
    expect((await allocations()).length).toBe(1);
    await execa('ip', ['netns', 'exec', podNs(1), 'ping', '-c', '1', '-W', '2', gateway]);
  });

  it('a plugin killed in the middle of ADD leaves nothing GC does not clean up', async () => {
    for (const [k, delayMs] of [60, 90, 120, 150, 180].entries()) {
      const n = 30 + k;
      await netns(podNs(n));
      const child = execa('nsenter', [`--net=/run/netns/${nodeNs}`, plugin], {
        input: JSON.stringify(conf()),
        reject: false,
        env: { CNI_COMMAND: 'ADD', CNI_PATH: binDir, ...attach(n) },
        extendEnv: false,
      });
      setTimeout(() => child.kill('SIGKILL'), delayMs);
      await child;
    }
    // Whatever each died in the middle of: the lock is not left blocking, and GC takes the rest.
    const keep = [{ containerID: `ctr${id}1`, ifname: 'eth0' }];
    expect((await cni('GC', {}, conf({ 'cni.dev/valid-attachments': keep }))).code).toBe(0);
    expect((await allocations()).length).toBe(1);
    expect((await hostVeths()).length).toBe(1);
    await netns(podNs(40));
    expect((await cni('ADD', attach(40))).code).toBe(0);
  });

  it('with the agent listening, the exec\'d plugin hands it the call; declined or unreachable, it works alone', async () => {
    const agentScript = join(import.meta.dirname, '..', '..', 'bench', 'cni-agent.ts');
    const startAgent = async (ns: string, socket: string) => {
      const child = execa('nsenter', [`--net=/run/netns/${ns}`, process.execPath, agentScript, socket], { stdin: 'pipe', reject: false });
      await new Promise<void>((ready, fail) => {
        child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && ready());
        void child.then((r) => fail(new Error(`cni-agent exited: ${r.stderr}`)));
      });
      return {
        stop: async (): Promise<{ served: number; declined: number }> => {
          child.stdin?.end();
          const r = await child;
          return JSON.parse(r.stdout.split('\n').filter(Boolean).at(-1) ?? '{}');
        },
      };
    };
    const otherNs = `cni-${id}-other`;
    await netns(otherNs);
    for (const n of [50, 51, 52]) await netns(podNs(n));
    const local = join(dataDir, 'agent.sock');
    const remote = join(dataDir, 'other-agent.sock');
    const agent = await startAgent(nodeNs, local);
    const other = await startAgent(otherNs, remote);
    let stopped = false;
    try {
      // Forwarded: the agent in the node namespace does ADD, CHECK and DEL.
      const add = await cni('ADD', attach(50), conf({ agentSocket: local }));
      expect(add.code, JSON.stringify(add.json)).toBe(0);
      const ip = (add.json.ips[0].address as string).split('/')[0];
      expect((await execa('ip', ['-n', podNs(50), '-j', 'addr', 'show', 'eth0'])).stdout).toContain(`"local":"${ip}"`);
      expect((await cni('CHECK', attach(50), conf({ agentSocket: local, prevResult: add.json }))).code).toBe(0);
      expect((await cni('ADD', attach(50), conf({ agentSocket: local }))).json.code).toBe(100);
      expect((await cni('DEL', attach(50), conf({ agentSocket: local }))).code).toBe(0);
      expect(await allocations()).not.toContain(ip);
      // An agent in another network namespace declines; the plugin wires the pod itself, in the
      // node namespace where it was exec'd.
      const declined = await cni('ADD', attach(51), conf({ agentSocket: remote }));
      expect(declined.code, JSON.stringify(declined.json)).toBe(0);
      expect((await inNode(['-o', 'link', 'show', 'master', bridge])).stdout).toContain('nav');
      expect((await cni('DEL', attach(51), conf({ agentSocket: remote }))).code).toBe(0);
      const counts = await agent.stop();
      const otherCounts = await other.stop();
      stopped = true;
      expect(counts).toMatchObject({ served: 4, declined: 0 });
      expect(otherCounts).toMatchObject({ served: 0, declined: 2 });
      // The agent gone (its socket removed, or a stale socket file nobody listens on): alone.
      expect((await cni('ADD', attach(52), conf({ agentSocket: local }))).code).toBe(0);
      const server = createServer();
      await new Promise<void>((r) => server.listen(remote, () => r()));
      server.close();
      expect((await cni('DEL', attach(52), conf({ agentSocket: remote }))).code).toBe(0);
    } finally {
      if (!stopped) await Promise.all([agent.stop(), other.stop()]).catch(() => undefined);
    }
  });

  it('a bridge carrying another subnet is repaired; STATUS reports a missing bridge', async () => {
    await inNode(['addr', 'add', '10.123.0.1/24', 'dev', bridge]);
    await netns(podNs(41));
    expect((await cni('ADD', attach(41))).code).toBe(0);
    const addrs = JSON.parse((await inNode(['-j', '-4', 'addr', 'show', 'dev', bridge])).stdout)[0].addr_info.map((a: any) => `${a.local}/${a.prefixlen}`);
    expect(addrs).toEqual([`${gateway}/26`]);

    expect((await cni('STATUS', {})).code).toBe(0);
    await inNode(['link', 'del', bridge]);
    const status = await cni('STATUS', {});
    expect(status.code).toBe(1);
    expect(status.json.code).toBe(51);
    expect(status.json.msg).toContain(`bridge ${bridge} does not exist`);
  });
});
