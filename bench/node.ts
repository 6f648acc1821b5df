/**
 * `npm run bench:node`: writes through the HTTP API of a real 3-node cluster (separate processes
 * on loopback, fsync on, data in a temp dir): one event with a 256-byte value appended to a new
 * stream per request, keep-alive connections, at 1 and 64 concurrent clients: writes/s and p50/p99
 * latency.
 *
 * In the same run, the same client drives a trivial in-memory HTTP store (one process, a Map of
 * streams, no durability, no replication): the ceiling of any Node HTTP store on this machine. The ratio
 * to it is the figure to compare across machines. Each run also reports the CPU time every
 * process spent per write (from /proc, Linux only) and how busy the whole machine was: on a small
 * machine the client and all nodes share the same cores, and that budget bounds the ratio.
 * A third reference, a bare primary with two backups (bench/replicated-reference.ts), shows the
 * least any replicated, durable store of three Node processes costs here, and a fourth the same
 * keeping the event store's indexed state in lmdb on every replica.
 * Ends with one JSON line of headline figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import express from 'express';
import { listenHttp } from '../node/shell/http/listen.ts';
import { NodeCluster, waitForLeader } from '../test/integration/support/node-cluster.ts';
import { forkServer, formatRun, request, runLoad } from './load.ts';
import type { Measured, RunResult } from './load.ts';
import { machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    size: { type: 'string', default: '256' },
    reference: { type: 'boolean', default: false },
    framework: { type: 'string', default: 'node:http' },
    port: { type: 'string', default: '0' },
  },
});

// ---- the reference servers, when this file runs as the child process
if (values.reference && values.framework === 'express') {
  // The same HTTP stack as the node (express + JSON body parsing), with a Map behind it.
  const store = new Map<string, unknown[]>();
  let position = 0;
  const app = express();
  app.use(express.json());
  app.post('/v1/streams/:stream/events', (req, res) => {
    const stream = req.params.stream;
    const events = (req.body as { events: unknown[] }).events;
    const existing = store.get(stream) ?? [];
    store.set(stream, [...existing, ...events]);
    position += events.length;
    res.status(201).json({ stream, firstVersion: existing.length, lastVersion: existing.length + events.length - 1, firstPosition: position - events.length, lastPosition: position - 1 });
  });
  const server = await listenHttp(app, Number(values.port), '127.0.0.1');
  server.keepAliveTimeout = 65_000;
  process.send?.({ port: (server.address() as { port: number }).port });
} else if (values.reference) {
  const store = new Map<string, unknown[]>();
  let position = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const stream = req.url ?? '/';
      if (req.method === 'POST') {
        const events = (JSON.parse(Buffer.concat(chunks).toString()) as { events: unknown[] }).events;
        const existing = store.get(stream) ?? [];
        store.set(stream, [...existing, ...events]);
        position += events.length;
        res.statusCode = 201;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ stream, firstVersion: existing.length, firstPosition: position - events.length, lastPosition: position - 1 }));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(Number(values.port), '127.0.0.1', () => {
    process.send?.({ port: (server.address() as { port: number }).port });
  });
} else {
  await main();
}

/** `clients` loops, each appending one event to a new stream per request, for `seconds`. */
function drive(host: string, port: number, clients: number, seconds: number, valueBytes: number, measured: readonly Measured[] = []): Promise<RunResult> {
  // One event whose data holds a string of `valueBytes` characters.
  const body = JSON.stringify({ events: [{ type: 'ValueWritten', data: { value: 'x'.repeat(valueBytes) } }] });
  let n = 0;
  return runLoad(clients, seconds, async (c, pool) => (await request(pool, host, port, 'POST', `/v1/streams/b${c}-${n++}/events`, body)).status === 201, measured);
}

async function main(): Promise<void> {
  const seconds = Number(values.seconds);
  const size = Number(values.size);
  const info = machineInfo();
  const out = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  out(`bench:node  ${JSON.stringify(info)}`);
  out(`params: 3 node processes on loopback, fsync on (data in ${os.tmpdir()}), one ${size}-byte event appended to a new stream per request, POST to the leader over keep-alive HTTP, ${seconds}s per run`);

  const root = await mkdtemp(path.join(os.tmpdir(), 'eventraft-bench-'));
  const cluster = await NodeCluster.create(root, 3, 201, { EVENTRAFT_LOG_LEVEL: 'warn' });
  cluster.startAll();
  const results: Record<string, RunResult> = {};
  try {
    const leader = await waitForLeader(cluster);
    const spec = cluster.spec(leader);
    const measured = cluster.specs.flatMap((s) => {
      const pid = cluster.pid(s.id);
      return pid === undefined ? [] : [{ name: s.id === leader ? 'leader' : `follower ${s.id}`, pid }];
    });
    await drive(spec.host, spec.httpPort, 8, 2, size); // warm-up
    for (const clients of [1, 64]) results[`raft${clients}`] = await drive(spec.host, spec.httpPort, clients, seconds, size, measured);
  } finally {
    await cluster.stopAll('SIGTERM');
    await rm(root, { recursive: true, force: true });
  }

  // Two ceilings: the same HTTP stack as the node (express + JSON: the fair one, the ratio below)
  // and bare node:http (what any framework costs on top).
  for (const framework of ['express', 'node:http'] as const) {
    const ref = await forkServer(import.meta.filename, ['--reference', '--framework', framework]);
    try {
      await drive('127.0.0.1', ref.port, 8, 1, size);
      const measured = ref.child.pid === undefined ? [] : [{ name: 'server', pid: ref.child.pid }];
      for (const clients of [1, 64]) results[`${framework}${clients}`] = await drive('127.0.0.1', ref.port, clients, seconds, size, measured);
    } finally {
      ref.child.kill();
    }
  }

  // The floor of any replicated store here: a bare primary and two backups, group commit, fsync;
  // then the same keeping the event store's indexed state in lmdb on every replica.
  const replicatedReference = path.join(import.meta.dirname, 'replicated-reference.ts');
  for (const [name, store] of [['replicated', 'none'], ['replicatedLmdb', 'lmdb']] as const) {
    const backups = await Promise.all([1, 2].map(() => forkServer(replicatedReference, ['--role', 'backup', '--store', store])));
    const primary = await forkServer(replicatedReference, ['--role', 'primary', '--store', store, '--backups', backups.map((b) => b.port).join(',')]);
    try {
      await drive('127.0.0.1', primary.port, 8, 1, size);
      const measured = [primary, ...backups].flatMap((r, i) => (r.child.pid === undefined ? [] : [{ name: i === 0 ? 'primary' : `backup ${String(i)}`, pid: r.child.pid }]));
      for (const clients of [1, 64]) results[`${name}${clients}`] = await drive('127.0.0.1', primary.port, clients, seconds, size, measured);
    } finally {
      for (const r of [primary, ...backups]) r.child.kill();
    }
  }

  const fmt = (r: RunResult | undefined): string => formatRun(r);
  for (const clients of [1, 64]) {
    const raft = results[`raft${clients}`];
    const reference = results[`express${clients}`];
    out(`${String(clients).padStart(2)} clients  eventraft          ${fmt(raft)}`);
    out(`            in-memory express  ${fmt(reference)}`);
    out(`            in-memory node:http${fmt(results[`node:http${clients}`])}`);
    out(`            bare replicated    ${fmt(results[`replicated${clients}`])}`);
    out(`            same + lmdb state  ${fmt(results[`replicatedLmdb${clients}`])}`);
    const ratio = (key: string): string => ((results[`${key}${clients}`]?.perSecond ?? 0) / (reference?.perSecond ?? 1)).toFixed(2);
    if (raft && reference) out(`            ratio to the express ceiling: eventraft ${ratio('raft')}, bare replicated ${ratio('replicated')}, with lmdb state ${ratio('replicatedLmdb')}`);
  }
  out('CPU time per write (µs) and how busy the machine was, 64 clients:');
  for (const key of ['raft64', 'replicated64', 'replicatedLmdb64', 'express64', 'node:http64']) {
    const r = results[key];
    if (r === undefined) continue;
    const parts = Object.entries(r.cpuMicrosPerWrite).map(([name, us]) => `${name} ${us}`);
    const total = Object.values(r.cpuMicrosPerWrite).reduce((a, b) => a + b, 0);
    out(`  ${key.replace('64', '').padEnd(14)} ${parts.join(', ')}; total ${total} µs; machine ${(r.machineBusy * 100).toFixed(0)}% busy`);
  }
  const r1 = results.raft1;
  const r64 = results.raft64;
  const ref64 = results.express64;
  out(
    JSON.stringify({
      bench: 'node',
      commit: info.commit,
      writesPerSec1: Math.round(r1?.perSecond ?? 0),
      p50ms1: Number((r1?.p50ms ?? 0).toFixed(2)),
      p99ms1: Number((r1?.p99ms ?? 0).toFixed(2)),
      writesPerSec64: Math.round(r64?.perSecond ?? 0),
      p50ms64: Number((r64?.p50ms ?? 0).toFixed(2)),
      p99ms64: Number((r64?.p99ms ?? 0).toFixed(2)),
      referencePerSec64: Math.round(ref64?.perSecond ?? 0),
      bareNodeHttpPerSec64: Math.round(results['node:http64']?.perSecond ?? 0),
      ratio64: Number(((r64?.perSecond ?? 0) / (ref64?.perSecond ?? 1)).toFixed(2)),
      cpuMicrosPerWrite64: r64?.cpuMicrosPerWrite,
      machineBusy64: Number((r64?.machineBusy ?? 0).toFixed(2)),
      referenceCpuMicrosPerWrite64: ref64?.cpuMicrosPerWrite,
      referenceMachineBusy64: Number((ref64?.machineBusy ?? 0).toFixed(2)),
      replicatedPerSec64: Math.round(results.replicated64?.perSecond ?? 0),
      replicatedP99ms64: Number((results.replicated64?.p99ms ?? 0).toFixed(2)),
      replicatedRatio64: Number(((results.replicated64?.perSecond ?? 0) / (ref64?.perSecond ?? 1)).toFixed(2)),
      replicatedCpuMicrosPerWrite64: results.replicated64?.cpuMicrosPerWrite,
      replicatedLmdbPerSec64: Math.round(results.replicatedLmdb64?.perSecond ?? 0),
      replicatedLmdbP99ms64: Number((results.replicatedLmdb64?.p99ms ?? 0).toFixed(2)),
      replicatedLmdbRatio64: Number(((results.replicatedLmdb64?.perSecond ?? 0) / (ref64?.perSecond ?? 1)).toFixed(2)),
      replicatedLmdbCpuMicrosPerWrite64: results.replicatedLmdb64?.cpuMicrosPerWrite,
    }),
  );
}


