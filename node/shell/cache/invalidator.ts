import type { Logger } from 'pino';
import type { CacheMetrics } from '../metrics/cache-metrics.ts';
import type { RedisCache } from './redis-cache.ts';

/**
 * Sends cache invalidations after apply, never inside it (ARCHITECTURE §5): changes are collected
 * as they are reported and sent in pipelined batches on a later turn of the event loop, one batch
 * in flight at a time, so the write path never waits for Redis. A batch that fails is dropped
 * (counted as lost): the cache bumps its epoch before it is used again, so no value that batch
 * should have invalidated is trusted.
 *
 * Every node invalidates what it applies, so one node's lost batch is usually covered by the
 * others' as well; the epoch covers the case where none got through.
 */
export class Invalidator {
  private pending = new Map<string, number>();
  private sending = false;
  private scheduled = false;
  private readonly cache: RedisCache;
  private readonly metrics: CacheMetrics | undefined;
  private readonly log: Logger;
  private idleWaiters: (() => void)[] = [];

  constructor(o: { cache: RedisCache; metrics?: CacheMetrics; log: Logger }) {
    this.cache = o.cache;
    this.metrics = o.metrics;
    this.log = o.log;
  }

  /** Records that `key`'s thing is now at `version`; sent soon. */
  changed(key: string, version: number): void {
    const known = this.pending.get(key);
    if (known === undefined || version > known) this.pending.set(key, version);
    this.schedule();
  }

  /** Resolves once everything reported so far has been sent (or dropped). For tests and shutdown. */
  idle(): Promise<void> {
    if (!this.sending && !this.scheduled && this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.sending) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.send();
    });
  }

  private async send(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    while (this.pending.size > 0) {
      const batch = this.pending;
      this.pending = new Map();
      try {
        await this.cache.invalidate(batch);
        this.metrics?.invalidations.inc({ outcome: 'sent' }, batch.size);
      } catch (err) {
        this.metrics?.invalidations.inc({ outcome: 'lost' }, batch.size);
        this.log.debug({ err: (err as Error).message, keys: batch.size }, 'cache invalidation lost; the epoch will be bumped');
      }
    }
    this.sending = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
