import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepLockLeftovers, withFileLock } from '../../cni/file-lock.ts';
import { CniCode, CniError } from '../../cni/types.ts';
import { IpamStore } from '../../cni/ipam-store.ts';
import { ipRange } from '../../cni/ip-range.ts';

// The IPAM lock against the real file system and /proc: what a locker killed at any point leaves
// behind must never block later lockers, and a live owner must.

/** A PID that existed and is gone now. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

async function startTime(pid: number): Promise<string> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

describe('IPAM file lock', () => {
  let dir = '';
  let lock = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'na-lock-'));
    lock = join(dir, 'lock');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('serialises lockers, names its owner while held and is gone after', async () => {
    const seen: string[] = [];
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        withFileLock(lock, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          seen.push(await readFile(lock, 'utf8'));
          await new Promise((r) => setTimeout(r, 5));
          inside--;
          return i;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(seen[0]).toBe(`${process.pid} ${await startTime(process.pid)}`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over a lock whose owner died, or whose PID now belongs to another process', async () => {
    await writeFile(lock, `${deadPid()} 12345`);
    expect(await withFileLock(lock, async () => 'dead owner', 500)).toBe('dead owner');
    // Our own parent's PID with a start time that is not its own: a recycled PID.
    await writeFile(lock, `${process.ppid} 1`);
    expect(await withFileLock(lock, async () => 'recycled pid', 500)).toBe('recycled pid');
  });

  it('waits for a live owner and then says to try again later', async () => {
    const owner = spawn('sleep', ['30']);
    try {
      await new Promise((r) => setTimeout(r, 50));
      await writeFile(lock, `${owner.pid} ${await startTime(owner.pid!)}`);
      const err = await withFileLock(lock, async () => 'got it', 300).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CniError);
      expect((err as CniError).cniCode).toBe(CniCode.TryAgainLater);
      expect((err as CniError).message).toContain(`held by pid ${owner.pid}`);
      // Still the owner's: a failed locker does not remove it.
      expect(await readFile(lock, 'utf8')).toContain(String(owner.pid));
    } finally {
      owner.kill('SIGKILL');
    }
  });

  it('an ownerless lock (an older version killed mid-create) blocks only briefly', async () => {
    await writeFile(lock, '');
    const err = await withFileLock(lock, async () => 'fresh', 200).catch((e: unknown) => e);
    expect((err as CniError).cniCode).toBe(CniCode.TryAgainLater);
    const old = new Date(Date.now() - 10_000);
    await utimes(lock, old, old);
    expect(await withFileLock(lock, async () => 'old', 500)).toBe('old');
  });

  it('GC sweeps the private files of lockers that died before linking, and keeps live ones', async () => {
    const live = spawn('sleep', ['30']);
    try {
      await writeFile(`${lock}.${deadPid()}.aabbccdd`, 'x');
      await writeFile(`${lock}.${live.pid}.11223344`, 'x');
      expect(await sweepLockLeftovers(lock)).toBe(1);
      expect(await readdir(dir)).toEqual([`lock.${live.pid}.11223344`]);
    } finally {
      live.kill('SIGKILL');
    }
  });
});

describe('IPAM GC and the store lock', () => {
  it('GC waits for an ADD holding the store lock, and then sees the address as the ADD left it', async () => {
    const data = await mkdtemp(join(tmpdir(), 'na-gc-'));
    try {
      const store = new IpamStore(data, 'net');
      await store.allocate({ containerID: 'old', ifname: 'eth0' }, ipRange('10.1.0.0/24', '10.1.0.1'));
      const [ip] = (await store.list()).map((a) => a.ip);
      const order: string[] = [];
      // An ADD in the middle of handing the dead container's address to a new one.
      const add = withFileLock(join(data, 'net', 'lock'), async () => {
        await new Promise((r) => setTimeout(r, 200));
        await writeFile(join(data, 'net', ip ?? ''), 'new\neth0\n');
        order.push('add');
      });
      await new Promise((r) => setTimeout(r, 20));
      const removed = await store.collect([{ containerID: 'new', ifname: 'eth0' }], { owner: '' });
      order.push('gc');
      await add;
      // Unlocked, GC would have listed the address as old's and deleted the new owner's file.
      expect(order).toEqual(['add', 'gc']);
      expect(removed).toEqual([]);
      expect(await store.list()).toEqual([{ ip, containerID: 'new', ifname: 'eth0', owner: '' }]);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });

  it('GC judges only its own owner\'s allocations; another runtime\'s stay, debris of a killed ADD goes', async () => {
    const data = await mkdtemp(join(tmpdir(), 'na-gc-'));
    try {
      const store = new IpamStore(data, 'net');
      const range = ipRange('10.1.0.0/24', '10.1.0.1');
      const dockerIp = await store.allocate({ containerID: 'dock', ifname: 'eth0' }, range, 'docker');
      const criIp = await store.allocate({ containerID: 'cri', ifname: 'eth0' }, range);
      expect(await readFile(join(data, 'net', dockerIp), 'utf8')).toBe('dock\neth0\ndocker');
      expect(await readFile(join(data, 'net', criIp), 'utf8')).toBe('cri\neth0');
      // An ADD killed between creating its address file and writing it.
      await writeFile(join(data, 'net', '10.1.0.9'), '');

      let seen: string[] = [];
      const removed = await store.collect([], {
        owner: 'docker',
        whileLocked: async (remaining) => {
          seen = remaining.map((a) => a.containerID);
        },
      });
      expect(removed.map((a) => a.containerID).sort()).toEqual(['', 'dock']);
      expect(seen).toEqual(['cri']);
      expect((await store.list()).map((a) => a.containerID)).toEqual(['cri']);

      // The CRI side's GC does not know the Docker backend's sandboxes either, and frees only its own.
      const again = await store.allocate({ containerID: 'dock2', ifname: 'eth0' }, range, 'docker');
      expect((await store.collect([], { owner: '' })).map((a) => a.containerID)).toEqual(['cri']);
      expect((await store.list()).map((a) => a.ip)).toEqual([again]);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });
});
