import { parseCidr } from '../src/util/cidr.ts';
import { Rtnl } from '../src/net/netlink/rtnl.ts';
import { type BridgeSpec, bridgeProblem, ensureBridge } from './bridge.ts';
import { parseNetConf } from './conf.ts';
import { parseCniEnv } from './env.ts';
import { ipRange, nextFreeIp } from './ip-range.ts';
import { IpamStore } from './ipam-store.ts';
import { runIpInNetns } from './netns-ip.ts';
import { HOST_VETH_PREFIX, attachPod, detachPod, hostVethName, withNetns } from './pod-link.ts';
import {
  type BridgeNetConf,
  type CniEnv,
  type CniOutput,
  type CniResult,
  CniCode,
  CniError,
  SUPPORTED_VERSIONS,
  cniVersionOf,
  errorJson,
} from './types.ts';

/**
 * The plugin's six commands. `runCni` takes exactly what an exec'd plugin gets (environment and
 * stdin) and returns what it would print and its exit code, so the agent can run the very same
 * path in-process (as dockershim did for Docker sandboxes) and the exec'd binary is a thin shell
 * around it.
 */

export interface CniDeps {
  /** A long-lived rtnetlink socket (the agent's); otherwise one is opened for the call. */
  rtnl?: Rtnl;
}

function bridgeSpec(conf: BridgeNetConf): BridgeSpec {
  const parsed = parseCidr(conf.subnet);
  if (!parsed.ok) throw new CniError(CniCode.InvalidConfig, parsed.error);
  return { name: conf.bridge, gateway: conf.gateway, prefix: parsed.cidr.prefix, mtu: conf.mtu };
}

async function add(rtnl: Rtnl, conf: BridgeNetConf, env: CniEnv): Promise<CniResult> {
  const spec = bridgeSpec(conf);
  const range = ipRange(conf.subnet, conf.gateway);
  const store = new IpamStore(conf.dataDir, conf.name);
  const attachment = { containerID: env.containerID, ifname: env.ifname };
  const bridge = await ensureBridge(rtnl, spec);
  const ip = await store.allocate(attachment, range, conf.owner);
  try {
    const link = await attachPod(rtnl, {
      ...attachment,
      netnsPath: env.netns,
      bridgeIndex: bridge.link.index,
      ip,
      prefix: spec.prefix,
      gateway: conf.gateway,
      mtu: conf.mtu,
    });
    return {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: conf.bridge, mac: bridge.link.mac },
        { name: link.hostVeth, mac: link.hostMac },
        { name: env.ifname, mac: link.podMac, sandbox: env.netns },
      ],
      ips: [{ address: `${ip}/${spec.prefix}`, gateway: conf.gateway, interface: 2 }],
      routes: [{ dst: '0.0.0.0/0', gw: conf.gateway }],
      dns: conf.dns,
    };
  } catch (err) {
    // Leave nothing behind: the address and the half-made pair go back.
    await detachPod(rtnl, env.containerID, env.ifname).catch(() => false);
    await store.release(attachment);
    throw err;
  }
}

async function del(rtnl: Rtnl, conf: BridgeNetConf, env: CniEnv): Promise<void> {
  // Everything here tolerates "already gone": DEL must succeed when called twice, or after the
  // netns, the interface or the allocation have disappeared.
  await detachPod(rtnl, env.containerID, env.ifname);
  await new IpamStore(conf.dataDir, conf.name).release({ containerID: env.containerID, ifname: env.ifname });
}

async function check(rtnl: Rtnl, conf: BridgeNetConf, env: CniEnv): Promise<void> {
  const prev = conf.prevResult;
  const prevIp = prev?.ips?.[0]?.address;
  if (!prevIp) throw new CniError(CniCode.InvalidConfig, 'CHECK needs prevResult with the address ADD returned');
  const [ip = '', prefixText = ''] = prevIp.split('/');
  const fail = (msg: string): CniError => new CniError(CniCode.CheckFailed, msg);

  const allocation = await new IpamStore(conf.dataDir, conf.name).find({
    containerID: env.containerID,
    ifname: env.ifname,
  });
  if (!allocation) throw fail(`no allocation recorded for ${env.containerID}/${env.ifname}`);
  if (allocation.ip !== ip) throw fail(`allocation is ${allocation.ip} but prevResult says ${ip}`);

  const problem = await bridgeProblem(rtnl, bridgeSpec(conf));
  if (problem) throw fail(problem);
  const bridge = await rtnl.linkByName(conf.bridge);
  const host = await rtnl.linkByName(hostVethName(env.containerID, env.ifname));
  if (!host) throw fail(`host veth ${hostVethName(env.containerID, env.ifname)} is missing`);
  if (host.master !== bridge?.index) throw fail(`host veth ${host.name} is not attached to ${conf.bridge}`);

  const [shown, route] = await withNetns(env.netns, async (netns) => [
    await runIpInNetns(netns, ['-j', '-4', 'addr', 'show', 'dev', env.ifname]),
    await runIpInNetns(netns, ['-j', '-4', 'route', 'show', 'default']),
  ]);
  if (shown.code !== 0) throw fail(`interface ${env.ifname} is missing in ${env.netns}: ${shown.stderr}`);
  const parsed = JSON.parse(shown.stdout || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  const addrs = parsed.flatMap((l) => l.addr_info ?? []);
  if (!addrs.some((a) => a.local === ip && String(a.prefixlen) === prefixText)) {
    const found = addrs.map((a) => `${a.local ?? '?'}/${a.prefixlen ?? '?'}`).join(', ') || 'none';
    throw fail(`interface ${env.ifname} should hold ${prevIp} but holds ${found}`);
  }
  const routes = JSON.parse(route.stdout || '[]') as { gateway?: string }[];
  if (!routes.some((r) => r.gateway === conf.gateway)) throw fail(`default route via ${conf.gateway} is missing`);
}

async function status(rtnl: Rtnl, conf: BridgeNetConf): Promise<void> {
  const problem = await bridgeProblem(rtnl, bridgeSpec(conf));
  // Without the bridge, existing pods are cut off too: the spec's "limited connectivity".
  if (problem) throw new CniError(CniCode.LimitedConnectivity, problem);
  const store = new IpamStore(conf.dataDir, conf.name);
  const used = new Set((await store.list()).map((a) => a.ip));
  if (nextFreeIp(ipRange(conf.subnet, conf.gateway), used) === undefined) {
    throw new CniError(CniCode.PluginNotAvailable, `no free address left in ${conf.subnet}`);
  }
}

async function gc(rtnl: Rtnl, conf: BridgeNetConf): Promise<void> {
  if (!conf.validAttachments) {
    throw new CniError(CniCode.InvalidConfig, 'GC needs cni.dev/valid-attachments (an empty list to remove everything)');
  }
  const store = new IpamStore(conf.dataDir, conf.name);
  await store.collect(conf.validAttachments, {
    owner: conf.owner,
    whileLocked: async (remaining, removed) => {
      for (const a of removed) await detachPod(rtnl, a.containerID, a.ifname);
      // Every ADD allocates before it creates the pair, so a host end on the bridge with no
      // allocation at all lost its address record (a failed release, a wiped store): its pod end
      // may hold an address that is free to be handed out again. Host ends of allocations that
      // remain, this owner's valid ones and other owners' alike, are left alone: they lead into
      // sandboxes that are alive for somebody.
      const held = new Set(remaining.map((a) => hostVethName(a.containerID, a.ifname)));
      const bridge = await rtnl.linkByName(conf.bridge);
      if (!bridge) return;
      for (const link of await rtnl.links()) {
        if (link.master === bridge.index && link.name.startsWith(HOST_VETH_PREFIX) && !held.has(link.name)) {
          await rtnl.deleteLink(link.name);
        }
      }
    },
  });
}

export async function runCni(
  envVars: Record<string, string | undefined>,
  stdin: string,
  deps: CniDeps = {},
): Promise<CniOutput> {
  const version = cniVersionOf(stdin);
  let rtnl = deps.rtnl;
  try {
    const env = parseCniEnv(envVars);
    if (env.command === 'VERSION') {
      return { exitCode: 0, stdout: JSON.stringify({ cniVersion: version, supportedVersions: SUPPORTED_VERSIONS }) };
    }
    const conf = parseNetConf(stdin, { requireSubnet: env.command !== 'DEL' && env.command !== 'GC' });
    rtnl ??= new Rtnl();
    switch (env.command) {
      case 'ADD':
        return { exitCode: 0, stdout: JSON.stringify(await add(rtnl, conf, env)) };
      case 'DEL':
        await del(rtnl, conf, env);
        return { exitCode: 0, stdout: '' };
      case 'CHECK':
        await check(rtnl, conf, env);
        return { exitCode: 0, stdout: '' };
      case 'STATUS':
        await status(rtnl, conf);
        return { exitCode: 0, stdout: '' };
      case 'GC':
        await gc(rtnl, conf);
        return { exitCode: 0, stdout: '' };
      default:
        throw new CniError(CniCode.InvalidEnvironment, `unhandled command ${String(env.command)}`);
    }
  } catch (err) {
    const cniErr =
      err instanceof CniError ? err : new CniError(CniCode.KernelFailure, (err as Error).message ?? String(err));
    return { exitCode: 1, stdout: errorJson(version, cniErr) };
  } finally {
    if (rtnl && rtnl !== deps.rtnl) rtnl.close();
  }
}
