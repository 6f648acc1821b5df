/**
 * `npm run bench:events`: the event store through the HTTP API of a real 3-node cluster (separate
 * processes on loopback, fsync on):
 * - appends of one 256-byte event to one of 1,000 streams, with the expected version the client
 *   last saw; a conflict re-reads the stream's head and retries (1 and 64 clients);
 * - reads of a stream's latest event at `strong` and at `eventual` consistency (64 clients);
 * - Deposit commands on 100 accounts (64 clients).
 * The same client drives, in the same run, an in-memory express store with the same API (the
 * ceiling of any Node HTTP store on this machine): the ratios to it are the figures to compare.
 * Ends with one JSON line of headline figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import express from 'express';
import { listenHttp } from '../node/shell/http/listen.ts';
import { NodeCluster, waitForLeader } from '../test/integration/support/node-cluster.ts';
import { HttpConnectionPool, forkServer, formatRun, request, runLoad } from './load.ts';
import type { Measured, RunResult } from './load.ts';
import { machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '6' },
    streams: { type: 'string', default: '1000' },
    accounts: { type: 'string', default: '100' },
    size: { type: 'string', default: '256' },
    reference: { type: 'boolean', default: false },
  },
});

/** The ceiling: the same routes on express, over maps in memory, no durability, no replication. */
async function serveReference(): Promise<void> {
  const streams = new Map<string, unknown[]>();
  let position = 0;
  const app = express();
  app.use(express.json());
  app.post('/v1/streams/:stream/events', (req, res) => {
    const stream = req.params.stream;
    const body = req.body as { expectedVersion?: number | 'any' | 'no_stream'; events: unknown[] };
    const events = streams.get(stream) ?? [];
    const actual = events.length - 1;
    const expected = body.expectedVersion ?? 'any';
    if (expected !== 'any' && (expected === 'no_stream' ? actual !== -1 : expected !== actual)) {
      res.status(409).type('application/problem+json').send(JSON.stringify({ code: 'WrongExpectedVersion', stream, expected, actual }));
      return;
    }
    events.push(...body.events);
    streams.set(stream, events);
    position += body.events.length;
    res.status(201).json({ stream, firstVersion: actual + 1, lastVersion: events.length - 1, firstPosition: position - body.events.length, lastPosition: position - 1, duplicate: false });
  });
  app.get('/v1/streams/:stream/events', (req, res) => {
    const events = streams.get(req.params.stream) ?? [];
    res.json({ stream: req.params.stream, version: events.length - 1, events: events.slice(-1) });
  });
  const server = await listenHttp(app, 0, '127.0.0.1');
  server.keepAliveTimeout = 65_000;
  process.send?.({ port: (server.address() as { port: number }).port });
}

/**
 * A tiny seeded generator per client, so runs pick the same streams. It uses the high bits of the
 * LCG: the low bits of a power-of-two LCG cycle quickly and would make clients collide in step.
 */
function picker(seed: number, n: number): () => number {
  let s = (Math.imul(seed, 2654435761) + 1) >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

/** Version conflicts met by the append runs (each one cost a re-read and a retry). */
const conflicts: Record<string, number> = {};

interface Target {
  readonly host: string;
  readonly port: number;
  readonly measured: readonly Measured[];
}

/**
 * Appends with an expected version from a shared cache of stream heads (as an application would
 * keep): on a conflict, read the head and try again, up to 10 times.
 */
function appends(t: Target, clients: number, seconds: number, streamCount: number, size: number, label = ''): Promise<RunResult> {
  const heads = new Map<string, number>();
  const body = (expectedVersion: number): string => JSON.stringify({ expectedVersion: expectedVersion === -1 ? 'no_stream' : expectedVersion, events: [{ type: 'ValueWritten', data: { value: 'x'.repeat(size) } }] });
  const picks = Array.from({ length: clients }, (_, c) => picker(c + 1, streamCount));
  return runLoad(
    clients,
    seconds,
    async (c, pool, warmingUp) => {
      const stream = `stream-${(picks[c] as () => number)()}`;
      for (let attempt = 0; attempt < 10; attempt++) {
        const expected = heads.get(stream) ?? -1;
        const res = await request(pool, t.host, t.port, 'POST', `/v1/streams/${stream}/events`, body(expected));
        if (res.status === 201) {
          heads.set(stream, (JSON.parse(res.body) as { lastVersion: number }).lastVersion);
          return true;
        }
        if (res.status !== 409) return false;
        if (!warmingUp) conflicts[label] = (conflicts[label] ?? 0) + 1;
        const head = await readHead(pool, t, stream, 'leader');
        if (head === undefined) return false;
        heads.set(stream, head);
      }
      return false;
    },
    t.measured,
  );
}

async function readHead(pool: HttpConnectionPool, t: Target, stream: string, consistency: string): Promise<number | undefined> {
  const res = await request(pool, t.host, t.port, 'GET', `/v1/streams/${stream}/events?direction=backward&limit=1&consistency=${consistency}`);
  return res.status === 200 ? (JSON.parse(res.body) as { version: number }).version : undefined;
}

function reads(t: Target, clients: number, seconds: number, streamCount: number, consistency: string): Promise<RunResult> {
  const picks = Array.from({ length: clients }, (_, c) => picker(c + 101, streamCount));
  return runLoad(clients, seconds, async (c, pool) => (await readHead(pool, t, `stream-${(picks[c] as () => number)()}`, consistency)) !== undefined, t.measured);
}

function deposits(t: Target, clients: number, seconds: number, accounts: number): Promise<RunResult> {
  const picks = Array.from({ length: clients }, (_, c) => picker(c + 201, accounts));
  const body = JSON.stringify({ amount: 1 });
  return runLoad(
    clients,
    seconds,
    async (c, pool) => {
      const res = await request(pool, t.host, t.port, 'POST', `/v1/aggregates/account/acct-${(picks[c] as () => number)()}/commands/Deposit`, body);
      return res.status === 200;
    },
    t.measured,
  );
}

async function main(): Promise<void> {
  const seconds = Number(values.seconds);
  const streamCount = Number(values.streams);
  const accounts = Number(values.accounts);
  const size = Number(values.size);
  const info = machineInfo();
  const out = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  out(`bench:events  ${JSON.stringify(info)}`);
  out(`params: 3 node processes on loopback, fsync on, ${size}-byte events over ${streamCount} streams with expected versions, ${accounts} accounts, ${seconds}s per run`);

  const r: Record<string, RunResult> = {};
  const root = await mkdtemp(path.join(os.tmpdir(), 'eventraft-bench-events-'));
  const cluster = await NodeCluster.create(root, 3, 221, { EVENTRAFT_LOG_LEVEL: 'warn' });
  cluster.startAll();
  try {
    const leader = await waitForLeader(cluster);
    const spec = cluster.spec(leader);
    const measured = cluster.specs.flatMap((s) => {
      const pid = cluster.pid(s.id);
      return pid === undefined ? [] : [{ name: s.id === leader ? 'leader' : `follower ${s.id}`, pid }];
    });
    const t: Target = { host: spec.host, port: spec.httpPort, measured };
    await appends(t, 8, 2, streamCount, size); // warm-up
    r.append1 = await appends(t, 1, seconds, streamCount, size, 'append1');
    r.append64 = await appends(t, 64, seconds, streamCount, size, 'append64');
    r.strong64 = await reads(t, 64, seconds, streamCount, 'strong');
    r.eventual64 = await reads(t, 64, seconds, streamCount, 'eventual');
    // Open the accounts, then deposit.
    const opener = new HttpConnectionPool();
    for (let a = 0; a < accounts; a++) await request(opener, t.host, t.port, 'POST', `/v1/aggregates/account/acct-${a}/commands/Open`, JSON.stringify({ owner: `owner-${a % 10}` }));
    opener.destroy();
    r.commands64 = await deposits(t, 64, seconds, accounts);
  } finally {
    await cluster.stopAll('SIGTERM');
    await rm(root, { recursive: true, force: true });
  }

  const ref = await forkServer(import.meta.filename, ['--reference']);
  try {
    const t: Target = { host: '127.0.0.1', port: ref.port, measured: ref.child.pid === undefined ? [] : [{ name: 'server', pid: ref.child.pid }] };
    await appends(t, 8, 1, streamCount, size);
    r.refAppend1 = await appends(t, 1, seconds, streamCount, size);
    r.refAppend64 = await appends(t, 64, seconds, streamCount, size, 'refAppend64');
    r.refRead64 = await reads(t, 64, seconds, streamCount, 'strong');
  } finally {
    ref.child.kill();
  }

  const ratio = (a: RunResult | undefined, b: RunResult | undefined): number => Number(((a?.perSecond ?? 0) / (b?.perSecond ?? 1)).toFixed(2));
  out(` 1 client   appends            ${formatRun(r.append1, 'appends/s')}`);
  out(`            in-memory express  ${formatRun(r.refAppend1, 'appends/s')}`);
  out(`64 clients  appends            ${formatRun(r.append64, 'appends/s')}`);
  out(`            in-memory express  ${formatRun(r.refAppend64, 'appends/s')}`);
  out(`            ratio: ${ratio(r.append64, r.refAppend64)}; version conflicts retried: eventraft ${conflicts.append64 ?? 0}, in-memory ${conflicts.refAppend64 ?? 0}`);
  out(`64 clients  strong reads       ${formatRun(r.strong64, 'reads/s')}`);
  out(`            eventual reads     ${formatRun(r.eventual64, 'reads/s')}`);
  out(`            in-memory express  ${formatRun(r.refRead64, 'reads/s')}`);
  out(`            ratio strong: ${ratio(r.strong64, r.refRead64)}  eventual: ${ratio(r.eventual64, r.refRead64)}`);
  out(`64 clients  Deposit commands   ${formatRun(r.commands64, 'commands/s')}`);
  out('CPU time per operation (µs), 64 clients:');
  for (const key of ['append64', 'refAppend64', 'strong64', 'eventual64', 'refRead64', 'commands64']) {
    const run = r[key];
    if (run === undefined) continue;
    const total = Object.values(run.cpuMicrosPerWrite).reduce((a, b) => a + b, 0);
    out(`  ${key.padEnd(12)} ${Object.entries(run.cpuMicrosPerWrite).map(([name, us]) => `${name} ${us}`).join(', ')}; total ${total} µs; machine ${(run.machineBusy * 100).toFixed(0)}% busy`);
  }
  const fig = (x: RunResult | undefined): { perSec: number; p50ms: number; p99ms: number } => ({ perSec: Math.round(x?.perSecond ?? 0), p50ms: Number((x?.p50ms ?? 0).toFixed(2)), p99ms: Number((x?.p99ms ?? 0).toFixed(2)) });
  out(
    JSON.stringify({
      bench: 'events',
      commit: info.commit,
      append1: fig(r.append1),
      append64: fig(r.append64),
      referenceAppend64: fig(r.refAppend64),
      appendRatio64: ratio(r.append64, r.refAppend64),
      conflicts64: conflicts.append64 ?? 0,
      strongRead64: fig(r.strong64),
      eventualRead64: fig(r.eventual64),
      referenceRead64: fig(r.refRead64),
      strongReadRatio64: ratio(r.strong64, r.refRead64),
      commands64: fig(r.commands64),
      machineBusyAppend64: Number(r.append64.machineBusy.toFixed(2)),
    }),
  );
}

// Last, so that every declaration above is initialised before main() runs.
if (values.reference) await serveReference();
else await main();
