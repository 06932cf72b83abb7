import type { V1Container, V1Probe } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.ts';
import { DueHeap, type DueItem } from './due-heap.ts';
import { normalizeProbe, probeKinds, validateProbe, type ProbeKind, type ProbeSpec } from './probe-spec.ts';
import { errorMessage, type ProbeOutcome } from './probe-outcome.ts';
import { MAX_TIMER_DELAY_MS } from '../util/timer-delay.ts';
import type { ProbeObserver } from '../metrics/prober-metrics.ts';

/**
 * Kubelet's prober manager (pkg/kubelet/prober): runs every container's liveness, readiness and
 * startup probes on their schedules and turns single results into the states kubelet acts on.
 *
 * Per probe ("worker"), as kubelet's worker.go:
 * - The first run is due when the container has been running initialDelaySeconds, then every
 *   periodSeconds counted from the previous due time. A run still going when the next is due
 *   makes that one skipped: runs of one probe never overlap.
 * - Until a startup probe succeeds, liveness and readiness do not run; once it has, it never runs
 *   again for that container (and readiness is run at once, as kubelet's manual trigger does).
 * - A kept result changes only after successThreshold successes / failureThreshold failures in a
 *   row. Initial values: readiness failure (a container is not ready until probed ready, initial
 *   delay or not), liveness success, startup failure (not started).
 * - Liveness reaching failureThreshold, and startup reaching either threshold, put the probe on
 *   hold: a container about to be killed is not probed again. A new container id (the restart)
 *   starts over with fresh state.
 * - 'unknown' outcomes (the agent's own trouble) move no counter.
 *
 * One scheduler for the node: a heap of due times and a single timer armed for the earliest. At
 * most maxConcurrent runs are in flight; due probes beyond that wait in line for a free slot.
 * Time comes from an injectable clock so all of this is tested without waiting.
 */
export interface ProbeTarget {
  podUid: string;
  podName: string;
  namespace: string;
  containerName: string;
  /** The running container's id; a different id for the same pod and name is a restart. */
  containerId: string;
  /** When the container started (epoch ms, the clock's time base). */
  startedAtMs: number;
  podIP: string;
  container: V1Container;
}

export type ProbeResult = 'success' | 'failure';

/**
 * What one probe run changed or reported. Emitted for every run that failed or errored (the
 * caller records the kubelet "Unhealthy" event for each), and for every run that changed the kept
 * result (`flipped`: readiness or started changed, the pod status needs an update). `action` says
 * the container must be killed: liveness or startup reached failureThreshold.
 */
export interface ProbeEvent {
  kind: ProbeKind;
  target: ProbeTarget;
  spec: ProbeSpec;
  /** This run's outcome; 'unknown' when the probe errored (kubelet: "probe errored"). */
  result: ProbeOutcome['result'];
  output: string;
  /** The kept result before and after this run. */
  previous: ProbeResult;
  current: ProbeResult;
  flipped: boolean;
  action?: 'kill';
}

export interface ProbeStats {
  containers: number;
  scheduled: number;
  inFlight: number;
  waiting: number;
  /** Runs finished since the agent started. */
  runs: number;
  latencyMs: SampleSummary;
  /** Start time minus due time: the scheduler's own delay (a run waiting for a slot counts). */
  lateMs: SampleSummary;
}

export interface SampleSummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** A ring of the most recent samples, summarised on demand (statusz, the probes benchmark). */
class RecentSamples {
  private readonly values: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(size: number) {
    this.values = new Float64Array(size);
  }

  add(v: number): void {
    this.values[this.next] = v;
    this.next = (this.next + 1) % this.values.length;
    this.filled = Math.min(this.filled + 1, this.values.length);
  }

  summary(): SampleSummary {
    if (this.filled === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
    const sorted = Array.from(this.values.subarray(0, this.filled)).sort((a, b) => a - b);
    const at = (p: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]! * 10) / 10;
    return { count: this.filled, p50: at(0.5), p99: at(0.99), max: at(1) };
  }
}

export interface ProbeClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ContainerProbes {
  liveness?: V1Probe;
  readiness?: V1Probe;
  startup?: V1Probe;
}

export interface ProbeManagerOptions {
  /** Runs one probe once; see runProbe. A rejection counts as 'unknown'. */
  run: (spec: ProbeSpec, target: ProbeTarget) => Promise<ProbeOutcome>;
  onChange: (event: ProbeEvent) => void;
  clock?: ProbeClock;
  /** Runs in flight at once across the node; default 64. */
  maxConcurrent?: number;
  logger?: Logger;
  /** Told of every run's result and duration, and when a pod's probes are gone (prober_probe_total). */
  observer?: ProbeObserver;
}

interface ContainerEntry {
  target: ProbeTarget;
  workers: Map<ProbeKind, Worker>;
}

interface Worker extends DueItem {
  kind: ProbeKind;
  spec: ProbeSpec;
  entry: ContainerEntry;
  /** The result kubelet acts on. */
  kept: ProbeResult;
  /** The latest counted result and how many times in a row it came. */
  lastResult: ProbeResult | undefined;
  streak: number;
  onHold: boolean;
  running: boolean;
  /** Waiting in line for a free run slot. */
  queued: boolean;
  stopped: boolean;
}

/** setTimeout cannot wait longer than MAX_TIMER_DELAY_MS; a longer wait is re-armed when it ends. */
const maxTimerDelayMs = MAX_TIMER_DELAY_MS;

const systemClock: ProbeClock = {
  now: () => Date.now(),
  // Unref'd: pending probes alone should not keep the process alive.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class ProbeManager {
  private readonly run: ProbeManagerOptions['run'];
  private readonly onChange: ProbeManagerOptions['onChange'];
  private readonly clock: ProbeClock;
  private readonly maxConcurrent: number;
  private readonly logger: Logger | undefined;
  private readonly observer: ProbeObserver | undefined;
  /** podUid → container name → the container's probes. */
  private readonly pods = new Map<string, Map<string, ContainerEntry>>();
  private readonly heap = new DueHeap<Worker>();
  private readonly waiting: Worker[] = [];
  private inFlight = 0;
  private runs = 0;
  /** How long runs take, and how late they start after their due time (recent samples). */
  private readonly latency = new RecentSamples(4096);
  private readonly lateness = new RecentSamples(4096);
  private timer: { handle: unknown; at: number } | undefined;

  constructor(options: ProbeManagerOptions) {
    this.run = options.run;
    this.onChange = options.onChange;
    this.clock = options.clock ?? systemClock;
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? 64);
    this.logger = options.logger;
    this.observer = options.observer;
  }

  /**
   * Starts probing a running container. Calling it again with the same container id only
   * refreshes the target (say the pod IP became known); a new container id replaces the old
   * container's probes and their state.
   */
  addContainer(target: ProbeTarget, probes: ContainerProbes, options: { alreadyStarted?: boolean } = {}): void {
    let containers = this.pods.get(target.podUid);
    const existing = containers?.get(target.containerName);
    if (existing && existing.target.containerId === target.containerId) {
      existing.target = target;
      return;
    }
    if (existing) this.stopEntry(existing);
    if (!containers) {
      containers = new Map();
      this.pods.set(target.podUid, containers);
    }
    const entry: ContainerEntry = { target, workers: new Map() };
    containers.set(target.containerName, entry);
    const now = this.clock.now();
    for (const kind of probeKinds) {
      const probe = probes[kind];
      if (!probe) continue;
      const errors = validateProbe(kind, probe, target.container);
      if (errors.length > 0) this.logger?.warn({ pod: `${target.namespace}/${target.podName}`, container: target.containerName, errors }, 'invalid probe; running it as kubelet would');
      const spec = normalizeProbe(kind, probe);
      const worker: Worker = {
        kind,
        spec,
        entry,
        kept: kind === 'liveness' ? 'success' : 'failure',
        lastResult: undefined,
        streak: 0,
        onHold: false,
        running: false,
        queued: false,
        stopped: false,
        dueAt: Math.max(now, target.startedAtMs + spec.initialDelaySeconds * 1000),
        seq: 0,
        heapIndex: -1,
      };
      entry.workers.set(kind, worker);
      // A container the agent finds running after its own restart, whose status already says it
      // started: its startup probe is not run again (kubelet reads `started` back the same way),
      // so liveness and readiness resume at once instead of waiting out a startup window.
      if (kind === 'startup' && options.alreadyStarted) {
        worker.kept = 'success';
        worker.onHold = true;
      } else {
        this.heap.push(worker);
      }
    }
    this.arm();
  }

  /** Stops the container's probes (it exited, or is being killed) and forgets their state. */
  removeContainer(podUid: string, containerName: string): void {
    const containers = this.pods.get(podUid);
    const entry = containers?.get(containerName);
    if (!containers || !entry) return;
    this.stopEntry(entry);
    containers.delete(containerName);
    if (containers.size === 0) this.pods.delete(podUid);
    this.arm();
  }

  /** Stops every probe of the pod: it is terminating or gone. */
  removePod(podUid: string): void {
    // Even with no container left to stop: their series outlive removeContainer until now.
    this.observer?.forgetPod(podUid);
    const containers = this.pods.get(podUid);
    if (!containers) return;
    for (const entry of containers.values()) this.stopEntry(entry);
    this.pods.delete(podUid);
    this.arm();
  }

  /** Stops everything (agent shutdown); runs in flight finish and are ignored. */
  close(): void {
    for (const podUid of [...this.pods.keys()]) this.removePod(podUid);
  }

  /** Whether the container passed its readiness probe; undefined when it has none (then it is ready when running). */
  readiness(podUid: string, containerName: string): boolean | undefined {
    const worker = this.worker(podUid, containerName, 'readiness');
    return worker ? worker.kept === 'success' : undefined;
  }

  /** Whether the container passed its startup probe; undefined when it has none (then it has started when running). */
  started(podUid: string, containerName: string): boolean | undefined {
    const worker = this.worker(podUid, containerName, 'startup');
    return worker ? worker.kept === 'success' : undefined;
  }

  /**
   * The probe that asks for this container to be killed: liveness or startup at their failure
   * threshold, for exactly this container id (its replacement starts with a clean slate).
   */
  failedProbe(podUid: string, containerName: string, containerId: string): { kind: 'liveness' | 'startup'; spec: ProbeSpec } | undefined {
    const entry = this.pods.get(podUid)?.get(containerName);
    if (!entry || entry.target.containerId !== containerId) return undefined;
    for (const kind of ['startup', 'liveness'] as const) {
      const worker = entry.workers.get(kind);
      if (worker && worker.onHold && worker.kept === 'failure') return { kind, spec: worker.spec };
    }
    return undefined;
  }

  /** Counts for health and debugging. */
  stats(): ProbeStats {
    let containers = 0;
    for (const c of this.pods.values()) containers += c.size;
    return {
      containers,
      scheduled: this.heap.size,
      inFlight: this.inFlight,
      waiting: this.waiting.length,
      runs: this.runs,
      latencyMs: this.latency.summary(),
      lateMs: this.lateness.summary(),
    };
  }

  private worker(podUid: string, containerName: string, kind: ProbeKind): Worker | undefined {
    return this.pods.get(podUid)?.get(containerName)?.workers.get(kind);
  }

  private stopEntry(entry: ContainerEntry): void {
    for (const worker of entry.workers.values()) {
      worker.stopped = true;
      this.heap.remove(worker);
      if (worker.queued) {
        const i = this.waiting.indexOf(worker);
        if (i >= 0) this.waiting.splice(i, 1);
        worker.queued = false;
      }
    }
  }

  /** Keeps exactly one timer, armed for the earliest due probe; none when nothing is scheduled. */
  private arm(): void {
    const next = this.heap.peek();
    if (this.timer && this.timer.at === next?.dueAt) return;
    if (this.timer) {
      this.clock.clearTimeout(this.timer.handle);
      this.timer = undefined;
    }
    if (!next) return;
    const delay = Math.min(maxTimerDelayMs, Math.max(0, next.dueAt - this.clock.now()));
    this.timer = { at: next.dueAt, handle: this.clock.setTimeout(() => this.onTimer(), delay) };
  }

  private onTimer(): void {
    this.timer = undefined;
    try {
      const now = this.clock.now();
      for (let worker = this.heap.peek(); worker && worker.dueAt <= now; worker = this.heap.peek()) {
        // Next due from this one's due time, not from when a run ends, so periods do not drift;
        // periods already missed (a blocked event loop) are skipped, not run in a burst.
        const periodMs = worker.spec.periodSeconds * 1000;
        const missed = Math.floor((now - worker.dueAt) / periodMs);
        worker.dueAt += (missed + 1) * periodMs;
        this.heap.push(worker);
        this.due(worker);
      }
    } catch (err) {
      this.logger?.error({ err }, 'probe scheduler');
    } finally {
      this.arm();
    }
  }

  /** A probe's time has come: run it, unless it cannot or must not run now. */
  private due(worker: Worker): void {
    // Still running (or waiting for a slot) from its last turn: this turn is skipped.
    if (worker.stopped || worker.onHold || worker.running || worker.queued || this.gated(worker)) return;
    if (this.inFlight < this.maxConcurrent) this.start(worker);
    else {
      worker.queued = true;
      this.waiting.push(worker);
    }
  }

  /** Liveness and readiness wait for the startup probe, when there is one, to succeed. */
  private gated(worker: Worker): boolean {
    if (worker.kind === 'startup') return false;
    const startup = worker.entry.workers.get('startup');
    return startup !== undefined && startup.kept !== 'success';
  }

  private start(worker: Worker): void {
    worker.running = true;
    this.inFlight++;
    // The turn this run answers: dueAt has already moved on to the next one by a period.
    this.execute(worker, worker.entry.target, worker.dueAt - worker.spec.periodSeconds * 1000).catch((err: unknown) => this.logger?.error({ err }, 'probe bookkeeping'));
  }

  private async execute(worker: Worker, target: ProbeTarget, dueAt: number): Promise<void> {
    let outcome: ProbeOutcome;
    const started = this.clock.now();
    this.lateness.add(started - dueAt);
    try {
      outcome = await this.run(worker.spec, target);
    } catch (err) {
      this.logger?.warn({ err, pod: `${target.namespace}/${target.podName}`, container: target.containerName, probe: worker.kind }, 'probe run threw');
      outcome = { result: 'unknown', output: `probe errored: ${errorMessage(err)}` };
    } finally {
      worker.running = false;
      this.inFlight--;
      this.runs++;
      this.latency.add(this.clock.now() - started);
    }
    try {
      // A container removed or replaced meanwhile: this result is about something gone.
      if (!worker.stopped) {
        this.observer?.ran(worker.kind, target, outcome.result, (this.clock.now() - started) / 1000);
        this.record(worker, target, outcome);
      }
    } finally {
      this.drain();
      this.arm();
    }
  }

  /** Starts waiting probes while there are free slots. */
  private drain(): void {
    while (this.inFlight < this.maxConcurrent) {
      const worker = this.waiting.shift();
      if (!worker) return;
      worker.queued = false;
      if (!worker.stopped && !worker.onHold && !worker.running && !this.gated(worker)) this.start(worker);
    }
  }

  private record(worker: Worker, target: ProbeTarget, { result, output }: ProbeOutcome): void {
    const previous = worker.kept;
    const base = { kind: worker.kind, target, spec: worker.spec, output, previous };
    if (result === 'unknown') {
      this.emit({ ...base, result, current: previous, flipped: false });
      return;
    }
    if (worker.lastResult === result) worker.streak++;
    else {
      worker.lastResult = result;
      worker.streak = 1;
    }
    const threshold = result === 'success' ? worker.spec.successThreshold : worker.spec.failureThreshold;
    let action: 'kill' | undefined;
    if (worker.streak >= threshold) {
      worker.kept = result;
      if ((worker.kind === 'liveness' && result === 'failure') || worker.kind === 'startup') {
        // The container is about to be killed, or has started: nothing more to ask it.
        worker.onHold = true;
        worker.streak = 0;
        this.heap.remove(worker);
        if (result === 'failure') action = 'kill';
      }
    }
    const flipped = worker.kept !== previous;
    if (flipped && worker.kind === 'startup') this.triggerReadiness(worker.entry);
    if (result === 'failure' || flipped || action) this.emit({ ...base, result, current: worker.kept, flipped, ...(action ? { action } : {}) });
  }

  /**
   * Just started: readiness runs now (or at its initial delay), not up to a period later, and its
   * periods count from then. Kubelet's manual trigger runs it at once too but keeps the old ticker,
   * which can run it again a moment later.
   */
  private triggerReadiness(entry: ContainerEntry): void {
    const readiness = entry.workers.get('readiness');
    if (!readiness || readiness.stopped) return;
    const at = Math.max(this.clock.now(), entry.target.startedAtMs + readiness.spec.initialDelaySeconds * 1000);
    if (readiness.dueAt > at) {
      readiness.dueAt = at;
      this.heap.push(readiness);
    }
  }

  private emit(event: ProbeEvent): void {
    try {
      this.onChange(event);
    } catch (err) {
      this.logger?.error({ err, probe: event.kind, container: event.target.containerName }, 'probe onChange handler threw');
    }
  }
}
