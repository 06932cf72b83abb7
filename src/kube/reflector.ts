import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.ts';
import { Backoff } from '../util/backoff.ts';
import { sleep } from '../util/sleep.ts';
import { classifyApiError } from './api-error.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ReflectorHandlers<T extends KubernetesObject> {
  /** A full, consistent picture: after the first list and after every relist (e.g. 410 Gone). */
  onSync(items: T[]): void;
  onEvent(type: WatchEventType, object: T): void;
}

export interface ReflectorOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** Collection path, e.g. /api/v1/nodes. */
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
  list: () => Promise<{ items: T[]; resourceVersion: string }>;
  handlers: ReflectorHandlers<T>;
  log: Logger;
  /** The apiserver ends each watch after this long; a fresh one continues from the last version. */
  watchTimeoutSeconds?: number;
}

/** A watch that ended: why, so the loop knows whether to resume or to relist. */
type WatchEnd = { kind: 'closed' } | { kind: 'gone'; message: string } | { kind: 'error'; error: unknown };

/**
 * List then watch, the client-go reflector's contract: after a list at resourceVersion R, watch
 * from R; each event moves R forward (bookmarks too). A watch that ends quietly resumes from R.
 * When R is too old (410 Gone: etcd compacted it, or the apiserver restarted and its watch cache
 * starts later) the reflector relists, hands the full set to onSync, and watches again.
 */
export class Reflector<T extends KubernetesObject> {
  private readonly options: ReflectorOptions<T>;
  private resourceVersion = '';
  readonly stats = { lists: 0, watches: 0, gone: 0, errors: 0, events: 0 };

  constructor(options: ReflectorOptions<T>) {
    this.options = options;
  }

  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    // A reflector that ran before resumes from where it stopped; a stale version earns a 410 and a relist.
    let needList = this.resourceVersion === '';
    while (!signal.aborted) {
      try {
        if (needList) {
          const { items, resourceVersion } = await this.options.list();
          this.stats.lists++;
          this.resourceVersion = resourceVersion;
          this.options.handlers.onSync(items);
          needList = false;
        }
        const end = await this.watchOnce(signal);
        if (end.kind === 'gone') {
          this.stats.gone++;
          this.options.log.info({ path: this.options.path, resourceVersion: this.resourceVersion, reason: end.message }, 'watch expired (410 Gone); relisting');
          needList = true;
          continue;
        }
        if (end.kind === 'error') throw end.error;
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        this.stats.errors++;
        const e = classifyApiError(err);
        if (e.kind === 'gone') {
          this.stats.gone++;
          needList = true;
          continue;
        }
        const wait = backoff.next();
        this.options.log.warn({ path: this.options.path, err: e.message, retryInMs: wait }, 'watch failed; retrying');
        await sleep(wait, signal);
      }
    }
  }

  private async watchOnce(signal: AbortSignal): Promise<WatchEnd> {
    const { kc, path, fieldSelector, labelSelector, handlers } = this.options;
    this.stats.watches++;
    // Spread reconnections out like client-go (5-10 minutes by default).
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? Math.round(300 + Math.random() * 300);
    return new Promise<WatchEnd>((resolve) => {
      let gone: string | undefined;
      let controller: AbortController | undefined;
      const onAbort = (): void => controller?.abort();
      const query = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        ...(fieldSelector ? { fieldSelector } : {}),
        ...(labelSelector ? { labelSelector } : {}),
      };
      const done = (err: unknown): void => {
        signal.removeEventListener('abort', onAbort);
        if (gone !== undefined) resolve({ kind: 'gone', message: gone });
        else if (err && !signal.aborted && !isAbortError(err)) resolve({ kind: 'error', error: err });
        else resolve({ kind: 'closed' });
      };
      const onEvent = (type: string, object: unknown): void => {
        if (type === 'ERROR') {
          const status = object as { code?: number; message?: string };
          if (status.code === 410) gone = status.message ?? 'resource version too old';
          controller?.abort();
          return;
        }
        const obj = object as T;
        const rv = obj.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (type === 'BOOKMARK') return;
        this.stats.events++;
        handlers.onEvent(type as WatchEventType, obj);
      };
      new Watch(kc)
        .watch(path, query, onEvent, done)
        .then((c) => {
          controller = c;
          if (signal.aborted) c.abort();
          else signal.addEventListener('abort', onAbort, { once: true });
        })
        .catch((err: unknown) => done(err));
    });
  }
}

function isAbortError(err: unknown): boolean {
  return (err as { name?: string })?.name === 'AbortError' || (err as { type?: string })?.type === 'aborted';
}
