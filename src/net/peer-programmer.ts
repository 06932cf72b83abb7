import { readFile, writeFile } from 'node:fs/promises';
import type { Rtnl } from './netlink/rtnl.ts';
import { describeAction, diffPeers, planPeers, type DeviceIndexes, type Mode, type NodeNet, type PeerAction, type PeerPlan, type SkippedPeer } from './peer-plan.ts';
import { ensureVxlanDevice, findUnderlay, VXLAN_DEFAULTS, type VxlanDevice, type VxlanDeviceOptions } from './vxlan-device.ts';

/**
 * Keeps the local kernel's routes (and, in vxlan mode, the VXLAN device with its neighbour and FDB
 * entries) in line with the list of peer nodes. Level-triggered: every sync reads what the kernel
 * holds and changes only what differs, so it is a no-op when nothing changed and it repairs
 * entries someone deleted or altered since the last call. Holds no state about the kernel between
 * calls; the Rtnl (and so the network namespace) belongs to the caller.
 */

export interface PeerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface PeerSyncSummary {
  added: number;
  replaced: number;
  removed: number;
  /** Changes the kernel refused (each logged), plus later changes for the same peer not attempted. */
  failed: number;
  /** Peers not programmed, with why: from the plan (missing data, overlaps) and from the diff (conflicting routes). */
  skipped: SkippedPeer[];
  /** The actions carried out or attempted, in order, as one line each. */
  actions: string[];
  /** vxlan mode: the device's MAC, for the Node annotation peers read. */
  vtepMac: string | undefined;
  /** vxlan mode: what was changed on the device itself. */
  deviceChanges: string[];
  durationMs: number;
}

/** An entry a peer needs that the kernel does not have, or has wrong. */
export type MissingAction = PeerAction & { op: 'add' | 'replace' };

export class PeerProgrammer {
  private readonly rtnl: Rtnl;
  readonly mode: Mode;
  /** This node as the plan sees it (tests, the peer report). */
  readonly local: NodeNet & { clusterCIDR?: string };
  private readonly log: PeerLogger;
  private readonly vxlan: VxlanDeviceOptions;
  /** The last reported skip list, so a peer that stays skipped is logged once, not every sync. */
  private lastSkipped = '';

  constructor(rtnl: Rtnl, mode: Mode, local: NodeNet & { clusterCIDR?: string }, log: PeerLogger, vxlan: VxlanDeviceOptions) {
    this.rtnl = rtnl;
    this.mode = mode;
    this.local = local;
    this.log = log;
    this.vxlan = vxlan;
  }

  /**
   * vxlan mode: makes the device right and returns it, so the caller can publish its MAC before
   * any peer is known. host-gw mode: undefined.
   */
  async ensureDevice(): Promise<VxlanDevice | undefined> {
    if (this.mode !== 'vxlan') return undefined;
    const plan = planPeers(this.mode, this.local, []);
    if (!plan.vxlanAddress) throw new Error('vxlan plan without a device address');
    const device = await ensureVxlanDevice(this.rtnl, { ...this.vxlan, nodeIP: this.local.nodeIP, address: plan.vxlanAddress });
    if (device.changes.length > 0) this.log.info({ device: device.name, changes: device.changes, mac: device.mac }, 'VXLAN device updated');
    return device;
  }

  /**
   * What the kernel lacks of the plan, changing nothing: the routes, neighbours and FDB entries a
   * sync would add or correct (stale entries it would remove are no problem of connectivity).
   * A missing VXLAN device is reported as such rather than created.
   */
  async missing(peers: readonly NodeNet[]): Promise<MissingAction[]> {
    return (await this.health(peers)).missing;
  }

  /** The plan for these peers with what the kernel lacks of it and the peers a foreign route keeps out. */
  async health(peers: readonly NodeNet[]): Promise<{ plan: PeerPlan; missing: MissingAction[]; conflicts: SkippedPeer[] }> {
    const plan = planPeers(this.mode, this.local, peers);
    const vxlanName = this.vxlan.name ?? VXLAN_DEFAULTS.name;
    const vxlan = await this.rtnl.linkByName(vxlanName);
    if (this.mode === 'vxlan' && !vxlan) throw new MissingDeviceError(vxlanName);
    const devices: DeviceIndexes = { underlay: (await findUnderlay(this.rtnl, this.local.nodeIP)).index, vxlan: vxlan?.index };
    const diff = diffPeers(plan, await this.current(devices), devices);
    return { plan, missing: diff.actions.filter((a): a is MissingAction => a.op !== 'remove'), conflicts: diff.conflicts };
  }

  /** The routes, and on the VXLAN device its neighbours and FDB entries, as the kernel has them now. */
  private async current(devices: DeviceIndexes) {
    return {
      routes: await this.rtnl.routes(),
      neighbours: devices.vxlan === undefined ? [] : await this.rtnl.neighbours(devices.vxlan),
      fdb: devices.vxlan === undefined ? [] : await this.rtnl.fdb(devices.vxlan),
    };
  }

  async sync(peers: readonly NodeNet[]): Promise<PeerSyncSummary> {
    const started = performance.now();
    const plan = planPeers(this.mode, this.local, peers);

    let devices: DeviceIndexes;
    let device: VxlanDevice | undefined;
    if (this.mode === 'vxlan') {
      device = await this.ensureDevice();
      if (!device) throw new Error('vxlan mode without a device');
      devices = { underlay: device.underlay.index, vxlan: device.index };
    } else {
      // A VXLAN device left from an earlier vxlan-mode run still has our entries; reading them
      // lets the diff remove them along with the routes that used them.
      const leftover = await this.rtnl.linkByName(this.vxlan.name ?? VXLAN_DEFAULTS.name);
      devices = { underlay: (await findUnderlay(this.rtnl, this.local.nodeIP)).index, vxlan: leftover?.index };
    }

    const diff = diffPeers(plan, await this.current(devices), devices);
    const skipped = [...plan.skipped, ...diff.conflicts];
    const skippedKey = JSON.stringify(skipped);
    if (skippedKey !== this.lastSkipped) {
      if (skipped.length > 0) this.log.warn({ skipped }, 'some peers are not programmed');
      this.lastSkipped = skippedKey;
    }

    const summary: PeerSyncSummary = {
      added: 0, replaced: 0, removed: 0, failed: 0, skipped, actions: [],
      vtepMac: device?.mac, deviceChanges: device?.changes ?? [], durationMs: 0,
    };
    // Changes for one peer build on each other (FDB, then neighbour, then route): once one of
    // them fails, the rest of that peer's are not attempted, so no route is left without its
    // next hop. The next sync tries again.
    const failedPeers = new Set<string>();
    for (const action of diff.actions) {
      const line = describeAction(action);
      summary.actions.push(line);
      const peer = action.op === 'remove' ? undefined : action.peer;
      if (peer !== undefined && failedPeers.has(peer)) {
        summary.failed++;
        continue;
      }
      try {
        await this.apply(action, devices);
      } catch (err) {
        summary.failed++;
        if (peer !== undefined) failedPeers.add(peer);
        this.log.warn({ err: err instanceof Error ? err.message : String(err), peer }, `peer network change failed: ${line}`);
        continue;
      }
      if (action.op === 'add') summary.added++;
      else if (action.op === 'replace') summary.replaced++;
      else summary.removed++;
      this.log.info({ peer }, `peer network: ${line}`);
    }
    summary.durationMs = Math.round((performance.now() - started) * 10) / 10;
    return summary;
  }

  private async apply(a: PeerAction, devices: DeviceIndexes): Promise<void> {
    if (a.kind === 'route') {
      if (a.op === 'remove') await this.rtnl.deleteRoute(a);
      else await this.rtnl.replaceRoute(a);
      return;
    }
    const vxlan = devices.vxlan;
    if (vxlan === undefined) throw new Error(`no VXLAN device for: ${describeAction(a)}`);
    if (a.kind === 'neighbour') {
      if (a.op === 'remove') await this.rtnl.deleteNeighbour(vxlan, a.ip);
      else await this.rtnl.replaceNeighbour(vxlan, a.ip, a.mac);
    } else if (a.op === 'remove') await this.rtnl.deleteFdb(vxlan, a.mac, a.dst);
    else await this.rtnl.replaceFdb(vxlan, a.mac, a.dst);
  }
}

/** The VXLAN device the plan needs is not there (deleted behind the agent's back). */
export class MissingDeviceError extends Error {
  readonly device: string;
  constructor(device: string) {
    super(`VXLAN device ${device} is missing`);
    this.name = 'MissingDeviceError';
    this.device = device;
  }
}

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** net.ipv4.ip_forward as this network namespace has it ("1" on), or '' when it cannot be read. */
export async function readIpForward(path = IP_FORWARD): Promise<string> {
  return (await readFile(path, 'utf8').catch(() => '')).trim();
}

/**
 * Lets the node forward between its pod bridge and the underlay or tunnel. The sysctl belongs to
 * the network namespace of the process that opens the file, as the rtnetlink socket does.
 */
export async function enableIpForward(path = IP_FORWARD): Promise<boolean> {
  if ((await readIpForward(path)) === '1') return false;
  await writeFile(path, '1\n');
  return true;
}
