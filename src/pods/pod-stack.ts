import { readFileSync } from 'node:fs';
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';
import type { AgentConfig } from '../config/types.ts';
import type { EventRecorder } from '../kube/event-recorder.ts';
import type { PodApi } from '../kube/pod-api.ts';
import type { Logger } from '../log/logger.ts';
import type { Runtime } from '../runtime/types.ts';
import { VolumeManager } from '../volumes/volume-manager.ts';
import { apiPodSource } from './api-source.ts';
import { PodManager } from './pod-manager.ts';
import { PodStatusSync } from './pod-status-sync.ts';
import { PodSyncer } from './pod-worker.ts';
import { StaticPodSource } from './static-source.ts';
import { admitPod } from './admission.ts';
import { parseResolvConf } from './dns-config.ts';
import { ProbeManager } from '../probes/probe-manager.ts';
import { unhealthyEvent } from '../probes/probe-events.ts';
import { runProbe } from '../probes/run-probe.ts';
import { CachingPodApi } from '../kube/caching-pod-api.ts';
import { ContainerLogLinks } from './container-log-links.ts';
import { describeError } from '../errors.ts';
import { sleep } from '../util/sleep.ts';
import { volumeObjectReferences } from '../volumes/references.ts';
import type { PodStartTracker } from '../metrics/pod-start-tracker.ts';
import type { ProbeObserver } from '../metrics/prober-metrics.ts';

/** The node's resolver and hosts files, read once at start; missing files mean empty settings. */
function readOptional(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Everything that runs pods, assembled: volumes, the syncer, the workers, the status writer and
 * the sources (static manifests always, the apiserver when there is one).
 */
export function createPodStack(options: {
  config: AgentConfig;
  runtime: Runtime;
  runtimeName: string;
  kc: KubeConfig | undefined;
  api: PodApi | undefined;
  events: EventRecorder;
  nodeAllocatable: () => { cpu: string; memory: string };
  /** This node as the apiserver last showed it (labels, taints, allocatable) for admission; undefined standalone. */
  node?: () => V1Node | undefined;
  /** Why pods cannot get a network yet, undefined once they can (see PodSyncDeps). */
  networkNotReady?: () => string | undefined;
  /** Where pod starts and probe results are reported (kubelet-metrics.ts). */
  observers?: { podStarts?: PodStartTracker; probes?: ProbeObserver };
  log: Logger;
}) {
  const { config, runtime, kc, events, log } = options;
  // The workers are made after the parts that need to wake them; those reach them late.
  const workers: { manager?: PodManager } = {};
  // ConfigMaps and Secrets through watches: no GET per pod sync, and a change rewrites the
  // volumes of the pods showing it at once.
  const cached = kc && options.api
    ? new CachingPodApi({
        kc,
        inner: options.api,
        onChange: (kind, namespace, name) => {
          for (const pod of workers.manager?.pods() ?? []) {
            if ((pod.metadata?.namespace ?? 'default') !== namespace) continue;
            const refs = volumeObjectReferences(pod);
            if ((kind === 'configMap' ? refs.configMaps : refs.secrets).has(name)) workers.manager?.wake(pod.metadata?.uid ?? '');
          }
        },
        log,
      })
    : undefined;
  const api: PodApi | undefined = cached ?? options.api;
  const volumes = new VolumeManager({
    rootDir: config.directories.root,
    sources: {
      getConfigMap: (ns, name) => (api ? api.getConfigMap(ns, name) : Promise.resolve(undefined)),
      getSecret: (ns, name) => (api ? api.getSecret(ns, name) : Promise.resolve(undefined)),
      requestServiceAccountToken: (ns, sa, o) => {
        if (!api) return Promise.reject(new Error('no apiserver to issue a service account token (standalone mode)'));
        return api.requestToken(ns, sa, o);
      },
      nodeAllocatable: options.nodeAllocatable,
    },
    log,
  });
  const statusSync = new PodStatusSync({ api, log });
  // One scheduler for every probe on the node. A verdict that changes something (readiness,
  // started, a kill) wakes the pod's worker; every failed run is an Unhealthy event.
  const probes = new ProbeManager({
    run: (spec, target) => runProbe(spec, { podIP: target.podIP, container: target.container, containerId: target.containerId, runtime }),
    onChange: (event) => {
      const ref = { kind: 'Pod', apiVersion: 'v1', name: event.target.podName, namespace: event.target.namespace, uid: event.target.podUid, fieldPath: `spec.containers{${event.target.containerName}}` };
      const unhealthy = unhealthyEvent(event);
      if (unhealthy) events.record(ref, unhealthy.type, unhealthy.reason, unhealthy.message);
      if (event.flipped || event.action) {
        log.info({ pod: `${event.target.namespace}/${event.target.podName}`, uid: event.target.podUid, container: event.target.containerName, probe: event.kind, result: event.current, ...(event.action ? { action: event.action } : {}) }, 'probe result changed');
        workers.manager?.wake(event.target.podUid);
      }
    },
    logger: log,
    ...(options.observers?.probes ? { observer: options.observers.probes } : {}),
  });
  const logLinks = new ContainerLogLinks(config.directories.containerLogs);
  /** The kubelet's container GC sweeps dangling log links every minute; so does the agent. */
  const sweepLogLinks = async (signal: AbortSignal): Promise<void> => {
    while (!signal.aborted) {
      await logLinks.sweep().catch((err: unknown) => log.warn({ dir: logLinks.dir, err: describeError(err) }, 'sweeping container log links failed'));
      await sleep(60_000, signal);
    }
  };
  const syncer = new PodSyncer({
    runtime,
    runtimeName: options.runtimeName,
    volumes,
    api,
    events,
    statusSync,
    nodeName: config.nodeName,
    nodeIP: config.nodeIP,
    logsDir: config.directories.logs,
    nodeAllocatable: options.nodeAllocatable,
    rootDir: config.directories.root,
    dns: {
      cluster: { servers: config.clusterDNS, domain: config.clusterDomain },
      host: parseResolvConf(readOptional(config.resolvConf)),
      nodeHosts: readOptional('/etc/hosts'),
    },
    probes,
    logLinks,
    ...(options.networkNotReady ? { networkNotReady: options.networkNotReady } : {}),
    ...(options.observers?.podStarts ? { podStarts: options.observers.podStarts } : {}),
    log,
  });
  const sources = kc ? ['file', 'api'] : ['file'];
  const admit = (pod: V1Pod, active: V1Pod[]) => {
    const node = options.node?.();
    const allocatable = { ...options.nodeAllocatable(), ...(node?.status?.allocatable ?? {}) };
    return admitPod(pod, active, { allocatable, labels: node?.metadata?.labels ?? {}, taints: node?.spec?.taints ?? [] }, { nodeName: config.nodeName, maxPods: config.maxPods });
  };
  const podManager = new PodManager({ syncer, runtime, api, log, sources, admit });
  workers.manager = podManager;
  const mirrors = new Map<string, V1Pod>();
  const staticSource = new StaticPodSource({
    dir: config.directories.manifests,
    mirrors,
    nodeName: config.nodeName,
    api,
    log,
    onPods: (pods) => podManager.setPods('file', pods, (p) => p.metadata?.annotations?.['kubernetes.io/config.source'] === 'file'),
  });
  const apiSource = kc ? apiPodSource({ kc, nodeName: config.nodeName, manager: podManager, mirrors, log }) : undefined;

  return {
    manager: podManager,
    probes,
    statusSync,
    staticSource,
    stats: () => ({
      pods: podManager.stats,
      statusWrites: statusSync.stats,
      podWatch: apiSource?.stats,
      probes: probes.stats(),
      configMaps: cached?.configMaps.stats,
      secrets: cached?.secrets.stats,
      // Entries of per-pod state: they follow the pods the node runs now, not every pod it ever ran.
      retained: { ...podManager.retained(), ...syncer.retained(), ...statusSync.retained(), ...volumes.retained(), ...staticSource.retained() },
    }),
    async run(signal: AbortSignal): Promise<void> {
      try {
        await Promise.all([podManager.run(signal), staticSource.run(signal), apiSource?.run(signal), sweepLogLinks(signal)]);
      } finally {
        probes.close();
        cached?.close();
      }
    },
  };
}

/** The pod stack's parts others hold (the kubelet API reads its pods and their statuses). */
export type PodStack = ReturnType<typeof createPodStack>;
