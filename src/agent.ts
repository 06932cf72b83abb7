import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { AgentConfig } from './config/types.ts';
import type { Registry } from 'prom-client';
import { startHealthz } from './healthz.ts';
import { agentMetrics } from './metrics/agent-metrics.ts';
import { KubeletMetrics } from './metrics/kubelet-metrics.ts';
import { instrumentRuntime } from './runtime/instrumented-runtime.ts';
import { SummaryReader } from './stats/summary-reader.ts';
import type { Logger } from './log/logger.ts';
import { loadKubeconfig, serverOf } from './kube/kubeconfig.ts';
import { ClientNodeApi } from './kube/node-api.ts';
import { ClientPodApi } from './kube/pod-api.ts';
import { ApiEventRecorder, nullRecorder } from './kube/event-recorder.ts';
import { KernelMonitor } from './problems/kernel-monitor.ts';
import { CustomPluginMonitor } from './problems/custom-plugin-monitor.ts';
import { loadCustomPluginMonitors, loadKernelRules } from './problems/load-monitor-files.ts';
import { ProblemReporter } from './problems/problem-reporter.ts';
import { NetworkMonitor } from './problems/network-monitor.ts';
import { CONTAINERD_RESTARTS, DOCKER_RESTARTS, RestartMonitor } from './problems/restart-monitor.ts';
import { RuntimeRestartMonitor } from './problems/runtime-restart-monitor.ts';
import { findDaemonStart } from './runtime/daemon-start.ts';
import { socketPathOfEndpoint } from './runtime/endpoint.ts';
import { runMonitors } from './problems/run-monitors.ts';
import { Reflector } from './kube/reflector.ts';
import { NodeLeaseController } from './node/lease-controller.ts';
import { readMachineInfo, readMachineUsage } from './node/machine-info.ts';
import { ensureDataDirs } from './node/data-dirs.ts';
import { ImageFsLocator } from './node/image-fs.ts';
import { registerNode } from './node/registration.ts';
import { NodeStatusManager } from './node/status-manager.ts';
import { createPodStack, type PodStack } from './pods/pod-stack.ts';
import { startKubeletServer } from './server/start-kubelet-server.ts';
import type { KubeletServer } from './server/kubelet-server.ts';
import { createRuntime } from './runtime/create-runtime.ts';
import { formatRuntimeVersion } from './runtime/types.ts';
import { describeError } from './errors.ts';
import { agentVersion } from './version.ts';
import { NodeNetwork, VTEP_MAC_ANNOTATION } from './net/node-network.ts';
import { CniServer } from './net/cni-server.ts';
import { agentSocketPath, DOCKER_BACKEND_OWNER, InProcessCniNetwork, pluginNetConf } from './net/pod-network.ts';
import { sleep } from './util/sleep.ts';

/**
 * The agent's main loop: wires the parts together and runs them until `signal` aborts. Throws
 * only for what a restart cannot fix (a broken kubeconfig); everything else is retried inside.
 * Pods keep running when the agent stops, as with the kubelet: a restarted agent adopts them.
 */
export async function runAgent(config: AgentConfig, log: Logger, signal: AbortSignal): Promise<void> {
  // First, before the CNI socket and any pod file appear below it: the root and pods directories 0750.
  await ensureDataDirs(config.directories.root);
  // Pod networking: the CNI plugin's code in-process for the Docker backend (as dockershim did);
  // containerd's CRI plugin execs the installed plugin instead, which hands its calls to the agent.
  const podNetwork =
    config.network.mode === 'none'
      ? undefined
      : new InProcessCniNetwork(pluginNetConf(config), {
          owner: config.runtime.type === 'docker' ? DOCKER_BACKEND_OWNER : '',
          disableGC: config.network.disableGC,
        });
  if (podNetwork && config.network.disableGC) log.info('CNI GC is off (network.disableGC): addresses of sandboxes that are gone are not reclaimed');
  await podNetwork?.load();
  // Calls from the exec'd plugin (containerd's CRI, any other CNI caller) are served here, with
  // the same code and netlink socket; without the agent the plugin runs them itself.
  const cniServer = podNetwork
    ? new CniServer({ path: agentSocketPath(config.directories.root), run: (env, stdin) => podNetwork.runForwarded(env, stdin), log })
    : undefined;
  try {
    await cniServer?.start();
  } catch (err) {
    log.warn({ socket: agentSocketPath(config.directories.root), err: describeError(err) }, 'cannot listen for the exec\'d CNI plugin; it will do its work itself (slower)');
  }
  // Every runtime call timed and counted (kubelet_runtime_operations_*), whoever makes it.
  const kubeletMetrics = new KubeletMetrics();
  const runtime = instrumentRuntime(createRuntime(config.runtime, { nodeName: config.nodeName, rootDir: config.directories.root, ...(podNetwork ? { network: podNetwork } : {}), log }), kubeletMetrics.runtime);
  kubeletMetrics.countContainersFrom(() => runtime.listSummaries());
  const machine = await readMachineInfo();
  let runtimeName = config.runtime.type;
  try {
    const version = await runtime.version();
    runtimeName = version.runtimeName as typeof runtimeName;
    log.info({ runtime: formatRuntimeVersion(version) }, 'container runtime answers');
  } catch (err) {
    log.error(describeError(err));
  }

  const stats: Record<string, unknown> = { node: config.nodeName, version: agentVersion, standalone: config.standalone };
  const nodeNetwork = podNetwork ? new NodeNetwork({ config, log, pods: podNetwork }) : undefined;
  if (nodeNetwork) stats['network'] = nodeNetwork.stats;
  if (cniServer) stats['cniServer'] = cniServer.stats;
  const networkNotReady = nodeNetwork ? () => nodeNetwork.notReadyMessage() : undefined;
  /** Told when the pod network becomes ready: the Node's Ready and the pods that waited follow. */
  let onNetworkReady = (): void => {};
  /** Sets the node's pod network up for a CIDR; failures are logged and retried at the next change or resync. */
  const configureNetwork = async (podCIDR: string | undefined): Promise<void> => {
    if (!nodeNetwork || !podCIDR) return;
    try {
      const wasReady = nodeNetwork.notReadyMessage() === undefined;
      await nodeNetwork.configure(podCIDR);
      if (!wasReady) onNetworkReady();
      const collected = await runtime.collectNetwork?.();
      if (collected?.released) log.info({ released: collected.released }, 'released addresses of sandboxes that are gone (CNI GC)');
      for (const b of collected?.broken ?? []) {
        log.warn({ sandbox: b.sandboxId.slice(0, 12), problem: b.problem }, 'sandbox network is not as set up (the agent stopped half-way?); the sandbox will be replaced');
      }
    } catch (err) {
      log.error({ podCIDR, err: describeError(err) }, 'pod network set-up failed; pods cannot get an IP until it succeeds');
    }
  };
  // Filled in once the parts it reads exist; a scrape before then gets 404.
  let metrics: Registry | undefined;
  let problemReporter: ProblemReporter | undefined;
  const healthz = await startHealthz({
    ...config.healthz,
    statusz: () => stats,
    metrics: () => metrics,
    documents: {
      '/network/peers': async () => (nodeNetwork ? nodeNetwork.peerReport() : { mode: config.network.mode, podCIDR: config.podCIDR, peers: [] }),
      '/problems': () => Promise.resolve(problemReporter ? { conditions: problemReporter.current(), recent: problemReporter.recent(), counts: Object.fromEntries(problemReporter.counts) } : { conditions: [], recent: [], counts: {} }),
    },
    log,
  });
  let kubeletServer: KubeletServer | undefined;
  /** The kubelet API; a port it cannot have is logged and the node runs on without it, as with /healthz. */
  const serveKubeletApi = async (kc: KubeConfig | undefined, pods: PodStack): Promise<KubeletServer | undefined> => {
    try {
      const summary = new SummaryReader({ nodeName: config.nodeName, rootDir: config.directories.root, runtime, pods: () => pods.manager.pods(), podStatus: (uid) => pods.statusSync.get(uid) });
      const probeMetrics = kubeletMetrics.probesRegistry({ node: config.nodeName });
      const observability = { metrics: () => metrics, probeMetrics: () => probeMetrics, summary: (o: { onlyCpuAndMemory: boolean }) => summary.summary(o) };
      const server = await startKubeletServer({ config, kc, runtime, pods: () => pods.manager.pods(), podStatus: (uid) => pods.statusSync.get(uid), observability, log });
      if (server) stats['kubeletApi'] = server.stats;
      return server;
    } catch (err) {
      log.error({ port: config.port, err: describeError(err) }, 'cannot serve the kubelet API; kubectl logs will not reach this node until the agent restarts');
      return undefined;
    }
  };
  try {
    if (config.standalone || config.kubeconfig === undefined) {
      log.info({ manifests: config.directories.manifests }, 'standalone mode: no apiserver; running static pods only');
      await configureNetwork(config.podCIDR);
      const pods = createPodStack({ config, runtime, runtimeName, kc: undefined, api: undefined, events: nullRecorder, nodeAllocatable: () => ({ cpu: String(machine.cpuCores), memory: String(machine.memoryBytes) }), ...(networkNotReady ? { networkNotReady } : {}), observers: { podStarts: kubeletMetrics.podStarts, probes: kubeletMetrics.prober }, log });
      Object.assign(stats, { pods: pods.stats });
      metrics = agentMetrics({ nodeName: config.nodeName, runningPods: () => pods.manager.pods().length, probeRuns: () => pods.probes.stats().runs, kubelet: kubeletMetrics });
      kubeletServer = await serveKubeletApi(undefined, pods);
      await pods.run(signal);
      return;
    }
    // A bad rules file stops the agent at once, before it registers, as a bad config does.
    const kernelRules = await loadKernelRules(config.problemDetector.kernelMonitor.rulesFile);
    const pluginMonitors = (await loadCustomPluginMonitors(config.problemDetector.customPluginMonitors)).map((rules) => new CustomPluginMonitor({ rules, log }));
    const kc = await loadKubeconfig(config.kubeconfig);
    const server = serverOf(kc);
    const api = new ClientNodeApi(kc);
    log.info({ server }, 'registering with the apiserver');
    const registered = await registerNode({ api, config, architecture: machine.architecture, server, log, signal });
    if (!registered) return;
    stats['registered'] = true;

    // Node events name the node by name as its uid too, as the kubelet's node reference does.
    const events = new ApiEventRecorder(kc, { component: 'node-agent', host: config.nodeName, log });
    // Problem monitors post as themselves (source.component kernel-monitor, ...), as NPD does.
    const monitorRecorders = new Map<string, ApiEventRecorder>();
    const eventsFor = (source: string): ApiEventRecorder => {
      let recorder = monitorRecorders.get(source);
      if (!recorder) monitorRecorders.set(source, (recorder = new ApiEventRecorder(kc, { component: source, host: config.nodeName, log })));
      return recorder;
    };
    const problems = new ProblemReporter({ nodeName: config.nodeName, eventsFor, onChange: () => status.kick() });
    problemReporter = problems;
    const networkMonitor = nodeNetwork
      ? new NetworkMonitor({ check: () => nodeNetwork.healthCondition(), repair: () => nodeNetwork.repair(), refresh: () => nodeNetwork.kick(), intervalMs: 10_000 })
      : undefined;
    const imageFs = new ImageFsLocator(runtime, log);
    const restartMonitor = new RestartMonitor({ path: join(config.directories.root, 'agent-starts') });
    const docker = config.runtime.type === 'docker';
    const runtimeRestartMonitor = new RuntimeRestartMonitor({
      subject: docker ? DOCKER_RESTARTS : CONTAINERD_RESTARTS,
      find: () => findDaemonStart(socketPathOfEndpoint(config.runtime.endpoint), docker ? 'dockerd' : 'containerd'),
      path: join(config.directories.root, docker ? 'docker-starts' : 'containerd-starts'),
    });
    const kernelMonitor = config.problemDetector.kernelMonitor.enabled
      ? new KernelMonitor({ rules: kernelRules, path: config.problemDetector.kernelMonitor.logPath, log })
      : undefined;
    events.record({ kind: 'Node', name: config.nodeName, uid: config.nodeName }, 'Normal', 'Starting', `Starting node-agent ${agentVersion}.`);
    const status = new NodeStatusManager(
      { api, config, agentVersion, machine, readUsage: async () => readMachineUsage(config.directories.root, await imageFs.path()), runtime, server, log, events, problemConditions: () => problems.current(), ...(networkNotReady ? { podNetworkNotReady: networkNotReady } : {}) },
      registered,
    );
    const lease = new NodeLeaseController({
      api,
      nodeName: config.nodeName,
      leaseDurationSeconds: config.nodeLeaseDurationSeconds,
      nodeUid: () => status.node?.metadata?.uid,
      server,
      log,
    });
    const pods = createPodStack({
      config,
      runtime,
      runtimeName,
      kc,
      api: new ClientPodApi(kc),
      events,
      nodeAllocatable: () => {
        const a = status.node?.status?.allocatable ?? {};
        return { cpu: a['cpu'] ?? String(machine.cpuCores), memory: a['memory'] ?? String(machine.memoryBytes) };
      },
      node: () => status.node,
      ...(networkNotReady ? { networkNotReady } : {}),
      observers: { podStarts: kubeletMetrics.podStarts, probes: kubeletMetrics.prober },
      log,
    });
    onNetworkReady = () => {
      status.kick();
      pods.manager.wakeAll();
    };
    pods.staticSource.setNodeUid(registered.metadata?.uid ?? '');
    const core = kc.makeApiClient(CoreV1Api);
    let podCIDR = registered.spec?.podCIDR ?? config.podCIDR;
    if (nodeNetwork) {
      nodeNetwork.publishVtepMac = async (mac) => {
        await api.patchNode(config.nodeName, { metadata: { annotations: { [VTEP_MAC_ANNOTATION]: mac } } });
      };
    }
    await configureNetwork(podCIDR);
    const onNode = (node: V1Node): void => {
      status.observe(node);
      const assigned = node.spec?.podCIDR;
      if (assigned && assigned !== podCIDR) {
        log.info({ podCIDR: assigned, previous: podCIDR }, 'pod CIDR assigned to this node');
        podCIDR = assigned;
        void configureNetwork(assigned);
      }
      stats['podCIDR'] = podCIDR;
    };
    const nodeWatch = new Reflector<V1Node>({
      kc,
      path: '/api/v1/nodes',
      fieldSelector: `metadata.name=${config.nodeName}`,
      list: async () => {
        const list = await core.listNode({ fieldSelector: `metadata.name=${config.nodeName}` });
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      handlers: {
        onSync: (items) => items.forEach(onNode),
        onEvent: (type, node) => {
          if (type !== 'DELETED') onNode(node);
          else log.warn('this node was deleted from the apiserver; it is registered again at the next restart');
        },
      },
      log,
    });
    // Every Node, for the routes (or tunnels) to the other nodes' pod CIDRs.
    const peers = new Map<string, V1Node>();
    const peerWatch = nodeNetwork
      ? new Reflector<V1Node>({
          kc,
          path: '/api/v1/nodes',
          list: async () => {
            const list = await core.listNode();
            return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
          },
          handlers: {
            onSync: (items) => {
              peers.clear();
              for (const n of items) peers.set(n.metadata?.name ?? '', n);
              nodeNetwork.setPeers([...peers.values()]);
            },
            onEvent: (type, node) => {
              if (type === 'DELETED') peers.delete(node.metadata?.name ?? '');
              else peers.set(node.metadata?.name ?? '', node);
              nodeNetwork.setPeers([...peers.values()]);
            },
          },
          log,
        })
      : undefined;
    // Entries deleted behind the agent's back come back at the next resync.
    const resync = async (): Promise<void> => {
      while (!signal.aborted) {
        await sleep(10_000, signal);
        if (signal.aborted) break;
        // A set-up that failed (a bridge or rule the kernel refused) is tried again.
        // Once it is up, the network monitor checks it, reports NetworkUnavailable and repairs it.
        if (nodeNetwork?.notReadyMessage() !== undefined) await configureNetwork(podCIDR);
      }
    };
    const allMonitors = [...(kernelMonitor ? [kernelMonitor] : []), restartMonitor, runtimeRestartMonitor, ...(networkMonitor ? [networkMonitor] : []), ...pluginMonitors];
    Object.assign(stats, {
      podCIDR,
      statusUpdates: status.stats,
      lease: lease.stats,
      nodeWatch: nodeWatch.stats,
      pods: pods.stats,
      events: () => events.stats(),
      problems: () => ({
        counts: Object.fromEntries(problems.counts),
        conditions: problems.current(),
        monitors: Object.fromEntries(allMonitors.flatMap((m) => ('stats' in m ? [[m.source, m.stats]] : []))),
      }),
    });
    metrics = agentMetrics({
      nodeName: config.nodeName,
      problems,
      runningPods: () => pods.manager.pods().length,
      nodeStatus: status.stats,
      lease: lease.stats,
      events: () => events.stats(),
      probeRuns: () => pods.probes.stats().runs,
      ...(nodeNetwork ? { peerSyncs: () => nodeNetwork.stats.peerSyncs } : {}),
      kubelet: kubeletMetrics,
    });
    kubeletServer = await serveKubeletApi(kc, pods);
    const monitors = runMonitors(allMonitors, problems, signal, log);
    await Promise.all([status.run(signal), lease.run(signal), nodeWatch.run(signal), pods.run(signal), peerWatch?.run(signal), resync(), monitors]);
  } finally {
    await kubeletServer?.close();
    nodeNetwork?.close();
    await cniServer?.close();
    podNetwork?.close();
    healthz?.close();
    await runtime.close();
  }
}
