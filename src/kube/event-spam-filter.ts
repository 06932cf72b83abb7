import { LruCache } from '../util/lru.ts';
import { TokenBucket } from '../util/token-bucket.ts';

/**
 * client-go's EventSourceObjectSpamFilter: every source + involved object has a token bucket of
 * 25 events refilled at one per 5 minutes, and events over that budget are dropped. A pod stuck
 * in a crash loop or an image pull that keeps failing thus costs the apiserver a bounded number of
 * Event writes. The buckets live in an LRU of 4096 like client-go's, so objects that come and go
 * (deleted pods) never pile up; a bucket evicted and made again starts full, as in client-go.
 */
export interface SpamFilterOptions {
  burst: number;
  perSecond: number;
  /** How many objects' buckets are kept. */
  capacity: number;
}

export const defaultSpamFilterOptions: SpamFilterOptions = { burst: 25, perSecond: 1 / 300, capacity: 4096 };

export class EventSpamFilter {
  private readonly buckets: LruCache<string, TokenBucket>;
  private readonly options: SpamFilterOptions;

  constructor(options: SpamFilterOptions = defaultSpamFilterOptions) {
    this.options = options;
    this.buckets = new LruCache(options.capacity);
  }

  /** Whether an event about the object with this key may go out at `now` (and takes its token if so). */
  allow(key: string, now: number): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket({ burst: this.options.burst, perSecond: this.options.perSecond, now });
      this.buckets.set(key, bucket);
    }
    return bucket.tryTake(now);
  }

  /** Objects with a bucket. */
  get size(): number {
    return this.buckets.size;
  }
}
