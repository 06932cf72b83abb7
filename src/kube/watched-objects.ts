import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.ts';
import { classifyApiError } from './api-error.ts';
import { Reflector } from './reflector.ts';

/**
 * ConfigMaps or Secrets that pods use, each kept fresh by a watch of its own (kubelet's
 * "Watch" change-detection strategy): list and watch with `fieldSelector=metadata.name=<name>`,
 * which the Node authorizer allows for objects referenced by the node's pods.
 *
 * Reading one is then a map lookup instead of a GET per pod sync (with a hundred pods that was
 * ten apiserver round trips a second for the same kube-root-ca.crt), and a change is known the
 * moment it happens: `onChange` lets the pod workers write the new content right away rather
 * than at their next periodic sync. Watches nobody has read for `idleMs` are stopped.
 *
 * When a watch cannot be had (an authorizer that refuses single-object watches), the cache
 * falls back to a plain GET per read, so nothing breaks; the log says so once.
 */
export interface WatchedObjectsOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** Plural resource name in the core group: 'configmaps' or 'secrets'. */
  resource: 'configmaps' | 'secrets';
  /** LIST of one namespace with a field selector (the reflector's list). */
  list: (namespace: string, fieldSelector: string) => Promise<{ items: T[]; resourceVersion: string }>;
  /** GET of one object, for the fallback; undefined when it does not exist. */
  get: (namespace: string, name: string) => Promise<T | undefined>;
  /** The object was created, changed or deleted after it was first read. */
  onChange?: (namespace: string, name: string) => void;
  log: Logger;
  idleMs?: number;
  /** How long a first read waits for the watch's first list before it GETs instead. */
  firstSyncTimeoutMs?: number;
  now?: () => number;
}

interface Entry<T> {
  value: T | undefined;
  synced: boolean;
  /** Resolves at the first list (or when the watch gives up). */
  ready: Promise<void>;
  lastRead: number;
  abort: AbortController;
  failed: boolean;
}

export class WatchedObjects<T extends KubernetesObject> {
  private readonly options: WatchedObjectsOptions<T>;
  private readonly entries = new Map<string, Entry<T>>();
  private readonly now: () => number;
  private sweeper: NodeJS.Timeout | undefined;
  private warnedFallback = false;
  readonly stats = { watches: 0, reads: 0, fallbackGets: 0, changes: 0, stopped: 0 };

  constructor(options: WatchedObjectsOptions<T>) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** The object as last seen by its watch; starts the watch on first use. */
  async get(namespace: string, name: string): Promise<T | undefined> {
    this.stats.reads++;
    const key = `${namespace}/${name}`;
    let entry = this.entries.get(key);
    if (!entry) entry = this.start(namespace, name, key);
    entry.lastRead = this.now();
    if (!entry.synced && !entry.failed) {
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, this.options.firstSyncTimeoutMs ?? 5000).unref());
      await Promise.race([entry.ready, timeout]);
    }
    if (entry.synced) return entry.value;
    this.stats.fallbackGets++;
    return this.options.get(namespace, name);
  }

  /** Stops every watch (agent shutdown). */
  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const entry of this.entries.values()) entry.abort.abort();
    this.entries.clear();
  }

  private start(namespace: string, name: string, key: string): Entry<T> {
    let markReady: () => void = () => undefined;
    const entry: Entry<T> = {
      value: undefined,
      synced: false,
      ready: new Promise<void>((resolve) => (markReady = resolve)),
      lastRead: this.now(),
      abort: new AbortController(),
      failed: false,
    };
    this.entries.set(key, entry);
    this.stats.watches++;
    const fieldSelector = `metadata.name=${name}`;
    const set = (value: T | undefined): void => {
      const before = entry.value?.metadata?.resourceVersion;
      entry.value = value;
      const wasSynced = entry.synced;
      entry.synced = true;
      markReady();
      if (wasSynced && before !== value?.metadata?.resourceVersion) {
        this.stats.changes++;
        this.options.onChange?.(namespace, name);
      }
    };
    const reflector = new Reflector<T>({
      kc: this.options.kc,
      path: `/api/v1/namespaces/${namespace}/${this.options.resource}`,
      fieldSelector,
      list: async () => {
        try {
          return await this.options.list(namespace, fieldSelector);
        } catch (err) {
          if (classifyApiError(err).kind === 'forbidden') {
            // Watching is not allowed here: fall back to GETs for this object, and stop trying.
            entry.failed = true;
            markReady();
            if (!this.warnedFallback) {
              this.warnedFallback = true;
              this.options.log.warn({ resource: this.options.resource, err: classifyApiError(err).message }, 'cannot watch single objects; reading them with a GET each time instead');
            }
            entry.abort.abort();
          }
          throw err;
        }
      },
      handlers: {
        onSync: (items) => set(items.find((o) => o.metadata?.name === name)),
        onEvent: (type, object) => set(type === 'DELETED' ? undefined : object),
      },
      log: this.options.log,
    });
    reflector.run(entry.abort.signal).catch((err: unknown) => this.options.log.error({ resource: this.options.resource, namespace, name, err: classifyApiError(err).message }, 'object watch stopped'));
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(60_000, this.options.idleMs ?? 300_000)).unref();
    return entry;
  }

  private sweep(): void {
    const idleMs = this.options.idleMs ?? 300_000;
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (now - entry.lastRead > idleMs) {
        entry.abort.abort();
        this.entries.delete(key);
        this.stats.stopped++;
      }
    }
  }
}
