import { mkdir, open, readdir, readFile, unlink, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { parseIpv4 } from '../src/util/cidr.ts';
import { sweepLockLeftovers, withFileLock } from './file-lock.ts';
import { type IpRange, inRange, nextFreeIp } from './ip-range.ts';
import { type Attachment, CniCode, CniError } from './types.ts';

/**
 * Address allocations of one network, on disk, in host-local's layout so operators know it:
 * `<dataDir>/<network>/<ip>` holds "<containerID>\n<ifname>" (and a third line, the owner, when the
 * caller named one), `last_reserved_ip.0` the last address handed out. Each address file is created with O_EXCL, so two allocators can never both own an
 * address even if the lock were bypassed; the lock keeps the scan and `last_reserved_ip` coherent.
 */

export interface Allocation extends Attachment {
  ip: string;
  /** Who made it (BridgeNetConf.owner); empty for callers that exec the plugin. */
  owner: string;
}

/** What GC may remove, and what else it does while the store is locked. */
export interface CollectOptions {
  /** Only allocations of this owner are judged against the valid attachments. */
  owner: string;
  /** Allocations outside it are stale whoever holds them (a pod CIDR that changed). */
  range?: IpRange;
  /**
   * Runs under the store lock after the stale allocations are gone, with those that remain: the
   * plugin removes interfaces there, so no ADD can allocate (and then create an interface) between
   * its look at the allocations and its removal of the interfaces.
   */
  whileLocked?: (remaining: Allocation[], removed: Allocation[]) => Promise<void>;
}

const LAST_RESERVED = 'last_reserved_ip.0';
const LOCK = 'lock';

export class IpamStore {
  readonly dir: string;

  constructor(dataDir: string, network: string) {
    this.dir = join(dataDir, network);
  }

  private async ensureDir(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new CniError(CniCode.IoFailure, `cannot create ${this.dir}: ${(err as Error).message}`);
    }
  }

  /** Every allocation in the directory (address files only; the lock and bookkeeping are skipped). */
  async list(): Promise<Allocation[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new CniError(CniCode.IoFailure, `cannot read ${this.dir}: ${(err as Error).message}`);
    }
    const out: Allocation[] = [];
    for (const name of names) {
      if (parseIpv4(name) === undefined) continue;
      const text = await readFile(join(this.dir, name), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const [containerID = '', ifname = '', owner = ''] = text.split('\n').map((s) => s.trim());
      out.push({ ip: name, containerID, ifname, owner });
    }
    return out;
  }

  async find(attachment: Attachment): Promise<Allocation | undefined> {
    return (await this.list()).find((a) => a.containerID === attachment.containerID && a.ifname === attachment.ifname);
  }

  /**
   * Reserves the next free address for this attachment. An attachment that already holds one is
   * refused: ADD twice without DEL is a runtime bug, and quietly handing out a second address leaks.
   */
  async allocate(attachment: Attachment, range: IpRange, owner = ''): Promise<string> {
    await this.ensureDir();
    return withFileLock(join(this.dir, LOCK), async () => {
      const existing = await this.list();
      const mine = existing.find((a) => a.containerID === attachment.containerID && a.ifname === attachment.ifname);
      if (mine) {
        throw new CniError(
          CniCode.AlreadyAttached,
          `container ${attachment.containerID} already has ${mine.ip} on ${attachment.ifname}; DEL it before ADD`,
        );
      }
      const used = new Set(existing.map((a) => a.ip));
      let last = (await readFile(join(this.dir, LAST_RESERVED), 'utf8').catch(() => '')).trim() || undefined;
      for (;;) {
        const ip = nextFreeIp(range, used, last);
        if (ip === undefined) {
          throw new CniError(CniCode.RangeFull, `no free address left in ${this.dir} (all ${used.size} in use)`);
        }
        try {
          const handle = await open(join(this.dir, ip), 'wx', 0o644);
          await handle.writeFile(`${attachment.containerID}\n${attachment.ifname}${owner ? `\n${owner}` : ''}`);
          await handle.close();
        } catch (err) {
          // Someone outside the lock took it: skip it and keep looking.
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
            used.add(ip);
            last = ip;
            continue;
          }
          throw new CniError(CniCode.IoFailure, `cannot record allocation ${ip}: ${(err as Error).message}`);
        }
        const tmp = join(this.dir, `.${LAST_RESERVED}.${process.pid}`);
        await writeFile(tmp, ip);
        await rename(tmp, join(this.dir, LAST_RESERVED));
        return ip;
      }
    });
  }

  /** Releases what this attachment holds; returns the addresses freed (none is not an error). */
  async release(attachment: Attachment): Promise<string[]> {
    const mine = (await this.list()).filter(
      (a) => a.containerID === attachment.containerID && a.ifname === attachment.ifname,
    );
    for (const a of mine) await unlink(join(this.dir, a.ip)).catch(() => undefined);
    return mine.map((a) => a.ip);
  }

  /**
   * CNI GC: removes the allocations of `owner` whose attachment is not in `valid`, and returns
   * them. Allocations of other owners are theirs to collect. A file with no container ID is the
   * debris of an ADD killed while writing it (it held the lock, so none is being written now) and
   * goes whoever collects.
   */
  async collect(valid: Attachment[], options: CollectOptions): Promise<Allocation[]> {
    const keep = new Set(valid.map((a) => `${a.containerID}\n${a.ifname}`));
    const { owner, range, whileLocked } = options;
    await this.ensureDir();
    // Under the store lock, as allocate: without it an ADD could release-and-reuse an address
    // between GC's listing and its unlink, and GC would delete the new owner's allocation.
    const stale = await withFileLock(join(this.dir, LOCK), async () => {
      const all = await this.list();
      const isStale = (a: Allocation): boolean =>
        a.containerID === '' ||
        (range !== undefined && !inRange(range, parseIpv4(a.ip) ?? 0)) ||
        (a.owner === owner && !keep.has(`${a.containerID}\n${a.ifname}`));
      const found = all.filter(isStale);
      for (const a of found) await unlink(join(this.dir, a.ip)).catch(() => undefined);
      await whileLocked?.(all.filter((a) => !isStale(a)), found);
      return found;
    });
    await sweepLockLeftovers(join(this.dir, LOCK));
    return stale;
  }
}
