import type { V1Pod } from '@kubernetes/client-node';
import { describeError } from '../errors.ts';
import type { PodApi } from '../kube/pod-api.ts';
import type { Logger } from '../log/logger.ts';
import { Annotations, Labels } from '../runtime/labels.ts';
import type { Runtime } from '../runtime/types.ts';
import { sleep } from '../util/sleep.ts';
import type { PodSyncer } from './pod-worker.ts';
import { isStaticPod, podKey } from './pod-util.ts';
import { mirrorUidAnnotation } from './static-source.ts';
import type { Admission } from './admission.ts';

type WorkerState = 'syncing' | 'terminating' | 'terminated';

/**
 * Every pod is synced at least this often: kubelet's --sync-frequency default (1 minute). It is
 * only the safety net: container changes wake a pod within the 1 s relist, probe verdicts and
 * ConfigMap/Secret changes wake it at once, backoffs wake it when they end. Each sync costs a few
 * milliseconds of CPU, so every 10 s across 100 pods was most of the agent's idle load.
 */
const DEFAULT_RESYNC_MS = 60_000;

interface Worker {
  pod: V1Pod;
  /** The pod left its source (deleted for good, or no longer bound here). */
  removed: boolean;
  state: WorkerState;
  pending: boolean;
  running: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
  /** The last sync's error while syncs keep failing; undefined once one succeeds. */
  failing?: string | undefined;
  /** Refused at admission: never synced, reported Failed once. */
  rejected?: boolean;
}

export interface PodManagerOptions {
  syncer: PodSyncer;
  runtime: Runtime;
  api: PodApi | undefined;
  log: Logger;
  /** Names of the pod sources ("api", "file"); see setPods. */
  sources: string[];
  /** Every pod is synced at least this often (missed events); DEFAULT_RESYNC_MS by default. */
  resyncMs?: number;
  /** How often the runtime is relisted to notice containers that died behind the agent's back (PLEG). */
  relistMs?: number;
  /** Admission of a pod new to this node, beside the pods admitted before it (admission.ts); all are admitted without it. */
  admit?: (pod: V1Pod, active: V1Pod[]) => Admission;
}

/** The reasons admission gives: a pod already Failed with one of them was refused before (an agent restart). */
const rejectionReasons = new Set(['OutOfpods', 'OutOfcpu', 'OutOfmemory', 'NodeAffinity', 'Taint', 'SysctlForbidden']);

/**
 * The pod workers: one serial worker per pod uid (updates to a pod that is syncing are merged into
 * one more sync afterwards), with the kubelet's states syncing → terminating → terminated. Fed by
 * the pod sources, woken by the PLEG relist and by backoff timers, resynced periodically. After the
 * sources' first full picture, whatever the runtime holds for a pod nobody wants is torn down.
 */
export class PodManager {
  private readonly options: PodManagerOptions;
  private readonly workers = new Map<string, Worker>();
  private sourcesReady = false;
  private readonly readySources = new Set<string>();
  private lastRelist = new Map<string, string>();
  readonly stats = { syncs: 0, syncErrors: 0, relists: 0, orphansRemoved: 0, terminated: 0 };

  constructor(options: PodManagerOptions) {
    this.options = options;
  }

  /**
   * A source's full picture: its pods missing from it are removed. Orphan clean-up waits until
   * every source named in the options has given one, or a restarted agent would tear down the
   * pods of a source that has not answered yet.
   */
  setPods(source: string, pods: V1Pod[], isFromSource: (pod: V1Pod) => boolean = () => true): void {
    const seen = new Set<string>();
    // Oldest first, as kubelet's HandlePodAdditions: after a restart the pods that ran before are
    // admitted before the ones that came later, so capacity keeps the same pods running.
    const byAge = [...pods].sort((a, b) => String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')));
    for (const pod of byAge) {
      seen.add(pod.metadata?.uid ?? '');
      this.upsert(pod);
    }
    for (const [uid, worker] of this.workers) if (!seen.has(uid) && isFromSource(worker.pod)) this.remove(uid);
    this.readySources.add(source);
    this.sourcesReady = this.options.sources.every((s) => this.readySources.has(s));
  }

  upsert(pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? '';
    if (!uid) return;
    const worker = this.workers.get(uid);
    if (worker) {
      worker.pod = pod;
      // The same uid back from a source (a static manifest restored, an orphan that turned out to
      // be wanted): run it again rather than finish tearing it down.
      if (worker.removed && !pod.metadata?.deletionTimestamp) {
        worker.removed = false;
        if (worker.state === 'terminated') worker.state = 'syncing';
      }
    } else {
      const refusal = this.admission(pod);
      if (refusal) {
        this.workers.set(uid, { pod, removed: false, state: 'terminated', pending: false, running: undefined, timer: undefined, rejected: true });
        if (refusal.report) this.options.syncer.reject(pod, refusal.reason, refusal.message, statusTargetOf(pod));
        return;
      }
      this.workers.set(uid, { pod, removed: false, state: 'syncing', pending: false, running: undefined, timer: undefined });
    }
    if (worker?.rejected && !worker.removed && !pod.metadata?.deletionTimestamp) return;
    this.enqueue(uid);
  }

  /** Why a pod new to the manager is refused (report: whether to write its status now), or undefined. */
  private admission(pod: V1Pod): { reason: string; message: string; report: boolean } | undefined {
    if (pod.metadata?.deletionTimestamp) return undefined;
    // Refused by an earlier run of the agent: keep it refused, write nothing again.
    if (pod.status?.phase === 'Failed' && rejectionReasons.has(pod.status.reason ?? '')) return { reason: pod.status.reason ?? '', message: pod.status.message ?? '', report: false };
    if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded' || !this.options.admit) return undefined;
    const active = [...this.workers.values()].filter((w) => w.state === 'syncing' && !w.removed && !w.rejected && !isTerminal(w.pod)).map((w) => w.pod);
    const verdict = this.options.admit(pod, active);
    return verdict.admit ? undefined : { reason: verdict.reason, message: verdict.message, report: true };
  }

  remove(uid: string): void {
    const worker = this.workers.get(uid);
    if (!worker) return;
    worker.removed = true;
    this.enqueue(uid);
  }

  /** Syncs the pod soon (a probe verdict changed); nothing for a pod the agent does not run. */
  wake(uid: string): void {
    if (this.workers.has(uid)) this.enqueue(uid);
  }

  /** Every pod syncs again (the pod network came up: pods that waited for it start now). */
  wakeAll(): void {
    for (const uid of this.workers.keys()) this.enqueue(uid);
  }

  pods(): V1Pod[] {
    return [...this.workers.values()].filter((w) => w.state === 'syncing').map((w) => w.pod);
  }

  /** Pods with a worker: syncing, terminating, or terminated and still in their source (tests, statusz). */
  retained(): { workers: number } {
    return { workers: this.workers.size };
  }

  workerState(uid: string): WorkerState | undefined {
    return this.workers.get(uid)?.state;
  }

  /** Runs the relist and resync loops until aborted; waits for running syncs at the end. */
  async run(signal: AbortSignal): Promise<void> {
    let relistFailing = '';
    const relist = async (): Promise<void> => {
      while (!signal.aborted) {
        try {
          await this.relist();
          if (relistFailing) this.options.log.info('runtime relist works again');
          relistFailing = '';
        } catch (err) {
          // Once per kind of failure, not every second while the runtime is away.
          const message = describeError(err);
          if (message !== relistFailing) this.options.log.warn({ err: message }, 'runtime relist failed; retrying every second');
          relistFailing = message;
        }
        await sleep(this.options.relistMs ?? 1000, signal);
      }
    };
    const resync = async (): Promise<void> => {
      while (!signal.aborted) {
        await sleep(this.options.resyncMs ?? DEFAULT_RESYNC_MS, signal);
        for (const uid of this.workers.keys()) this.enqueue(uid);
      }
    };
    await Promise.all([relist(), resync()]);
    for (const w of this.workers.values()) if (w.timer) clearTimeout(w.timer);
    await this.idle();
  }

  /** Waits until no worker is busy (tests, shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.workers.values()].flatMap((w) => (w.running ? [w.running] : []));
      if (busy.length === 0) return;
      await Promise.all(busy);
    }
  }

  private enqueue(uid: string): void {
    const worker = this.workers.get(uid);
    if (!worker) return;
    worker.pending = true;
    if (worker.running) return;
    worker.running = this.work(uid, worker).finally(() => {
      worker.running = undefined;
    });
  }

  private async work(uid: string, worker: Worker): Promise<void> {
    while (worker.pending) {
      worker.pending = false;
      if (worker.timer) {
        clearTimeout(worker.timer);
        worker.timer = undefined;
      }
      const pod = worker.pod;
      const log = this.options.log.child({ pod: podKey(pod), uid });
      try {
        if (worker.removed || pod.metadata?.deletionTimestamp) {
          if (worker.state === 'terminated') {
            if (worker.removed) this.workers.delete(uid);
            continue;
          }
          worker.state = 'terminating';
          await this.options.syncer.terminate(pod, { remove: true, reason: worker.removed ? 'pod removed' : 'pod deleted' });
          worker.state = 'terminated';
          this.stats.terminated++;
          // Everything is gone: the apiserver may now forget the pod (grace 0, this uid only).
          if (pod.metadata?.deletionTimestamp && !isStaticPod(pod) && this.options.api) {
            await this.options.api.deletePodNow(pod.metadata.namespace ?? 'default', pod.metadata.name ?? '', uid);
          }
          // A static pod that left its manifest directory takes its mirror pod with it.
          const mirrorUid = pod.metadata?.annotations?.[mirrorUidAnnotation];
          if (isStaticPod(pod) && mirrorUid && this.options.api) {
            await this.options.api.deletePodNow(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '', mirrorUid);
          }
          log.info('pod terminated');
          if (worker.removed) this.workers.delete(uid);
          continue;
        }
        this.stats.syncs++;
        const wakeIn = await this.options.syncer.sync(pod, statusTargetOf(pod));
        if (wakeIn !== undefined) worker.timer = setTimeout(() => this.enqueue(uid), wakeIn);
        if (worker.failing) log.info('pod sync works again');
        worker.failing = undefined;
      } catch (err) {
        this.stats.syncErrors++;
        // The same failure again (the runtime still away) is not logged every 2 s per pod.
        const message = describeError(err);
        if (message !== worker.failing) log.error({ err: message }, 'pod sync failed; retrying every 2 s');
        worker.failing = message;
        worker.timer = setTimeout(() => this.enqueue(uid), 2000);
      }
    }
  }

  /**
   * The PLEG: list what the runtime holds, wake the worker of every pod whose containers changed,
   * and tear down what belongs to no pod (once the sources have said which pods exist).
   */
  async relist(): Promise<void> {
    this.stats.relists++;
    // One list call, no inspection per container: this runs every second.
    const objects = await this.options.runtime.listSummaries();
    const fingerprints = new Map<string, string[]>();
    for (const o of objects) {
      const uid = o.labels[Labels.podUid];
      if (uid) fingerprints.set(uid, [...(fingerprints.get(uid) ?? []), `${o.kind}:${o.id}:${o.state}`]);
    }
    const current = new Map([...fingerprints].map(([uid, parts]) => [uid, parts.sort().join(',')]));
    for (const [uid, print] of current) {
      if (this.lastRelist.get(uid) !== print && this.workers.has(uid)) this.enqueue(uid);
    }
    for (const uid of this.lastRelist.keys()) if (!current.has(uid) && this.workers.has(uid)) this.enqueue(uid);
    this.lastRelist = current;

    if (!this.sourcesReady) return;
    for (const uid of current.keys()) {
      if (this.workers.has(uid)) continue;
      const sample = objects.find((o) => o.labels[Labels.podUid] === uid);
      const container = objects.find((o) => o.kind === 'container' && o.labels[Labels.podUid] === uid);
      const labels = sample?.labels ?? {};
      const grace = Number(container?.annotations[Annotations.terminationGracePeriod] ?? 30);
      const orphan: V1Pod = {
        metadata: { uid, name: labels[Labels.podName] ?? uid, namespace: labels[Labels.podNamespace] ?? 'default' },
        spec: { containers: [], terminationGracePeriodSeconds: Number.isFinite(grace) ? grace : 30 },
      };
      this.options.log.info({ pod: podKey(orphan), uid }, 'removing the containers of a pod that no longer exists');
      this.stats.orphansRemoved++;
      this.workers.set(uid, { pod: orphan, removed: true, state: 'syncing', pending: false, running: undefined, timer: undefined });
      this.enqueue(uid);
    }
  }
}

/** A static pod's status goes to its mirror pod: same name and namespace, the mirror's uid. */
function statusTargetOf(pod: V1Pod): { namespace: string; name: string; uid: string } | undefined {
  const mirrorUid = pod.metadata?.annotations?.[mirrorUidAnnotation];
  if (!isStaticPod(pod)) return undefined;
  if (!mirrorUid) return undefined;
  return { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', uid: mirrorUid };
}

/** A pod whose status says it is done: it holds no capacity any more. */
function isTerminal(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}
