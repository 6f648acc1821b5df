import type { Logger } from 'pino';
import type { Json } from '../../core/eventstore/index.ts';
import type { CacheMetrics, CacheResult } from '../metrics/cache-metrics.ts';
import type { RedisCache } from './redis-cache.ts';
import { SingleFlight } from './single-flight.ts';

/** What the store says about a cached thing: its version and value (undefined: it does not exist). */
export interface Versioned {
  readonly version: number;
  readonly value: Json | undefined;
}

export type CachedKind = 'aggregate' | 'projection';

/** One read: the cache key, how to load from the store, and the version the answer must reach. */
export interface CachedRead {
  readonly key: string;
  /** Loads from this node's store (synchronous: the store is local). */
  readonly load: () => Versioned;
  /**
   * The lowest version the answer may have: the node's authoritative version, read after the
   * ReadIndex wait (strong and leader reads). Undefined for eventual reads, which may serve a
   * cached value as it is (staleness bounded by invalidation and TTL).
   */
  readonly atLeast: number | undefined;
  /**
   * This node's answer when it already holds it in memory, as of its current state (so never
   * below `atLeast`), and cheaper than a cache round trip; undefined otherwise. Served without
   * asking the cache.
   */
  readonly local?: () => Versioned | undefined;
}

/**
 * Cache-aside reads (ARCHITECTURE §5): held in this node's memory -> serve (counted as `local`,
 * not as a cache request); hit -> serve; miss -> load from the store and fill with a
 * version-guarded write. One load per key at a time on this node (single flight). Without a
 * cache, or when it fails, reads go to the store: the cache never fails a request.
 *
 * A strong read never returns stale state: a cached value is served only if its version reaches
 * `atLeast`, the version this node's store holds after the ReadIndex wait. A newer cached version
 * (filled by a node further ahead) is committed state and may be served.
 */
export class CacheAside {
  private readonly cache: RedisCache | undefined;
  private readonly metrics: CacheMetrics | undefined;
  private readonly log: Logger;
  private readonly flights = new SingleFlight<{ view: Versioned; result: CacheResult }>();

  constructor(o: { cache: RedisCache | undefined; metrics?: CacheMetrics; log: Logger }) {
    this.cache = o.cache;
    this.metrics = o.metrics;
    this.log = o.log;
  }

  get enabled(): boolean {
    return this.cache !== undefined;
  }

  async read(kind: CachedKind, r: CachedRead): Promise<Versioned> {
    const cache = this.cache;
    if (cache === undefined) return r.load();
    const local = r.local?.();
    if (local !== undefined) {
      this.metrics?.localReads.inc({ kind });
      return local;
    }
    const running = this.flights.running(r.key);
    if (running !== undefined) {
      // Share the flight if its answer is new enough for this caller.
      const shared = await running;
      if (r.atLeast === undefined || shared.view.version >= r.atLeast) {
        this.count(kind, shared.result);
        return shared.view;
      }
      return this.loadAndFill(kind, cache, r, 'stale');
    }
    const { view, result } = await this.flights.do(r.key, async () => {
      let entry;
      try {
        [entry] = await cache.getMany([r.key]);
      } catch {
        // The cache is down or slow (counted in its metrics); the store answers.
        return { view: r.load(), result: 'error' as const };
      }
      return this.answer(cache, r, entry);
    });
    this.count(kind, result);
    return view;
  }

  /** Several reads with one cache round trip; misses are loaded and filled (pipelined). */
  async readMany(kind: CachedKind, reads: readonly CachedRead[]): Promise<Versioned[]> {
    const cache = this.cache;
    if (cache === undefined) return reads.map((r) => r.load());
    const views = reads.map((r) => r.local?.());
    const asked = reads.filter((_, i) => views[i] === undefined);
    if (asked.length < reads.length) this.metrics?.localReads.inc({ kind }, reads.length - asked.length);
    if (asked.length > 0) {
      let entries: Awaited<ReturnType<RedisCache['getMany']>> | undefined;
      try {
        entries = await cache.getMany(asked.map((r) => r.key));
      } catch {
        this.metrics?.requests.inc({ kind, result: 'error' }, asked.length);
      }
      let next = 0;
      reads.forEach((r, i) => {
        if (views[i] !== undefined) return;
        if (entries === undefined) {
          views[i] = r.load();
          return;
        }
        const { view, result } = this.answer(cache, r, entries[next++]);
        this.count(kind, result);
        views[i] = view;
      });
    }
    return views as Versioned[];
  }

  private answer(cache: RedisCache, r: CachedRead, entry: { version: number; payload: string | undefined } | undefined): { view: Versioned; result: CacheResult } {
    if (entry !== undefined && (r.atLeast === undefined || entry.version >= r.atLeast)) {
      return { view: { version: entry.version, value: entry.payload === undefined ? undefined : (JSON.parse(entry.payload) as Json) }, result: 'hit' };
    }
    const view = r.load();
    this.fill(cache, r.key, view);
    return { view, result: entry === undefined ? 'miss' : 'stale' };
  }

  private loadAndFill(kind: CachedKind, cache: RedisCache, r: CachedRead, result: CacheResult): Versioned {
    const view = r.load();
    this.fill(cache, r.key, view);
    this.count(kind, result);
    return view;
  }

  private fill(cache: RedisCache, key: string, view: Versioned): void {
    cache.set(key, view.version, view.value === undefined ? undefined : JSON.stringify(view.value)).catch((err: unknown) => {
      // Cache is only an optimisation: a failed fill costs one future miss (and is counted in
      // the cache's command metrics).
      this.log.debug({ err: (err as Error).message, key }, 'cache fill failed');
    });
  }

  private count(kind: CachedKind, result: CacheResult): void {
    this.metrics?.requests.inc({ kind, result });
  }
}
