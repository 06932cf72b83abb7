import { readFile } from 'node:fs/promises';
import { run, tryRun } from './exec.ts';

/** Network plumbing for the lab's simulated VMs, through iproute2. */

export async function linkExists(name: string): Promise<boolean> {
  return tryRun('ip', ['link', 'show', 'dev', name]);
}

export async function netnsExists(name: string): Promise<boolean> {
  const out = await run('ip', ['netns', 'list'], { reject: false });
  return out.split('\n').some((line) => line.split(' ')[0] === name);
}

export async function ensureBridge(name: string, address: string): Promise<void> {
  if (!(await linkExists(name))) await run('ip', ['link', 'add', name, 'type', 'bridge']);
  const addrs = await run('ip', ['-o', 'addr', 'show', 'dev', name]);
  if (!addrs.includes(` ${address} `) && !addrs.includes(` ${address}\n`) && !addrs.includes(`inet ${address}`)) {
    await run('ip', ['addr', 'add', address, 'dev', name]);
  }
  await run('ip', ['link', 'set', name, 'up']);
}

/** A namespace joined to the bridge by a veth pair, with its address, lo up and a default route via the host. */
export async function ensureMachineNetns(options: {
  netns: string;
  hostLink: string;
  vmLink: string;
  address: string;
  gateway: string;
  bridge: string;
}): Promise<void> {
  const { netns, hostLink, vmLink, address, gateway, bridge } = options;
  if (!(await netnsExists(netns))) await run('ip', ['netns', 'add', netns]);
  if (!(await linkExists(hostLink))) {
    await run('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', vmLink, 'netns', netns]);
  }
  await run('ip', ['link', 'set', hostLink, 'master', bridge, 'up']);
  const inNs = (...args: string[]): Promise<string> => run('ip', ['netns', 'exec', netns, ...args]);
  await inNs('ip', 'link', 'set', 'lo', 'up');
  const addrs = await inNs('ip', '-o', 'addr', 'show', 'dev', vmLink);
  if (!addrs.includes(`inet ${address}`)) await inNs('ip', 'addr', 'add', address, 'dev', vmLink);
  await inNs('ip', 'link', 'set', vmLink, 'up');
  await inNs('ip', 'route', 'replace', 'default', 'via', gateway);
}

/** Processes whose network namespace is `netns` (iproute2 finds them by the namespace inode). */
export async function netnsPids(netns: string): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', netns], { reject: false });
  return out.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

export async function deleteNetns(netns: string): Promise<void> {
  if (await netnsExists(netns)) await tryRun('ip', ['netns', 'delete', netns]);
}

export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await tryRun('ip', ['link', 'delete', name]);
}

/** True while `pid` runs (and is not a zombie). */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}
