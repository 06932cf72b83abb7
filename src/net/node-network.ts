import type { V1Node } from '@kubernetes/client-node';
import { join } from 'node:path';
import { type BridgeSpec, bridgeProblem, ensureBridge } from '../../cni/bridge.ts';
import { HOST_VETH_PREFIX } from '../../cni/pod-link.ts';
import type { AgentConfig } from '../config/types.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { formatIpv4, parseCidr } from '../util/cidr.ts';
import { ensureLoopbackPlugin, installCni } from './cni-install.ts';
import { installPodRules } from './masquerade.ts';
import { Rtnl } from './netlink/rtnl.ts';
import { planPeers, type NodeNet } from './peer-plan.ts';
import { networkUnavailableCondition, peerHealth, peerProblem, type NetworkProblem, type PeerHealth } from './network-health.ts';
import { enableIpForward, MissingDeviceError, PeerProgrammer, readIpForward } from './peer-programmer.ts';
import { BRIDGE_NAME, pluginNetConf, type InProcessCniNetwork } from './pod-network.ts';
import { findUnderlay, VXLAN_OVERHEAD } from './vxlan-device.ts';

/**
 * The node's side of the pod network: the pod bridge for this node's pod CIDR, the plugin and its
 * conflist installed, IP forwarding and the masquerade rules, and the routes (host-gw) or VXLAN
 * tunnel entries (vxlan) to every other node's pod CIDR.
 *
 * The pod CIDR is the Node's spec.podCIDR (assigned by the controller manager's node IPAM), or the
 * configured one when the control plane assigns none. Peers come from the Node objects: their
 * InternalIP, spec.podCIDR and, in vxlan mode, the VTEP MAC they publish in an annotation.
 */

export const VTEP_MAC_ANNOTATION = 'node-agent.io/vtep-mac';

export interface NodeNetworkDeps {
  config: AgentConfig;
  log: Logger;
  pods: InProcessCniNetwork;
}

export function nodeNetOf(node: V1Node): NodeNet {
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
  const mac = node.metadata?.annotations?.[VTEP_MAC_ANNOTATION];
  return { name: node.metadata?.name ?? '', nodeIP: ip, podCIDR: node.spec?.podCIDR ?? '', ...(mac ? { vtepMac: mac } : {}) };
}

export class NodeNetwork {
  private readonly deps: NodeNetworkDeps;
  private readonly rtnl = new Rtnl();
  private podCIDR: string | undefined;
  /** The bridge as the last set-up made it, for the health check to compare with. */
  private bridgeSpec: BridgeSpec | undefined;
  private programmer: PeerProgrammer | undefined;
  private peers: NodeNet[] = [];
  private syncing: Promise<void> | undefined;
  private resync = false;
  /** Publishes this node's VTEP MAC (a Node annotation patch); unset in standalone mode. */
  publishVtepMac: ((mac: string) => Promise<void>) | undefined;
  readonly stats = { peerSyncs: 0, lastSync: '', vtepMac: '', podCIDR: '', mtu: 0 };

  constructor(deps: NodeNetworkDeps) {
    this.deps = deps;
  }

  close(): void {
    this.rtnl.close();
  }

  private queue: Promise<unknown> = Promise.resolve();

  /** Configuration and peer syncs never overlap: both change the same devices and routes. */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Why the last set-up failed, while no set-up has succeeded. */
  private lastFailure: string | undefined;

  /** Sets the node up for `podCIDR`; called at start and whenever the Node's podCIDR changes. */
  configure(podCIDR: string): Promise<void> {
    return this.serialized(async () => {
      try {
        await this.configureNow(podCIDR);
        this.lastFailure = undefined;
      } catch (err) {
        this.lastFailure = err instanceof Error ? err.message : String(err);
        throw err;
      }
    });
  }

  /**
   * Why pods cannot get a network yet, in kubelet's words, or undefined once they can: the node
   * has its podCIDR, the bridge and the CNI config. Until then the Node is not Ready and pods
   * wait (kubelet's NetworkPluginNotReady).
   */
  notReadyMessage(): string | undefined {
    if (this.podCIDR !== undefined) return undefined;
    return `network plugin not ready: cni config uninitialized${this.lastFailure ? ` (pod network set-up failed: ${this.lastFailure})` : ''}`;
  }

  /**
   * What is missing of the pod network, read from the kernel and changing nothing: the bridge and
   * its gateway, IP forwarding, and every peer's route (host-gw) or VXLAN entries. Undefined
   * while the network is not set up at all (Ready says so).
   */
  healthProblems(): Promise<NetworkProblem[] | undefined> {
    return this.serialized(async () => {
      const { bridgeSpec, programmer } = this;
      if (bridgeSpec === undefined || !programmer) return undefined;
      const problems: NetworkProblem[] = [];
      const bridge = await bridgeProblem(this.rtnl, bridgeSpec);
      if (bridge) problems.push({ reason: bridge.endsWith('does not exist') ? 'BridgeMissing' : 'BridgeMisconfigured', message: bridge });
      const forwarding = await readIpForward();
      if (forwarding !== '1') problems.push({ reason: 'IPForwardDisabled', message: `net.ipv4.ip_forward is ${forwarding || 'unreadable'}: the node does not forward pod traffic` });
      try {
        for (const action of await programmer.missing(this.peers)) problems.push(peerProblem(action));
      } catch (err) {
        if (!(err instanceof MissingDeviceError)) throw err;
        problems.push({ reason: 'VxlanDeviceMissing', message: `${err.message}: no tunnel to any peer` });
      }
      return problems;
    });
  }

  /** Every peer with how it is reached and whether the kernel has all of it, for `node-agent report`. */
  peerReport(): Promise<{ mode: string; podCIDR: string | undefined; peers: PeerHealth[] }> {
    return this.serialized(async () => {
      const mode = this.deps.config.network.mode;
      const { programmer } = this;
      if (!programmer) return { mode, podCIDR: this.podCIDR, peers: [] };
      try {
        const { plan, missing, conflicts } = await programmer.health(this.peers);
        return { mode, podCIDR: this.podCIDR, peers: peerHealth(this.peers, plan, missing, conflicts) };
      } catch (err) {
        if (!(err instanceof MissingDeviceError)) throw err;
        // No device to read entries from: plan without it, and every planned peer is cut off.
        const plan = planPeers(programmer.mode, programmer.local, this.peers);
        return { mode, podCIDR: this.podCIDR, peers: peerHealth(this.peers, plan, [], [], err.message) };
      }
    });
  }

  /** NetworkUnavailable from healthProblems, or undefined while the network is not set up. */
  async healthCondition() {
    const problems = await this.healthProblems();
    return problems === undefined ? undefined : networkUnavailableCondition(problems);
  }

  /**
   * Sets everything up again for the same pod CIDR: the bridge (pods' host veths, which a deleted
   * bridge let go, are attached to it again), forwarding, rules, the VXLAN device and every peer.
   */
  repair(): Promise<void> {
    return this.serialized(async () => {
      if (this.podCIDR === undefined) return;
      await this.configureNow(this.podCIDR, true);
    });
  }

  private async configureNow(podCIDR: string, force = false): Promise<void> {
    const { config, log } = this.deps;
    if (podCIDR === this.podCIDR && !force) return;
    const cidr = parseCidr(podCIDR);
    if (!cidr.ok) throw new Error(`pod CIDR ${podCIDR}: ${cidr.error}`);
    const underlay = await findUnderlay(this.rtnl, config.nodeIP);
    const uplinkMtu = config.network.mtu || underlay.mtu;
    const vxlan = config.network.mode === 'vxlan';
    // Pods must fit their packets in the tunnel, or large ones vanish.
    const mtu = vxlan ? uplinkMtu - VXLAN_OVERHEAD : uplinkMtu;
    const gateway = formatIpv4(cidr.cidr.network + 1);
    const conf = pluginNetConf(config, { subnet: podCIDR, mtu });
    const bridgeSpec: BridgeSpec = { name: BRIDGE_NAME, gateway, prefix: cidr.cidr.prefix, mtu };
    const bridge = await ensureBridge(this.rtnl, bridgeSpec);
    if (bridge.repaired.length > 0) log.warn({ bridge: BRIDGE_NAME, removed: bridge.repaired, gateway }, 'pod bridge carried another subnet; repaired');
    // Pods' host ends with no bridge: the bridge was deleted under them and made again.
    for (const link of await this.rtnl.links()) {
      if (link.name.startsWith(HOST_VETH_PREFIX) && !link.master) {
        await this.rtnl.setMaster(link.index, bridge.link.index);
        await this.rtnl.setUp(link.index);
        log.warn({ veth: link.name, bridge: BRIDGE_NAME }, 'pod veth was off the bridge; attached again');
      }
    }
    this.deps.pods.reconfigure(conf);
    const installed = await installCni(config.directories, conf, { disableGC: config.network.disableGC });
    if (config.runtime.type === 'containerd') {
      const loopback = await ensureLoopbackPlugin(config.directories.cniBin);
      if (loopback.problem) log.error(loopback.problem);
      else if (loopback.linked) log.info({ plugin: join(config.directories.cniBin, 'loopback') }, 'linked the reference loopback CNI plugin for containerd');
    }
    await enableIpForward();
    await installPodRules(podCIDR, config.clusterCIDR ?? podCIDR);
    this.programmer = new PeerProgrammer(
      this.rtnl,
      vxlan ? 'vxlan' : 'host-gw',
      { name: config.nodeName, nodeIP: config.nodeIP, podCIDR, ...(config.clusterCIDR ? { clusterCIDR: config.clusterCIDR } : {}) },
      log,
      { stateDir: join(config.directories.root, 'network'), port: config.network.vxlanPort },
    );
    if (vxlan) {
      const device = await this.programmer.ensureDevice();
      if (device) {
        this.stats.vtepMac = device.mac;
        await this.publishVtepMac?.(device.mac);
      }
    }
    this.podCIDR = podCIDR;
    this.bridgeSpec = bridgeSpec;
    Object.assign(this.stats, { podCIDR, mtu });
    log.info({ podCIDR, gateway, mtu, mode: config.network.mode, plugin: installed.plugin, conflist: installed.conflist }, 'pod network ready');
    await this.syncPeersNow();
  }

  /** The other nodes as the apiserver shows them; programs the difference. */
  setPeers(nodes: V1Node[]): void {
    this.peers = nodes.map(nodeNetOf).filter((n) => n.name !== this.deps.config.nodeName);
    this.kick();
  }

  /** Runs a sync now, or right after the running one: never two at once, never a lost change. */
  kick(): void {
    if (this.syncing) {
      this.resync = true;
      return;
    }
    this.syncing = this.serialized(() => this.syncPeersNow())
      .catch((err: unknown) => this.deps.log.warn({ err: describeError(err) }, 'peer sync failed'))
      .finally(() => {
        this.syncing = undefined;
        if (this.resync) {
          this.resync = false;
          this.kick();
        }
      });
  }

  private async syncPeersNow(): Promise<void> {
    if (!this.programmer) return;
    const summary = await this.programmer.sync(this.peers);
    this.stats.peerSyncs++;
    this.stats.lastSync = new Date().toISOString();
    if (summary.actions.length > 0) {
      this.deps.log.info({ actions: summary.actions, failed: summary.failed, ms: Math.round(summary.durationMs) }, 'peer routes updated');
    }
  }
}
