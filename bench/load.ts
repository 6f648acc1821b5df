/**
 * The load generator shared by the HTTP benchmarks: `clients` loops on keep-alive connections,
 * each running one operation after another for a fixed time (after an unmeasured warm-up at the
 * same concurrency, the same for eventraft and every reference), with latency percentiles and the
 * CPU time every measured process spent per operation (from /proc, Linux only).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import { HttpConnectionPool } from './http-client.ts';
import type { HttpAnswer } from './http-client.ts';
import { percentile, processCpuSeconds } from './machine.ts';

export { HttpConnectionPool };
export type { HttpAnswer };

export interface RunResult {
  readonly clients: number;
  /** Successful operations. */
  readonly writes: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50ms: number;
  readonly p99ms: number;
  /** CPU microseconds per successful operation, by process ('client' is this benchmark process). */
  readonly cpuMicrosPerWrite: Readonly<Record<string, number>>;
  /** Share of all cores' time used by the processes measured, 0..1. */
  readonly machineBusy: number;
}

/** A process whose CPU time a run accounts for. */
export interface Measured {
  readonly name: string;
  readonly pid: number;
}

/** One request on a connection of `pool`; a network error answers status 0. */
export function request(pool: HttpConnectionPool, host: string, port: number, method: string, path: string, body?: string): Promise<HttpAnswer> {
  return pool.request(host, port, method, path, body);
}

/** Seconds each run first spends at its concurrency unmeasured: connections open, the JIT settles. */
export const WARM_UP_SECONDS = 1;

/**
 * Runs `op(client, pool)` in `clients` concurrent loops for `seconds`, after WARM_UP_SECONDS of
 * the same load that is not measured; `op` resolves true when the operation succeeded (its
 * latency is recorded) and false when it failed (counted).
 */
export async function runLoad(clients: number, seconds: number, op: (client: number, pool: HttpConnectionPool, warmingUp: boolean) => Promise<boolean>, measured: readonly Measured[] = []): Promise<RunResult> {
  const pool = new HttpConnectionPool();
  const warmUpEnd = performance.now() + WARM_UP_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < warmUpEnd) await op(c, pool, true);
    }),
  );
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const cpuBefore = measured.map((m) => processCpuSeconds(m.pid));
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        if (await op(c, pool, false)) latencies.push(performance.now() - t);
        else errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientBefore);
  const cpuAfter = measured.map((m) => processCpuSeconds(m.pid));
  const cpuSeconds: Record<string, number> = { client: (clientCpu.user + clientCpu.system) / 1e6 };
  measured.forEach((m, i) => {
    const before = cpuBefore[i];
    const after = cpuAfter[i];
    if (before !== undefined && after !== undefined) cpuSeconds[m.name] = after - before;
  });
  pool.destroy();
  latencies.sort((a, b) => a - b);
  return {
    clients,
    writes: latencies.length,
    errors,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
    cpuMicrosPerWrite: Object.fromEntries(Object.entries(cpuSeconds).map(([name, sec]) => [name, Math.round((sec / Math.max(1, latencies.length)) * 1e6)])),
    machineBusy: Object.values(cpuSeconds).reduce((a, b) => a + b, 0) / (elapsed * os.cpus().length),
  };
}

export function formatRun(r: RunResult | undefined, unit = 'writes/s'): string {
  return r === undefined
    ? '-'
    : `${Math.round(r.perSecond).toLocaleString('en-US').padStart(7)} ${unit}  p50 ${r.p50ms.toFixed(2).padStart(6)} ms  p99 ${r.p99ms.toFixed(2).padStart(7)} ms  (${r.writes} ok, ${r.errors} errors)`;
}

/**
 * Starts a benchmark file again as a child process serving a reference store; the child reports
 * its port with process.send({ port }).
 */
export async function forkServer(file: string, args: readonly string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(file, [...args], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) =>
    child.once('message', (m: { port: number }) => {
      resolve(m.port);
    }),
  );
  return { child, port };
}
