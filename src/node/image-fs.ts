import type { Logger } from '../log/logger.ts';
import type { Runtime } from '../runtime/types.ts';

/**
 * Where the runtime keeps its images, for the imagefs.available signal: asked of the runtime at
 * most every `refreshMs` (it changes only when the runtime is reconfigured), and the last answer
 * kept while the runtime is away (its own condition says so; the disk is still there).
 */
export class ImageFsLocator {
  private known: string | undefined;
  private askedAt = -Infinity;
  private readonly runtime: Pick<Runtime, 'imageFilesystem'>;
  private readonly log: Logger;
  private readonly refreshMs: number;
  private readonly now: () => number;

  constructor(runtime: Pick<Runtime, 'imageFilesystem'>, log: Logger, refreshMs = 5 * 60_000, now: () => number = Date.now) {
    this.runtime = runtime;
    this.log = log;
    this.refreshMs = refreshMs;
    this.now = now;
  }

  async path(): Promise<string | undefined> {
    if (this.now() - this.askedAt < this.refreshMs) return this.known;
    this.askedAt = this.now();
    try {
      const path = await this.runtime.imageFilesystem();
      if (path !== this.known) this.log.info({ imageFs: path }, 'image filesystem (imagefs.available is measured here)');
      this.known = path;
    } catch {
      // Asked again at the next refresh; the runtime's condition reports it down meanwhile.
      this.askedAt = this.now() - this.refreshMs + 10_000;
    }
    return this.known;
  }
}
