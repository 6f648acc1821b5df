import type { Logger } from 'pino';
import { aggregateStream } from '../../core/eventstore/index.ts';
import type { EventStoreStateMachine } from '../../core/eventstore/index.ts';
import type { AggregateStates, AggregateView, DomainRegistry } from '../domains/index.ts';
import type { CacheAside, CachedRead, Versioned } from './cache-aside.ts';
import type { Invalidator } from './invalidator.ts';
import type { RedisCache } from './redis-cache.ts';

/** Events read per step when collecting what to invalidate. */
const INVALIDATION_PAGE = 1_000;
/** Event JSON per invalidation page, about: large events make shorter pages. */
const INVALIDATION_PAGE_BYTES = 8 * 2 ** 20;
/** More new events than this at once are invalidated by bumping the cache epoch instead. */
const BULK_CHANGE = 100_000;

/**
 * Aggregate state through the cache (ARCHITECTURE §5). The cached value of an aggregate is its
 * folded state; its version is the version of the aggregate's last event. Strong reads compare it
 * with this node's stream version (read after the ReadIndex wait); eventual reads take it as is.
 * After apply, every aggregate stream that got events is invalidated at its new version.
 *
 * An aggregate whose state this node keeps (AggregateStates) is answered from it without asking
 * the cache. A state read from the cache is never kept: commands decide on kept states, and those
 * come from this node's store alone.
 */
export class AggregateCache {
  private readonly o: { aside: CacheAside; cache: RedisCache | undefined; invalidator: Invalidator | undefined; registry: DomainRegistry; states: AggregateStates; events: EventStoreStateMachine; log: Logger };
  /** The next global position whose event has not been looked at for invalidation. */
  private cursor: number;

  constructor(o: { aside: CacheAside; cache: RedisCache | undefined; invalidator: Invalidator | undefined; registry: DomainRegistry; states: AggregateStates; events: EventStoreStateMachine; log: Logger }) {
    this.o = o;
    // Events applied before this start need no invalidation: connecting bumps the cache epoch.
    this.cursor = o.events.nextPosition;
  }

  /** `strong`: never older than this node's state (call after the read barrier). */
  async read(type: string, id: string, strong: boolean): Promise<AggregateView> {
    const v = await this.o.aside.read('aggregate', this.cachedRead(type, id, strong));
    return { type, id, version: v.version, state: v.value ?? null };
  }

  async readMany(type: string, ids: readonly string[], strong: boolean): Promise<AggregateView[]> {
    const views = await this.o.aside.readMany(
      'aggregate',
      ids.map((id) => this.cachedRead(type, id, strong)),
    );
    return views.map((v, i) => ({ type, id: ids[i] as string, version: v.version, state: v.value ?? null }));
  }

  /** Call after every applied batch: queues invalidations for the aggregates that got events. */
  applied(): void {
    const { events, invalidator, cache, registry } = this.o;
    if (invalidator === undefined || cache === undefined) return;
    // A restored snapshot may move positions back; nothing before it needs invalidating twice.
    if (events.nextPosition < this.cursor) this.cursor = events.nextPosition;
    if (events.nextPosition - this.cursor > BULK_CHANGE) {
      // A snapshot installed from the leader, or a long replay: invalidate everything at once.
      this.cursor = events.nextPosition;
      cache.distrustEverything();
      return;
    }
    while (this.cursor < events.nextPosition) {
      const page = events.reader.readAll(this.cursor, INVALIDATION_PAGE, INVALIDATION_PAGE_BYTES);
      if (page.length === 0) break;
      for (const { event } of page) {
        const dash = event.stream.indexOf('-');
        if (dash > 0) {
          const type = event.stream.slice(0, dash);
          if (registry.domain(type) !== undefined) invalidator.changed(cache.key('agg', `${type}:${event.stream.slice(dash + 1)}`), event.version);
        }
      }
      this.cursor += page.length;
    }
  }

  private cachedRead(type: string, id: string, strong: boolean): CachedRead {
    const { events, states, cache } = this.o;
    const stream = aggregateStream(type, id);
    return {
      key: cache === undefined ? '' : cache.key('agg', `${type}:${id}`),
      atLeast: strong ? events.reader.streamVersion(stream) : undefined,
      load: () => versioned(states.load(type, id)),
      // A kept state costs a lookup of the stream's version and the events since: less than a
      // Redis round trip. The cache serves the aggregates this node holds no state for.
      local: () => {
        const view = states.peek(type, id);
        return view === undefined ? undefined : versioned(view);
      },
    };
  }
}

function versioned(view: AggregateView): Versioned {
  return { version: view.version, value: view.version === -1 ? undefined : view.state };
}
