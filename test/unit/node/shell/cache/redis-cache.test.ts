import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { createClient } from 'redis';
import { Registry } from 'prom-client';
import { EventStoreStateMachine, MemoryEventStorage, encodeCommand, proposedEvent } from '../../../../../node/core/eventstore/index.ts';
import type { DomainModule, Json } from '../../../../../node/core/eventstore/index.ts';
import type { LogIndex } from '../../../../../node/core/raft/index.ts';
import { account } from '../../../../../node/domains/account.ts';
import { CacheAside, Invalidator, ProjectionCache, RedisCache } from '../../../../../node/shell/cache/index.ts';
import type { RedisCacheOptions, Versioned } from '../../../../../node/shell/cache/index.ts';
import { DomainRegistry } from '../../../../../node/shell/domains/index.ts';
import { CacheMetrics } from '../../../../../node/shell/metrics/cache-metrics.ts';
import { ProjectionRunner, ProjectionStore } from '../../../../../node/shell/projections/index.ts';
import { RedisServer } from '../../../../support/redis-server.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';

const log = pino({ level: 'silent' });
let redis: RedisServer;
const caches: RedisCache[] = [];
let namespaceSeq = 0;

beforeAll(async () => {
  redis = await RedisServer.start();
});
const dirs = new TempDirs();
const projectionNodes: { projections: ProjectionRunner; store: ProjectionStore }[] = [];

afterEach(async () => {
  for (const c of caches.splice(0)) c.close();
  for (const p of projectionNodes.splice(0)) {
    p.projections.stop();
    await p.store.close();
  }
  await redis.restart(); // a test may have killed it
});
afterAll(async () => {
  await redis.stop();
  await dirs.cleanup();
});

/** A cache on its own namespace (tests share one Redis, as clusters may), connected. */
async function connected(options: Partial<RedisCacheOptions> = {}): Promise<RedisCache> {
  const cache = new RedisCache({
    url: redis.url,
    namespace: `test${namespaceSeq++}`,
    ttlMs: 60_000,
    ttlJitter: 0.1,
    negativeTtlMs: 2_000,
    commandTimeoutMs: 200,
    breakerFailureThreshold: 3,
    breakerOpenMs: 100,
    log,
    ...options,
  });
  caches.push(cache);
  await until(async () => {
    try {
      await cache.getMany(['probe']);
      return true;
    } catch {
      return false;
    }
  });
  return cache;
}

async function until(cond: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

type RawClient = ReturnType<typeof rawClientOf>;
function rawClientOf(url: string) {
  return createClient({ url });
}

async function rawClient(): Promise<RawClient> {
  const c = rawClientOf(redis.url);
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

describe('RedisCache', () => {
  it('stores a value with its version and refuses to overwrite it with an older or equal one', async () => {
    const cache = await connected();
    const key = cache.key('agg', 'a');
    expect(await cache.set(key, 3, '{"n":3}')).toBe(true);
    expect(await cache.set(key, 2, '{"n":2}')).toBe(false);
    expect(await cache.set(key, 3, '{"n":"other"}')).toBe(false);
    expect(await cache.getMany([key, cache.key('agg', 'missing')])).toEqual([{ version: 3, payload: '{"n":3}' }, undefined]);
    expect(await cache.set(key, 4, '{"n":4}')).toBe(true);
    expect(await cache.getMany([key])).toEqual([{ version: 4, payload: '{"n":4}' }]);
  });

  it('rejects the slow loader of the stale-set race: miss, load v1, v2 commits and invalidates, set v1', async () => {
    const cache = await connected();
    const key = cache.key('agg', 'raced');
    // 1. A reader misses ...
    expect(await cache.getMany([key])).toEqual([undefined]);
    // 2. ... and loads version 1 from the store (slowly).
    const loaded = { version: 1, payload: '{"balance":10}' };
    // 3. Meanwhile a write commits version 2 and, after apply, invalidates the key.
    await cache.invalidate(new Map([[key, 2]]));
    // 4. The slow loader's fill of version 1 is refused; nothing stale is cached.
    expect(await cache.set(key, loaded.version, loaded.payload)).toBe(false);
    expect(await cache.getMany([key])).toEqual([undefined]);
    // A fill at the new version is accepted.
    expect(await cache.set(key, 2, '{"balance":20}')).toBe(true);
    expect(await cache.getMany([key])).toEqual([{ version: 2, payload: '{"balance":20}' }]);
  });

  it('leaves a value that is already at or past the invalidated version', async () => {
    const cache = await connected();
    const key = cache.key('agg', 'ahead');
    await cache.set(key, 5, '{}');
    await cache.invalidate(new Map([[key, 5]]));
    expect(await cache.getMany([key])).toEqual([{ version: 5, payload: '{}' }]);
    await cache.invalidate(new Map([[key, 6]]));
    expect(await cache.getMany([key])).toEqual([undefined]);
  });

  it('caches negative entries with the short TTL', async () => {
    const cache = await connected({ negativeTtlMs: 1_000, ttlJitter: 0 });
    const key = cache.key('agg', 'nobody');
    expect(await cache.set(key, -1, undefined)).toBe(true);
    expect(await cache.getMany([key])).toEqual([{ version: -1, payload: undefined }]);
    const raw = await rawClient();
    const ttl = await raw.pTTL(key);
    raw.destroy();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_000);
  });

  it('sets a TTL, with jitter inside its bounds, on every key it writes', async () => {
    const cache = await connected({ ttlMs: 10_000, ttlJitter: 0.2 });
    for (let i = 0; i < 50; i++) await cache.set(cache.key('agg', String(i)), i, `{"i":${i}}`);
    await cache.invalidate(new Map(Array.from({ length: 50 }, (_, i) => [cache.key('agg', `t${i}`), i])));
    await cache.set(cache.key('agg', 'neg'), -1, undefined);
    const raw = await rawClient();
    const keys: string[] = [];
    for await (const batch of raw.scanIterator({ MATCH: `${cache.key('agg', '')}*`, COUNT: 100 })) keys.push(...batch);
    expect(keys).toHaveLength(101);
    const ttls = await Promise.all(keys.map((k) => raw.pTTL(k)));
    raw.destroy();
    for (const [i, ttl] of ttls.entries()) {
      if (keys[i] === cache.key('agg', 'neg')) expect(ttl).toBeLessThanOrEqual(2_000 * 1.2);
      else expect(ttl).toBeGreaterThan(9_000);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(12_000);
    }
    // Jitter spreads them: not all the same.
    expect(new Set(ttls.map((t) => Math.round(t / 100))).size).toBeGreaterThan(5);
  });

  it('keeps clusters apart by namespace', async () => {
    const a = await connected();
    const b = await connected();
    await a.set(a.key('agg', 'x'), 1, '"a"');
    expect(await b.getMany([b.key('agg', 'x')])).toEqual([undefined]);
  });

  it('bumps the epoch on reconnect, so values written before an outage are not trusted after it', async () => {
    const cache = await connected({ namespace: 'shared-epoch' });
    const other = await connected({ namespace: 'shared-epoch' });
    const key = cache.key('agg', 'k');
    // Connecting bumped the epoch: the first node's fill under the old one is refused, and it
    // learns the new epoch from that refusal.
    expect(await cache.set(key, 1, '"before"')).toBe(false);
    expect(await cache.set(key, 1, '"before"')).toBe(true);
    expect(await other.getMany([key])).toEqual([{ version: 1, payload: '"before"' }]);
    // The other node bumps the epoch (as after its own reconnect): the value is a miss for both.
    await other.bumpEpoch();
    expect(await other.getMany([key])).toEqual([undefined]);
    expect(await cache.getMany([key])).toEqual([undefined]); // learns the new epoch from the read
    expect(await cache.set(key, 1, '"after"')).toBe(true);
    expect(await other.getMany([key])).toEqual([{ version: 1, payload: '"after"' }]);
  });

  it('never comes back to an old epoch, even when the epoch counter was evicted', async () => {
    const cache = await connected({ namespace: 'evicted-epoch' });
    const key = cache.key('agg', 'k');
    expect(await cache.set(key, 1, '"old"')).toBe(true);
    const raw = await rawClient();
    try {
      const old = Number(await raw.get('evicted-epoch:epoch'));
      // An allkeys-lru Redis evicts the counter, not the value.
      await raw.del('evicted-epoch:epoch');
      const later = await connected({ namespace: 'evicted-epoch' });
      // Counting again from 1 would reach the old epoch within `old` bumps and trust "old".
      for (let i = 0; i < Math.min(old + 2, 20); i++) {
        expect(await later.getMany([key])).toEqual([undefined]);
        await later.bumpEpoch();
      }
      expect(Number(await raw.get('evicted-epoch:epoch'))).toBeGreaterThan(old);
    } finally {
      raw.destroy();
    }
  });

  it('keeps counting an epoch that is ahead of the clock, in digits a value can carry', async () => {
    const raw = await rawClient();
    try {
      // A counter ahead of the server clock (bumped fast, or a clock stepped back): INCR decides.
      await raw.set('ahead-epoch:epoch', '9000000000000000');
      const cache = await connected({ namespace: 'ahead-epoch' });
      expect(await raw.get('ahead-epoch:epoch')).toMatch(/^90000000000000\d\d$/);
      const key = cache.key('agg', 'k');
      expect(await cache.set(key, 1, '"v"')).toBe(true);
      expect(await cache.getMany([key])).toEqual([{ version: 1, payload: '"v"' }]);
    } finally {
      raw.destroy();
    }
  });

  it('bumps the epoch after an invalidation it could not send', async () => {
    const cache = await connected();
    const key = cache.key('agg', 'lost');
    await cache.set(key, 1, '"v1"');
    redis.pause();
    await expect(cache.invalidate(new Map([[key, 2]]))).rejects.toThrow('invalidation lost');
    redis.resume();
    // The value at version 1 is still in Redis, but the next use bumps the epoch first.
    await until(async () => {
      try {
        return (await cache.getMany([key]))[0] === undefined;
      } catch {
        return false;
      }
    });
  });

  it('fails fast with CacheUnavailableError when Redis hangs, then opens the circuit', async () => {
    const cache = await connected({ commandTimeoutMs: 50, breakerFailureThreshold: 2, breakerOpenMs: 60_000 });
    redis.pause();
    try {
      const started = Date.now();
      await expect(cache.getMany(['x'])).rejects.toThrow('took longer than 50 ms');
      await expect(cache.getMany(['x'])).rejects.toThrow('took longer than 50 ms');
      expect(cache.circuitState).toBe('open');
      await expect(cache.getMany(['x'])).rejects.toThrow('circuit open');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      redis.resume();
    }
  });

  it('does not time out a command whose reply arrived while this process was busy', async () => {
    const cache = await connected({ commandTimeoutMs: 50 });
    await cache.set(cache.key('agg', 'busy'), 1, '"x"');
    const read = cache.getMany([cache.key('agg', 'busy')]);
    // node-redis writes queued commands on setImmediate: once the command is queued (a few
    // microtasks), the next check phase puts it on the wire. Then this process is busy for twice
    // the timeout, while Redis answers at once.
    for (let i = 0; i < 10; i++) await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    const until = performance.now() + 100;
    while (performance.now() < until) {
      // busy: CPU saturation, a long GC or a slow request handler
    }
    expect(await read).toEqual([{ version: 1, payload: '"x"' }]);
  });

  it('recovers after Redis is killed and restarted empty', async () => {
    const cache = await connected({ breakerOpenMs: 50 });
    const key = cache.key('agg', 'r');
    await redis.kill();
    await expect(cache.getMany([key])).rejects.toThrow();
    await redis.restart();
    await until(async () => {
      try {
        await cache.getMany([key]);
        return true;
      } catch {
        return false;
      }
    });
    expect(await cache.set(key, 1, '"back"')).toBe(true);
    expect(await cache.getMany([key])).toEqual([{ version: 1, payload: '"back"' }]);
  });
});

describe('CacheAside', () => {
  it('serves 1,000 concurrent misses on one key with one store load', async () => {
    const cache = await connected();
    const aside = new CacheAside({ cache, log });
    let loads = 0;
    const read = { key: cache.key('agg', 'hot'), atLeast: undefined, load: (): Versioned => (loads++, { version: 7, value: { hot: true } }) };
    const views = await Promise.all(Array.from({ length: 1_000 }, () => aside.read('aggregate', read)));
    expect(loads).toBe(1);
    expect(views.every((v) => v.version === 7)).toBe(true);
    await until(async () => (await cache.getMany([read.key]))[0]?.version === 7);
    // Now warm: no load at all.
    await aside.read('aggregate', read);
    expect(loads).toBe(1);
  });

  it('never serves a strong read a cached version below the authoritative one', async () => {
    const cache = await connected();
    const aside = new CacheAside({ cache, log });
    const key = cache.key('agg', 'acct');
    await cache.set(key, 1, '{"balance":10}');
    // The store is at version 2; the cache still holds version 1 (its invalidation not yet sent).
    const strong = await aside.read('aggregate', { key, atLeast: 2, load: () => ({ version: 2, value: { balance: 20 } }) });
    expect(strong).toEqual({ version: 2, value: { balance: 20 } });
    // An eventual read may serve what the cache holds (here the fill to version 2 has landed or not).
    await until(async () => (await cache.getMany([key]))[0]?.version === 2);
    const eventual = await aside.read('aggregate', { key, atLeast: undefined, load: () => ({ version: 2, value: { balance: 20 } }) });
    expect(eventual).toEqual({ version: 2, value: { balance: 20 } });
  });

  it('answers from the store when Redis is down, without failing', async () => {
    const cache = await connected({ breakerOpenMs: 60_000 });
    const aside = new CacheAside({ cache, log });
    await redis.kill();
    const views = await Promise.all(Array.from({ length: 20 }, (_, i) => aside.read('aggregate', { key: cache.key('agg', String(i)), atLeast: 0, load: () => ({ version: i, value: i }) })));
    expect(views.map((v) => v.value)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const many = await aside.readMany('aggregate', [{ key: 'a', atLeast: undefined, load: () => ({ version: 0, value: 'a' }) }]);
    expect(many).toEqual([{ version: 0, value: 'a' }]);
  });

  it('reads many keys in one round trip, loading only the misses', async () => {
    const cache = await connected();
    const aside = new CacheAside({ cache, log });
    await cache.set(cache.key('agg', 'w'), 4, '"warm"');
    const loaded: string[] = [];
    const reads = ['w', 'c'].map((id) => ({ key: cache.key('agg', id), atLeast: undefined, load: (): Versioned => (loaded.push(id), { version: 1, value: id }) }));
    expect(await aside.readMany('aggregate', reads)).toEqual([
      { version: 4, value: 'warm' },
      { version: 1, value: 'c' },
    ]);
    expect(loaded).toEqual(['c']);
  });
});

describe('CacheAside with state held in memory', () => {
  it('answers from memory without asking Redis, counted apart from cache requests; asks Redis for the rest', async () => {
    const cache = await connected();
    const registry = new Registry();
    const aside = new CacheAside({ cache, metrics: new CacheMetrics(registry), log });
    const counts = async (): Promise<Record<string, number>> => {
      const values = [...((await registry.getSingleMetric('eventraft_cache_requests_total')?.get())?.values ?? []), ...((await registry.getSingleMetric('eventraft_cache_local_reads_total')?.get())?.values ?? [])];
      return Object.fromEntries(values.filter((v) => v.value > 0 && v.labels.kind === 'aggregate').map((v) => [String(v.labels.result ?? 'local'), v.value]));
    };
    // Redis holds an older version of `held`; the node holds it at version 5 in memory.
    await cache.set(cache.key('agg', 'held'), 3, '"old"');
    const held = { key: cache.key('agg', 'held'), atLeast: 5, load: (): Versioned => ({ version: 5, value: 'loaded' }), local: (): Versioned => ({ version: 5, value: 'kept' }) };
    expect(await aside.read('aggregate', held)).toEqual({ version: 5, value: 'kept' });
    // Nothing asked of Redis: not even a stale-version refill.
    expect((await cache.getMany([held.key]))[0]?.version).toBe(3);
    expect(await counts()).toEqual({ local: 1 });

    // Not held: through the cache as before (a miss, loaded and filled).
    const cold = { key: cache.key('agg', 'cold'), atLeast: undefined, load: (): Versioned => ({ version: 2, value: 'cold' }), local: (): undefined => undefined };
    expect(await aside.read('aggregate', cold)).toEqual({ version: 2, value: 'cold' });
    expect(await counts()).toEqual({ local: 1, miss: 1 });

    // The batch form: held ones from memory, one round trip for the others.
    await until(async () => (await cache.getMany([cold.key]))[0]?.version === 2);
    expect(await aside.readMany('aggregate', [cold, held, cold])).toEqual([
      { version: 2, value: 'cold' },
      { version: 5, value: 'kept' },
      { version: 2, value: 'cold' },
    ]);
    expect(await counts()).toEqual({ local: 2, miss: 1, hit: 2 });

    // Redis down: held state is still served from memory; the rest from the store.
    await redis.kill();
    expect(await aside.readMany('aggregate', [held, cold])).toEqual([
      { version: 5, value: 'kept' },
      { version: 2, value: 'cold' },
    ]);
    expect(await counts()).toEqual({ local: 3, miss: 1, hit: 2, error: 1 });
  });
});

describe('Invalidator', () => {
  it('sends the highest version reported per key, in batches after the caller returns', async () => {
    const cache = await connected();
    const inv = new Invalidator({ cache, log });
    const keys = Array.from({ length: 600 }, (_, i) => cache.key('agg', `i${i}`));
    for (const k of keys) await cache.set(k, 1, '"old"');
    for (const k of keys) {
      inv.changed(k, 2);
      inv.changed(k, 3);
      inv.changed(k, 2);
    }
    // Nothing sent synchronously: the write path does not wait.
    expect((await cache.getMany([keys[0] as string]))[0]?.version).toBe(1);
    await inv.idle();
    expect((await cache.getMany(keys)).every((e) => e === undefined)).toBe(true);
    // The tombstones are at version 3: a fill at 2 is refused, at 3 accepted.
    expect(await cache.set(keys[0] as string, 2, '"two"')).toBe(false);
    expect(await cache.set(keys[0] as string, 3, '"three"')).toBe(true);
  });
});

describe('ProjectionCache', () => {
  /** A node's projection side on an in-memory event log: runner, store, and the cache in front. */
  async function projectionNode(modules: DomainModule<never>[] = [account as never], o: { invalidate: boolean } = { invalidate: true }) {
    const cache = await connected();
    const sm = new EventStoreStateMachine(new MemoryEventStorage());
    const store = ProjectionStore.open(await dirs.make());
    const projections = new ProjectionRunner({ events: sm, domains: new DomainRegistry(modules), store, log });
    const registry = new Registry();
    const invalidator = new Invalidator({ cache, log });
    const rows = new ProjectionCache({ aside: new CacheAside({ cache, metrics: new CacheMetrics(registry), log }), cache, invalidator: o.invalidate ? invalidator : undefined, projections });
    projectionNodes.push({ projections, store });
    const append = (stream: string, events: { type: string; data: Json }[]): void => {
      const index = (sm.appliedIndex + 1) as LogIndex;
      const cmd = { type: 'Append' as const, timestamp: 1, appends: [{ stream, expectedVersion: 'any' as const, events: events.map((e, i) => proposedEvent({ id: `${stream}-${index}-${i}`, ...e })) }] };
      if (!sm.apply(index, `r${index}`, encodeCommand(cmd)).ok) throw new Error('append failed');
      projections.notify();
    };
    /** Waits for every projection to process the log and for the invalidations that caused. */
    const caughtUp = async (): Promise<void> => {
      for (const p of projections.status()) await projections.waitFor(p.name, sm.nextPosition, 5_000);
      await invalidator.idle();
    };
    const results = async (): Promise<Record<string, number>> => {
      const metric = await registry.getSingleMetric('eventraft_cache_requests_total')?.get();
      return Object.fromEntries((metric?.values ?? []).filter((v) => v.value > 0).map((v) => [String(v.labels.result), v.value]));
    };
    return { cache, projections, rows, append, caughtUp, results };
  }

  it('serves eventual reads from the cache and invalidates rows when their projection commits a change', async () => {
    const n = await projectionNode();
    n.append('account-a', [{ type: 'AccountOpened', data: { owner: 'ann' } }]);
    await n.caughtUp();
    expect(await n.rows.read('accounts-by-owner', 'ann', false)).toEqual({ version: 0, value: { accounts: { a: 0 } } });
    await until(async () => (await n.cache.getMany([n.cache.key('prj', 'accounts-by-owner:ann')]))[0]?.version === 0);
    expect(await n.rows.read('accounts-by-owner', 'ann', false)).toEqual({ version: 0, value: { accounts: { a: 0 } } });
    expect(await n.results()).toEqual({ miss: 1, hit: 1 });

    n.append('account-a', [{ type: 'MoneyDeposited', data: { amount: 9 } }]);
    await n.caughtUp();
    // The change was invalidated: even an eventual read sees it.
    expect(await n.rows.read('accounts-by-owner', 'ann', false)).toEqual({ version: 1, value: { accounts: { a: 9 } } });
    // A missing row is cached as missing, with its version.
    expect(await n.rows.read('accounts-by-owner', 'nobody', false)).toEqual({ version: -1, value: undefined });
  });

  it('never serves a strong read a cached row older than this node has', async () => {
    // Invalidations get lost (Redis unreachable for them, say): the cache keeps an old row.
    const n = await projectionNode(undefined, { invalidate: false });
    n.append('account-a', [{ type: 'AccountOpened', data: { owner: 'bo' } }]);
    await n.caughtUp();
    const key = n.cache.key('prj', 'accounts-by-owner:bo');
    expect(await n.rows.read('accounts-by-owner', 'bo', true)).toEqual({ version: 0, value: { accounts: { a: 0 } } });
    await until(async () => (await n.cache.getMany([key]))[0]?.version === 0);
    n.append('account-a', [{ type: 'MoneyDeposited', data: { amount: 1 } }]);
    await n.caughtUp();
    // An eventual read may serve the old row; a strong one may not.
    expect(await n.rows.read('accounts-by-owner', 'bo', false)).toEqual({ version: 0, value: { accounts: { a: 0 } } });
    expect(await n.rows.read('accounts-by-owner', 'bo', true)).toEqual({ version: 1, value: { accounts: { a: 1 } } });
    expect(await n.results()).toEqual({ miss: 1, hit: 1, stale: 1 });
    // A row cached at this node's version is a hit for a strong read.
    await until(async () => (await n.cache.getMany([key]))[0]?.version === 1);
    expect(await n.rows.read('accounts-by-owner', 'bo', true)).toEqual({ version: 1, value: { accounts: { a: 1 } } });
    expect(await n.results()).toEqual({ miss: 1, hit: 2, stale: 1 });
  });

  it('distrusts the cache on a rebuild, and caches no past rows while the rebuild runs', async () => {
    let doubled = false;
    const counting: DomainModule = {
      ...(account as unknown as DomainModule),
      type: 'counting',
      events: {},
      projections: [
        {
          name: 'totals',
          apply(event, rows) {
            const amount = (event.data as { amount: number }).amount * (doubled ? 2 : 1);
            rows.set('total', ((rows.get('total') as number | undefined) ?? 0) + amount);
          },
        },
      ],
    };
    const n = await projectionNode([counting as never]);
    for (let i = 0; i < 20; i++) n.append('s', [{ type: 'Added', data: { amount: 1 } }]);
    await n.caughtUp();
    expect(await n.rows.read('totals', 'total', true)).toEqual({ version: 19, value: 20 });
    const key = n.cache.key('prj', 'totals:total');
    await until(async () => (await n.cache.getMany([key]))[0]?.version === 19);

    // A new release changes the handler; the rebuild recomputes every row at the same versions.
    doubled = true;
    n.projections.rebuild('totals');
    expect(n.projections.rebuilding('totals')).toBe(true);
    // Mid-rebuild reads go to the store (past values, not cached).
    expect(await n.rows.read('totals', 'total', false)).toEqual({ version: -1, value: undefined });
    await n.caughtUp();
    expect(await n.rows.read('totals', 'total', true)).toEqual({ version: 19, value: 40 });
    expect(await n.rows.read('totals', 'total', false)).toEqual({ version: 19, value: 40 });
  });
});
