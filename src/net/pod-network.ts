import { join } from 'node:path';
import { runCni } from '../../cni/commands.ts';
import { IpamStore } from '../../cni/ipam-store.ts';
import { CniCode, PLUGIN_TYPE, type CniOutput, type CniResult } from '../../cni/types.ts';
import { AgentError, ErrorCode } from '../errors.ts';
import { Rtnl } from './netlink/rtnl.ts';

/**
 * Pod networking for runtimes that do not call CNI themselves (the Docker backend, as dockershim
 * did): the runtime asks for a sandbox's network to be set up once its pause container runs, and
 * torn down before it stops. The work is the CNI plugin's own code run in-process with the same
 * configuration the exec'd plugin gets, so both paths behave the same and the agent pays no
 * process start per pod.
 */

export interface SandboxNetworkRef {
  sandboxId: string;
  netnsPath: string;
  pod: { name: string; namespace: string; uid: string };
}

export interface PodNetwork {
  setUp(ref: SandboxNetworkRef): Promise<{ ip: string }>;
  /** Idempotent: safe when already torn down or when the netns is gone. */
  tearDown(sandboxId: string, netnsPath: string): Promise<void>;
  /** The pod IP of a sandbox, from the allocations on disk (cached). */
  ipOf(sandboxId: string): string;
  /**
   * Releases every allocation and interface of this network's owner whose sandbox is not in `live`
   * (CNI GC); nothing when the conflist says disableGC.
   */
  collect(liveSandboxIds: string[]): Promise<{ removed: number }>;
  /**
   * CNI CHECK of a running sandbox's attachment. Returns what is wrong (and forgets the sandbox's
   * IP, so the sandbox reads as not ready and gets replaced), or undefined when all is in place.
   * This is how a set-up cut short by an agent crash is found after a restart.
   */
  verify(sandboxId: string, netnsPath: string): Promise<string | undefined>;
}

export const POD_IFNAME = 'eth0';
export const NETWORK_NAME = 'node-agent';
export const BRIDGE_NAME = 'cni0';

/** The network configuration handed to the plugin (the conflist's single plugin entry). */
export interface PluginNetConf {
  cniVersion: string;
  name: string;
  type: string;
  bridge: string;
  subnet: string;
  mtu: number;
  dataDir: string;
  /** Where the agent takes calls from the exec'd plugin (cni/forward.ts). */
  agentSocket: string;
  [key: string]: unknown;
}

/** The agent's socket for the exec'd plugin, under its root directory (one per agent in the lab). */
export function agentSocketPath(root: string): string {
  return join(root, 'cni.sock');
}

/**
 * The owner recorded with the allocations the Docker backend makes (BridgeNetConf.owner). Those the
 * exec'd plugin makes for containerd's CRI carry none. Each backend's GC then frees only its own,
 * so a Docker-backend agent on a node where containerd's CRI also uses the conflist (or the other
 * way round) never takes the other's addresses and interfaces.
 */
export const DOCKER_BACKEND_OWNER = 'node-agent-docker';

export interface InProcessCniOptions {
  /** Recorded with each allocation made here, and the only allocations GC from here judges. */
  owner: string;
  /** The conflist's disableGC: the runtime must not call GC (libcni's rule), so collect does nothing. */
  disableGC: boolean;
}

export class InProcessCniNetwork implements PodNetwork {
  private readonly rtnl = new Rtnl();
  private readonly ips = new Map<string, string>();
  private conf: PluginNetConf;
  private readonly options: InProcessCniOptions;

  constructor(conf: PluginNetConf, options: InProcessCniOptions = { owner: '', disableGC: false }) {
    this.conf = conf;
    this.options = options;
  }

  /** Loads existing allocations so a restarted agent knows the IPs of the sandboxes it adopts. */
  async load(): Promise<void> {
    const store = new IpamStore(this.conf.dataDir, this.conf.name);
    for (const a of await store.list()) if (a.ifname === POD_IFNAME) this.ips.set(a.containerID, a.ip);
  }

  /** A new pod CIDR (or MTU) applies to pods set up from now on. */
  reconfigure(conf: PluginNetConf): void {
    this.conf = conf;
  }

  close(): void {
    this.rtnl.close();
  }

  /**
   * A call forwarded by the exec'd plugin (see cni-server.ts): its own configuration and
   * environment, run with this agent's netlink socket.
   */
  runForwarded(env: Record<string, string>, stdin: string): Promise<CniOutput> {
    return runCni(env, stdin, { rtnl: this.rtnl });
  }

  private async call(command: string, env: Record<string, string>, extra: Record<string, unknown> = {}): Promise<string> {
    const owner = this.options.owner ? { owner: this.options.owner } : {};
    const out = await runCni({ CNI_COMMAND: command, CNI_PATH: '', ...env }, JSON.stringify({ ...this.conf, ...owner, ...extra }), {
      rtnl: this.rtnl,
    });
    if (out.exitCode !== 0) {
      const err = JSON.parse(out.stdout) as { code: number; msg: string; details?: string };
      const text = `plugin ${this.conf.type} failed (${command}, code ${err.code}): ${err.msg}${err.details ? `: ${err.details}` : ''}`;
      throw new AgentError(ErrorCode.NetworkSetUp, text, { reason: err.code === CniCode.RangeFull ? 'IPExhausted' : 'NetworkSetUpFailed' });
    }
    return out.stdout;
  }

  async setUp(ref: SandboxNetworkRef): Promise<{ ip: string }> {
    if (!this.conf.subnet) {
      throw new AgentError(
        ErrorCode.NetworkSetUp,
        'network is not ready: this node has no pod CIDR (Node spec.podCIDR is empty and podCIDR is not configured); ' +
          'let the controller manager assign one (--allocate-node-cidrs), set --pod-cidr, or run with --network none',
        { reason: 'NetworkNotReady' },
      );
    }
    const args = `IgnoreUnknown=1;K8S_POD_NAMESPACE=${ref.pod.namespace};K8S_POD_NAME=${ref.pod.name};K8S_POD_INFRA_CONTAINER_ID=${ref.sandboxId};K8S_POD_UID=${ref.pod.uid}`;
    const stdout = await this.call('ADD', {
      CNI_CONTAINERID: ref.sandboxId,
      CNI_NETNS: ref.netnsPath,
      CNI_IFNAME: POD_IFNAME,
      CNI_ARGS: args,
    });
    const result = JSON.parse(stdout) as CniResult;
    const ip = result.ips[0]?.address.split('/')[0] ?? '';
    this.ips.set(ref.sandboxId, ip);
    return { ip };
  }

  async tearDown(sandboxId: string, netnsPath: string): Promise<void> {
    await this.call('DEL', { CNI_CONTAINERID: sandboxId, CNI_NETNS: netnsPath, CNI_IFNAME: POD_IFNAME });
    this.ips.delete(sandboxId);
  }

  ipOf(sandboxId: string): string {
    return this.ips.get(sandboxId) ?? '';
  }

  async verify(sandboxId: string, netnsPath: string): Promise<string | undefined> {
    const ip = this.ips.get(sandboxId);
    if (!ip) return 'no address was allocated';
    const prevResult = { cniVersion: this.conf.cniVersion, ips: [{ address: `${ip}/${this.conf.subnet.split('/')[1] ?? ''}` }] };
    try {
      await this.call('CHECK', { CNI_CONTAINERID: sandboxId, CNI_NETNS: netnsPath, CNI_IFNAME: POD_IFNAME }, { prevResult });
      return undefined;
    } catch (err) {
      this.ips.delete(sandboxId);
      return err instanceof Error ? err.message : String(err);
    }
  }

  async collect(liveSandboxIds: string[]): Promise<{ removed: number }> {
    if (this.options.disableGC) return { removed: 0 };
    const store = new IpamStore(this.conf.dataDir, this.conf.name);
    const before = (await store.list()).length;
    const attachments = liveSandboxIds.map((containerID) => ({ containerID, ifname: POD_IFNAME }));
    await this.call('GC', {}, { 'cni.dev/valid-attachments': attachments });
    const live = new Set(liveSandboxIds);
    for (const id of [...this.ips.keys()]) if (!live.has(id)) this.ips.delete(id);
    return { removed: before - (await store.list()).length };
  }
}

/**
 * The plugin configuration for this node: what the conflist says and what the in-process calls
 * use. Before the node has a pod CIDR the subnet is empty, so ADD says why it cannot proceed.
 */
export function pluginNetConf(
  config: { directories: { root: string }; clusterDNS: string[] },
  network: { subnet: string; mtu: number } = { subnet: '', mtu: 1500 },
): PluginNetConf {
  return {
    cniVersion: '1.0.0',
    name: NETWORK_NAME,
    type: PLUGIN_TYPE,
    bridge: BRIDGE_NAME,
    subnet: network.subnet,
    mtu: network.mtu,
    dataDir: join(config.directories.root, 'cni', 'networks'),
    agentSocket: agentSocketPath(config.directories.root),
    ...(config.clusterDNS.length > 0 ? { dns: { nameservers: config.clusterDNS } } : {}),
  };
}
