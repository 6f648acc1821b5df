import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { RedisServer } from '../support/redis-server.ts';
import { clusterPerTest } from './support/cluster-fixture.ts';
import { getJson, until, waitForLeader } from './support/node-cluster.ts';

const fixture = clusterPerTest();
let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.stop();
});

const json = { 'content-type': 'application/json' };
interface View {
  readonly version: number;
  readonly state: { balance: number } | null;
}

async function command(base: string, id: string, name: string, body: unknown, key: string): Promise<{ status: number; body: { version?: number } }> {
  return getJson(`${base}/v1/aggregates/account/${id}/commands/${name}`, { method: 'POST', headers: { ...json, 'idempotency-key': key }, body: JSON.stringify(body) });
}

/** One sample's value on one node. */
async function metric(base: string, sample: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

/** Sum of eventraft_cache_requests_total{result} over kinds (or of one kind), on one node. */
async function cacheCount(base: string, result: string, kind = '[^"]*'): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let n = 0;
  const sample = new RegExp(`^eventraft_cache_requests_total\\{(?=[^}]*result="${result}")(?=[^}]*kind="${kind}")[^}]*\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(sample)) n += Number(m[1]);
  return n;
}

describe('the Redis cache in front of a 3-node cluster', () => {
  it('serves a strong read on a follower at the version just written on the leader, even when the cache holds the old one', async () => {
    // No kept aggregate states: every aggregate read goes through Redis, which this test is about.
    const c = await fixture.start(231, { EVENTRAFT_REDIS_URL: redis.url, EVENTRAFT_CLUSTER_ID: 'cache-strong', EVENTRAFT_KEPT_AGGREGATES: '0' });
    const leader = await waitForLeader(c);
    const follower = c.url(c.specs.map((s) => s.id).find((id) => id !== leader) as string);
    expect((await command(c.url(leader), 'a1', 'Open', { owner: 'ann' }, 'o1')).status).toBe(200);
    // Fill the cache at version 0 through the follower, and wait until it is there.
    const raw = createClient({ url: redis.url });
    raw.on('error', () => undefined);
    await raw.connect();
    try {
      const key = 'eventraft:cache-strong:agg:account:a1';
      await until('cache filled', async () => {
        await getJson<View>(`${follower}/v1/aggregates/account/a1`);
        const v = await raw.get(key);
        return v?.match(/^v:\d+:0:/) ? v : undefined;
      });
      const old = (await raw.get(key)) as string;
      // The same for the owner's row of the accounts-by-owner projection (version: position 0).
      const rowKey = 'eventraft:cache-strong:prj:accounts-by-owner:ann';
      await until('row cached', async () => {
        await getJson(`${follower}/v1/projections/accounts-by-owner/ann`);
        return (await raw.get(rowKey))?.match(/^v:\d+:0:/) ? true : undefined;
      });
      const oldRow = (await raw.get(rowKey)) as string;

      expect((await command(c.url(leader), 'a1', 'Deposit', { amount: 5 }, 'd1')).body.version).toBe(1);
      // Put the old values back, as if the invalidations had not arrived yet. Every node
      // invalidates what it applies: wait for all three first (Open and Deposit: two aggregate
      // keys; the projection rows account/a1 and ann, and ann again unless one batch had both).
      const sent = async (): Promise<string> => (await Promise.all(c.specs.map((s) => metric(c.url(s.id), 'eventraft_cache_invalidations_total{outcome="sent"}')))).join();
      let last = '';
      await until('invalidations sent and settled', async () => {
        const now = await sent();
        const settled = now === last && now.split(',').every((n) => Number(n) >= 4);
        last = now;
        await new Promise((r) => setTimeout(r, 200));
        return settled ? true : undefined;
      });
      await raw.set(key, old, { expiration: { type: 'PX', value: 60_000 } });
      await raw.set(rowKey, oldRow, { expiration: { type: 'PX', value: 60_000 } });
      const row = await getJson<{ value: unknown; version: number }>(`${follower}/v1/projections/accounts-by-owner/ann`);
      expect(row).toMatchObject({ status: 200, body: { value: { accounts: { a1: 5 } }, version: 1 } });
      expect(await cacheCount(follower, 'stale', 'projection')).toBe(1);

      const strong = await getJson<View>(`${follower}/v1/aggregates/account/a1`);
      expect(strong.body).toMatchObject({ version: 1, state: { balance: 5 } });
      const batch = await getJson<{ aggregates: View[] }>(`${follower}/v1/aggregates/account?ids=a1`);
      expect(batch.body.aggregates[0]).toMatchObject({ version: 1 });
      // The stale value was seen and replaced, not served.
      expect(await cacheCount(follower, 'stale')).toBeGreaterThanOrEqual(1);
      // An eventual read may serve the cache: once the strong read refilled it, that is version 1.
      await until('refilled', async () => ((await raw.get(key))?.match(/^v:\d+:1:/) ? true : undefined));
      expect((await getJson<View>(`${follower}/v1/aggregates/account/a1?consistency=eventual`)).body.version).toBe(1);
      expect(await cacheCount(follower, 'hit')).toBeGreaterThanOrEqual(1);

      // Every key the cluster wrote has a TTL.
      const keys: string[] = [];
      for await (const batchKeys of raw.scanIterator({ MATCH: 'eventraft:cache-strong:*', COUNT: 100 })) keys.push(...batchKeys);
      expect(keys.length).toBeGreaterThan(1);
      for (const k of keys) {
        if (k.endsWith(':epoch')) continue; // the epoch counter must outlive every value
        expect(await raw.pTTL(k)).toBeGreaterThan(0);
      }
    } finally {
      raw.destroy();
    }
    fixture.passed();
  }, 60_000);

  it('answers aggregates a node keeps in memory without Redis, fresh for strong reads, and the others through it', async () => {
    const c = await fixture.start(17, { EVENTRAFT_REDIS_URL: redis.url, EVENTRAFT_CLUSTER_ID: 'cache-kept' });
    const leader = await waitForLeader(c);
    const follower = c.url(c.specs.map((s) => s.id).find((id) => id !== leader) as string);
    for (const id of ['k1', 'k2']) expect((await command(c.url(leader), id, 'Open', { owner: 'kim' }, `open-${id}`)).status).toBe(200);
    const localReads = (): Promise<number> => metric(follower, 'eventraft_cache_local_reads_total{kind="aggregate"}');
    // The follower holds no state for k1 yet: a cache miss, which it folds, keeps and fills.
    expect((await getJson<View>(`${follower}/v1/aggregates/account/k1`)).body.version).toBe(0);
    expect(await cacheCount(follower, 'miss', 'aggregate')).toBe(1);
    expect(await localReads()).toBe(0);
    // Then from memory, also right after a deposit on the leader: a strong read sees it.
    expect((await command(c.url(leader), 'k1', 'Deposit', { amount: 7 }, 'dep-k1')).body.version).toBe(1);
    expect((await getJson<View>(`${follower}/v1/aggregates/account/k1`)).body).toMatchObject({ version: 1, state: { balance: 7 } });
    expect((await getJson<View>(`${follower}/v1/aggregates/account/k1?consistency=eventual`)).body.version).toBe(1);
    expect(await localReads()).toBe(2);
    expect((await cacheCount(follower, 'hit', 'aggregate')) + (await cacheCount(follower, 'stale', 'aggregate'))).toBe(0);
    // The batch form asks Redis only for the one it does not hold.
    const batch = await getJson<{ aggregates: View[] }>(`${follower}/v1/aggregates/account?ids=k1,k2`);
    expect(batch.body.aggregates.map((a) => a.version)).toEqual([1, 0]);
    expect(await localReads()).toBe(3);
    expect(await cacheCount(follower, 'miss', 'aggregate')).toBe(2);
    fixture.passed();
  }, 60_000);

  it('fails no request and serves no stale strong read while Redis is killed and restarted under load', async () => {
    const c = await fixture.start(241, { EVENTRAFT_REDIS_URL: redis.url, EVENTRAFT_CLUSTER_ID: 'cache-outage', EVENTRAFT_CACHE_BREAKER_OPEN_MS: '200', EVENTRAFT_KEPT_AGGREGATES: '0' });
    const leader = await waitForLeader(c);
    const bases = c.specs.map((s) => c.url(s.id));
    const accounts = Array.from({ length: 8 }, (_, i) => `acct${i}`);
    for (const a of accounts) expect((await command(c.url(leader), a, 'Open', { owner: a }, `open-${a}`)).status).toBe(200);
    /** The highest version acknowledged per account: a strong read that starts later must see it. */
    const acked = new Map(accounts.map((a) => [a, 0]));
    const failures: string[] = [];
    const latencies: number[] = [];
    let stop = false;
    let seq = 0;

    const writer = async (w: number): Promise<void> => {
      while (!stop) {
        const a = accounts[(w + seq++) % accounts.length] as string;
        const r = await command(bases[seq % bases.length] as string, a, 'Deposit', { amount: 1 }, `dep-${w}-${seq}`);
        if (r.status !== 200 || r.body.version === undefined) failures.push(`deposit ${a}: ${r.status}`);
        else acked.set(a, Math.max(acked.get(a) ?? 0, r.body.version));
      }
    };
    const reader = async (rd: number): Promise<void> => {
      let i = 0;
      while (!stop) {
        const a = accounts[(rd + i++) % accounts.length] as string;
        const base = bases[i % bases.length] as string;
        const eventual = i % 3 === 0;
        const mustSee = acked.get(a) ?? 0;
        const started = performance.now();
        const r = await getJson<View>(`${base}/v1/aggregates/account/${a}${eventual ? '?consistency=eventual' : ''}`);
        latencies.push(performance.now() - started);
        if (r.status !== 200) failures.push(`read ${a}: ${r.status}`);
        else if (!eventual && r.body.version < mustSee) failures.push(`stale strong read of ${a}: version ${r.body.version} < acknowledged ${mustSee}`);
      }
    };
    const load = Promise.all([...[0, 1, 2].map(writer), ...[0, 1, 2, 3, 4, 5].map(reader)]);

    const hitsBefore = async (): Promise<number> => (await Promise.all(bases.map((b) => cacheCount(b, 'hit')))).reduce((x, y) => x + y, 0);
    await until('cache hits under load', async () => ((await hitsBefore()) > 50 ? true : undefined));
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1_500));
    const errorsDuringOutage = (await Promise.all(bases.map((b) => cacheCount(b, 'error')))).reduce((x, y) => x + y, 0);
    await redis.restart();
    const hitsAtRestart = await hitsBefore();
    // The hit ratio recovers: hits grow again once Redis is back (after the epoch bump).
    await until('hits after restart', async () => ((await hitsBefore()) > hitsAtRestart + 50 ? true : undefined), 30_000);
    stop = true;
    await load;

    expect(failures).toEqual([]);
    expect(errorsDuringOutage).toBeGreaterThan(0); // the outage was felt by the cache, not by clients
    // Bounded: no request waited on the dead Redis beyond the command timeout and a little more.
    latencies.sort((x, y) => x - y);
    expect(latencies[Math.floor(latencies.length * 0.99)]).toBeLessThan(1_000);
    // Every node agrees with the acknowledged balances in the end.
    for (const a of accounts) {
      const views = await Promise.all(bases.map((b) => getJson<View>(`${b}/v1/aggregates/account/${a}`)));
      expect(new Set(views.map((v) => v.body.version)).size).toBe(1);
      expect(views[0]?.body.version).toBeGreaterThanOrEqual(acked.get(a) ?? 0);
    }
    fixture.passed();
  }, 120_000);
});
