/**
 * `npm run bench:cache`: reads at 64 clients on a real 3-node cluster (fsync on), with a warm
 * Redis cache and with the cache disabled, at `eventual` and `strong` consistency: aggregates of
 * 10 and of 1,000 events, and rows of the accounts-by-owner projection. Reports reads/s, p50/p99,
 * the cache hit ratio and the share of reads answered from the aggregate states a node keeps in
 * memory. Reads go to all three nodes in turn. Both are measured twice: with kept aggregate
 * states (the default), where a node answers the aggregates it holds from memory and Redis serves
 * the others, and without them (EVENTRAFT_KEPT_AGGREGATES=0), where every uncached read folds the
 * whole stream: what the cache saves a node that does not hold an aggregate. Ends with one JSON
 * line of headline figures.
 *
 * Goals (issue #5): with a warm cache, eventual reads of a 1,000-event aggregate at least 10x
 * the uncached rate; strong reads at least 3x (without kept states: the fold the cache saves).
 * Projection rows have no goal: they are stored materialized, so the cache can only save an lmdb
 * read.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NodeCluster, waitForLeader } from '../test/integration/support/node-cluster.ts';
import { RedisServer } from '../test/support/redis-server.ts';
import { HttpConnectionPool, formatRun, request, runLoad } from './load.ts';
import type { RunResult } from './load.ts';
import { machineInfo } from './machine.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, aggregates: { type: 'string', default: '16' } } });
const seconds = Number(values.seconds);
const aggregateCount = Number(values.aggregates);
const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

/** Appends an account stream of `events` events (one AccountOpened, then deposits) in one request. */
async function seedAccount(host: string, port: number, id: string, events: number): Promise<void> {
  const body = JSON.stringify({
    expectedVersion: 'no_stream',
    events: [{ type: 'AccountOpened', data: { owner: `owner-${id}` } }, ...Array.from({ length: events - 1 }, () => ({ type: 'MoneyDeposited', data: { amount: 1 } }))],
  });
  const pool = new HttpConnectionPool();
  const r = await request(pool, host, port, 'POST', `/v1/streams/account-${id}/events`, body);
  pool.destroy();
  if (r.status !== 201) throw new Error(`seeding account-${id}: ${r.status} ${r.body}`);
}

/** Over all nodes: cache lookups (`total`), their hits, and reads answered from kept state (`local`). */
async function cacheCounts(cluster: NodeCluster, kind: string): Promise<{ hit: number; total: number; local: number }> {
  let hit = 0;
  let total = 0;
  let local = 0;
  for (const s of cluster.specs) {
    const text = await (await fetch(`${cluster.url(s.id)}/metrics`)).text();
    for (const m of text.matchAll(new RegExp(`^eventraft_cache_requests_total\\{result="(\\w+)",kind="${kind}"\\} (\\S+)$`, 'gm'))) {
      total += Number(m[2]);
      if (m[1] === 'hit') hit += Number(m[2]);
    }
    for (const m of text.matchAll(new RegExp(`^eventraft_cache_local_reads_total\\{kind="${kind}"\\} (\\S+)$`, 'gm'))) local += Number(m[1]);
  }
  return { hit, total, local };
}

/** What is read: an aggregate of 10 or 1,000 events, or a projection row. */
interface Target {
  readonly name: 'aggregate10' | 'aggregate1000' | 'projectionRow';
  readonly kind: 'aggregate' | 'projection';
  readonly path: (i: number) => string;
}

const targets: readonly Target[] = [
  { name: 'aggregate10', kind: 'aggregate', path: (i) => `/v1/aggregates/account/e10-${i}` },
  { name: 'aggregate1000', kind: 'aggregate', path: (i) => `/v1/aggregates/account/e1000-${i}` },
  { name: 'projectionRow', kind: 'projection', path: (i) => `/v1/projections/accounts-by-owner/owner-e10-${i}` },
];

interface Case {
  /** Nodes keep folded aggregate states in memory (the default). */
  readonly kept: boolean;
  readonly cached: boolean;
  readonly target: Target['name'];
  readonly consistency: 'eventual' | 'strong';
  readonly run: RunResult;
  readonly hitRatio: number | undefined;
  /** Of all reads that could use the cache, the share answered from kept state. */
  readonly localShare: number | undefined;
}

async function main(): Promise<void> {
  const info = machineInfo();
  out(`bench:cache  ${JSON.stringify(info)}`);
  out(`params: 3 node processes, fsync on, ${aggregateCount} account aggregates of 10 and of 1,000 events, GET /v1/aggregates/account/{id} and /v1/projections/accounts-by-owner/{owner} from 64 keep-alive clients over all nodes, ${seconds}s per run`);
  const redis = await RedisServer.start();
  const cases: Case[] = [];
  try {
    for (const [kept, cached] of [[true, true], [true, false], [false, true], [false, false]] as const) {
      const root = await mkdtemp(path.join(os.tmpdir(), 'eventraft-bench-cache-'));
      const env = { EVENTRAFT_LOG_LEVEL: 'warn', ...(kept ? {} : { EVENTRAFT_KEPT_AGGREGATES: '0' }), ...(cached ? { EVENTRAFT_REDIS_URL: redis.url, EVENTRAFT_CLUSTER_ID: `bench-cache-${kept ? 'kept' : 'unkept'}` } : {}) };
      const cluster = await NodeCluster.create(root, 3, cached ? 211 : 221, env);
      cluster.startAll();
      try {
        const leader = cluster.spec(await waitForLeader(cluster));
        for (const events of [10, 1_000]) for (let i = 0; i < aggregateCount; i++) await seedAccount(leader.host, leader.httpPort, `e${events}-${i}`, events);
        for (const target of targets) {
          for (const consistency of ['eventual', 'strong'] as const) {
            const query = consistency === 'eventual' ? '?consistency=eventual' : '';
            const specs = cluster.specs;
            let n = 0;
            const read = async (_c: number, pool: HttpConnectionPool): Promise<boolean> => {
              const s = specs[n % specs.length] as (typeof specs)[number];
              return (await request(pool, s.host, s.httpPort, 'GET', `${target.path(n++ % aggregateCount)}${query}`)).status === 200;
            };
            await runLoad(64, 1, read); // warm-up: fills the cache
            const before = await cacheCounts(cluster, target.kind);
            const run = await runLoad(64, seconds, read);
            const after = await cacheCounts(cluster, target.kind);
            const total = after.total - before.total;
            const local = after.local - before.local;
            const hitRatio = cached && total > 0 ? (after.hit - before.hit) / total : undefined;
            const localShare = cached && total + local > 0 ? local / (total + local) : undefined;
            cases.push({ kept, cached, target: target.name, consistency, run, hitRatio, localShare });
            const shares = cached ? `  from memory ${(localShare ?? 0).toFixed(3)}, Redis hit ratio ${hitRatio === undefined ? '-' : hitRatio.toFixed(3)}` : '';
            out(`${kept ? 'kept  ' : 'unkept'} ${cached ? 'cache on ' : 'cache off'}  ${target.name.padEnd(13)}  ${consistency.padEnd(8)} ${formatRun(run, 'reads/s')}${shares}`);
          }
        }
      } finally {
        await cluster.stopAll('SIGTERM');
        await rm(root, { recursive: true, force: true });
      }
    }
  } finally {
    await redis.stop();
  }
  const rate = (kept: boolean, cached: boolean, target: Target['name'], c: string): number => cases.find((x) => x.kept === kept && x.cached === cached && x.target === target && x.consistency === c)?.run.perSecond ?? 0;
  const speedup = (target: Target['name'], c: string, kept = false): number => rate(kept, true, target, c) / Math.max(1, rate(kept, false, target, c));
  for (const kept of [true, false]) {
    for (const { name } of targets) out(`speed-up with a warm cache, ${kept ? 'kept states  ' : 'no kept states'}, ${name}: eventual ${speedup(name, 'eventual', kept).toFixed(1)}x, strong ${speedup(name, 'strong', kept).toFixed(1)}x`);
  }
  out(
    JSON.stringify({
      bench: 'cache',
      commit: info.commit,
      cases: cases.map((x) => ({ kept: x.kept, cached: x.cached, target: x.target, consistency: x.consistency, readsPerSec: Math.round(x.run.perSecond), p50ms: Number(x.run.p50ms.toFixed(2)), p99ms: Number(x.run.p99ms.toFixed(2)), errors: x.run.errors, hitRatio: x.hitRatio === undefined ? null : Number(x.hitRatio.toFixed(3)), localShare: x.localShare === undefined ? null : Number(x.localShare.toFixed(3)) })),
      speedupEventual1000: Number(speedup('aggregate1000', 'eventual').toFixed(1)),
      speedupStrong1000: Number(speedup('aggregate1000', 'strong').toFixed(1)),
      speedupEventual1000Kept: Number(speedup('aggregate1000', 'eventual', true).toFixed(1)),
      speedupStrong1000Kept: Number(speedup('aggregate1000', 'strong', true).toFixed(1)),
      speedupEventualProjection: Number(speedup('projectionRow', 'eventual').toFixed(1)),
      speedupStrongProjection: Number(speedup('projectionRow', 'strong').toFixed(1)),
    }),
  );
}

await main();
