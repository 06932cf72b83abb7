import { readFile, readdir, statfs, mkdir } from 'node:fs/promises';
import { availableParallelism, release, arch } from 'node:os';

/** Facts about the machine that do not change while the agent runs. */
export interface MachineInfo {
  cpuCores: number;
  memoryBytes: number;
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  architecture: string;
}

/** Readings that do change: what the pressure conditions are computed from. */
export interface MachineUsage {
  memoryAvailableBytes: number;
  memoryTotalBytes: number;
  /** Filesystem holding the agent's root directory. */
  nodefsAvailableBytes: number;
  nodefsCapacityBytes: number;
  /** Inodes of that filesystem; 0 where it does not count them (btrfs reports none). */
  nodefsInodesFree: number;
  nodefsInodes: number;
  pidMax: number;
  pidsInUse: number;
  /** The runtime's image filesystem, when the runtime named it (may be the nodefs itself). */
  imagefsAvailableBytes?: number;
  imagefsCapacityBytes?: number;
}

async function readTrimmed(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return '';
  }
}

export function parseMeminfo(text: string): { totalBytes: number; availableBytes: number } {
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+([0-9]+) kB`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : 0;
  };
  return { totalBytes: field('MemTotal'), availableBytes: field('MemAvailable') };
}

export function parseOsRelease(text: string): string {
  const match = /^PRETTY_NAME=("?)(.*)\1$/m.exec(text);
  return match?.[2] ?? 'Linux';
}

const goArch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };

export async function readMachineInfo(): Promise<MachineInfo> {
  const meminfo = parseMeminfo(await readTrimmed('/proc/meminfo'));
  return {
    cpuCores: availableParallelism(),
    memoryBytes: meminfo.totalBytes,
    machineID: await readTrimmed('/etc/machine-id'),
    systemUUID: (await readTrimmed('/sys/class/dmi/id/product_uuid')).toLowerCase(),
    bootID: await readTrimmed('/proc/sys/kernel/random/boot_id'),
    kernelVersion: release(),
    osImage: parseOsRelease(await readTrimmed('/etc/os-release')),
    architecture: goArch[arch()] ?? arch(),
  };
}

/**
 * What the node has left. `imageFs` is a directory on the runtime's image filesystem; when it is
 * unknown or unreadable the imagefs figures are left out (and so is that signal).
 */
export async function readMachineUsage(rootDir: string, imageFs?: string): Promise<MachineUsage> {
  const meminfo = parseMeminfo(await readTrimmed('/proc/meminfo'));
  await mkdir(rootDir, { recursive: true });
  const fs = await statfs(rootDir);
  const pidMax = Number(await readTrimmed('/proc/sys/kernel/pid_max')) || 32768;
  const entries = await readdir('/proc');
  const pidsInUse = entries.filter((name) => /^[0-9]+$/.test(name)).length;
  const image = imageFs === undefined ? undefined : await statfs(imageFs).catch(() => undefined);
  return {
    memoryAvailableBytes: meminfo.availableBytes,
    memoryTotalBytes: meminfo.totalBytes,
    nodefsAvailableBytes: fs.bavail * fs.bsize,
    nodefsCapacityBytes: fs.blocks * fs.bsize,
    nodefsInodesFree: fs.ffree,
    nodefsInodes: fs.files,
    pidMax,
    pidsInUse,
    ...(image ? { imagefsAvailableBytes: image.bavail * image.bsize, imagefsCapacityBytes: image.blocks * image.bsize } : {}),
  };
}
