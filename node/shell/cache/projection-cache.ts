import type { ProjectionListener, ProjectionRow, ProjectionRunner, RowChange } from '../projections/index.ts';
import type { CacheAside } from './cache-aside.ts';
import type { Invalidator } from './invalidator.ts';
import type { RedisCache } from './redis-cache.ts';

/**
 * Projection rows through the cache (ARCHITECTURE §5). A row's version is the global position of
 * the last event that set it, the same on every node. Strong reads (made after the projection
 * caught up with the read index) compare the cached version with this node's; eventual reads
 * take the cached row as is. Committed row changes are invalidated at their new version.
 *
 * A rebuild distrusts the whole cache (the epoch is bumped): it exists to change what rows hold,
 * so no row cached before it may be served after it. Until it has caught up, the rebuilding
 * projection's reads bypass the cache, so that past values are not cached.
 */
export class ProjectionCache implements ProjectionListener {
  private readonly o: { aside: CacheAside; cache: RedisCache | undefined; invalidator: Invalidator | undefined; projections: ProjectionRunner };

  constructor(o: { aside: CacheAside; cache: RedisCache | undefined; invalidator: Invalidator | undefined; projections: ProjectionRunner }) {
    this.o = o;
    o.projections.listen(this);
  }

  /** `strong`: never older than this node's projection (call after waiting for its checkpoint). */
  async read(name: string, key: string, strong: boolean): Promise<ProjectionRow> {
    const { aside, cache, projections } = this.o;
    if (cache === undefined || projections.rebuilding(name)) return projections.row(name, key);
    return aside.read('projection', {
      key: this.key(cache, name, key),
      atLeast: strong ? projections.version(name, key) : undefined,
      load: () => projections.row(name, key),
    });
  }

  rowsChanged(name: string, changes: ReadonlyMap<string, RowChange>): void {
    const { cache, invalidator } = this.o;
    if (cache === undefined || invalidator === undefined) return;
    for (const [key, { version }] of changes) invalidator.changed(this.key(cache, name, key), version);
  }

  rebuilt(): void {
    this.o.cache?.distrustEverything();
  }

  private key(cache: RedisCache, name: string, key: string): string {
    return cache.key('prj', `${name}:${key}`);
  }
}
