/**
 * `npm run bench:cache`: aggregate reads at 64 clients on a real 3-node cluster (fsync on), with
 * a warm Redis cache and with the cache disabled, for aggregates of 10 and of 1,000 events, at
 * `eventual` and `strong` consistency: reads/s, p50/p99 and the cache hit ratio. Reads go to all
 * three nodes in turn. Ends with one JSON line of headline figures.
 *
 * Goals (issue #5): with a warm cache, eventual reads of a 1,000-event aggregate at least 10x
 * the uncached rate; strong reads at least 3x.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NodeCluster, waitForLeader } from '../test/integration/support/node-cluster.ts';
import { RedisServer } from '../test/support/redis-server.ts';
import { formatRun, request, runLoad } from './load.ts';
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
  const agent = new http.Agent({ keepAlive: false });
  const r = await request(agent, host, port, 'POST', `/v1/streams/account-${id}/events`, body);
  if (r.status !== 201) throw new Error(`seeding account-${id}: ${r.status} ${r.body}`);
}

async function cacheCounts(cluster: NodeCluster): Promise<{ hit: number; total: number }> {
  let hit = 0;
  let total = 0;
  for (const s of cluster.specs) {
    const text = await (await fetch(`${cluster.url(s.id)}/metrics`)).text();
    for (const m of text.matchAll(/^eventraft_cache_requests_total\{result="(\w+)",kind="aggregate"\} (\S+)$/gm)) {
      total += Number(m[2]);
      if (m[1] === 'hit') hit += Number(m[2]);
    }
  }
  return { hit, total };
}

interface Case {
  readonly cached: boolean;
  readonly events: number;
  readonly consistency: 'eventual' | 'strong';
  readonly run: RunResult;
  readonly hitRatio: number | undefined;
}

async function main(): Promise<void> {
  const info = machineInfo();
  out(`bench:cache  ${JSON.stringify(info)}`);
  out(`params: 3 node processes, fsync on, ${aggregateCount} account aggregates of 10 and of 1,000 events, GET /v1/aggregates/account/{id} from 64 keep-alive clients over all nodes, ${seconds}s per run`);
  const redis = await RedisServer.start();
  const cases: Case[] = [];
  try {
    for (const cached of [true, false]) {
      const root = await mkdtemp(path.join(os.tmpdir(), 'eventraft-bench-cache-'));
      const cluster = await NodeCluster.create(root, 3, cached ? 211 : 221, { EVENTRAFT_LOG_LEVEL: 'warn', ...(cached ? { EVENTRAFT_REDIS_URL: redis.url, EVENTRAFT_CLUSTER_ID: 'bench-cache' } : {}) });
      cluster.startAll();
      try {
        const leader = cluster.spec(await waitForLeader(cluster));
        for (const events of [10, 1_000]) for (let i = 0; i < aggregateCount; i++) await seedAccount(leader.host, leader.httpPort, `e${events}-${i}`, events);
        for (const events of [10, 1_000]) {
          for (const consistency of ['eventual', 'strong'] as const) {
            const query = consistency === 'eventual' ? '?consistency=eventual' : '';
            const specs = cluster.specs;
            let n = 0;
            const read = async (_c: number, agent: http.Agent): Promise<boolean> => {
              const s = specs[n % specs.length] as (typeof specs)[number];
              const id = `e${events}-${n++ % aggregateCount}`;
              return (await request(agent, s.host, s.httpPort, 'GET', `/v1/aggregates/account/${id}${query}`)).status === 200;
            };
            await runLoad(64, 1, read); // warm-up: fills the cache
            const before = await cacheCounts(cluster);
            const run = await runLoad(64, seconds, read);
            const after = await cacheCounts(cluster);
            const total = after.total - before.total;
            cases.push({ cached, events, consistency, run, hitRatio: cached && total > 0 ? (after.hit - before.hit) / total : undefined });
            out(`${cached ? 'cache on ' : 'cache off'}  ${String(events).padStart(5)} events  ${consistency.padEnd(8)} ${formatRun(run, 'reads/s')}${cached ? `  hit ratio ${((after.hit - before.hit) / Math.max(1, total)).toFixed(3)}` : ''}`);
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
  const rate = (cached: boolean, events: number, c: string): number => cases.find((x) => x.cached === cached && x.events === events && x.consistency === c)?.run.perSecond ?? 0;
  const speedup = (events: number, c: string): number => rate(true, events, c) / Math.max(1, rate(false, events, c));
  for (const events of [10, 1_000]) out(`speed-up with a warm cache, ${events} events: eventual ${speedup(events, 'eventual').toFixed(1)}x, strong ${speedup(events, 'strong').toFixed(1)}x`);
  out(
    JSON.stringify({
      bench: 'cache',
      commit: info.commit,
      cases: cases.map((x) => ({ cached: x.cached, events: x.events, consistency: x.consistency, readsPerSec: Math.round(x.run.perSecond), p50ms: Number(x.run.p50ms.toFixed(2)), p99ms: Number(x.run.p99ms.toFixed(2)), errors: x.run.errors, hitRatio: x.hitRatio === undefined ? null : Number(x.hitRatio.toFixed(3)) })),
      speedupEventual1000: Number(speedup(1_000, 'eventual').toFixed(1)),
      speedupStrong1000: Number(speedup(1_000, 'strong').toFixed(1)),
    }),
  );
}

await main();
