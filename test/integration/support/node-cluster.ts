/**
 * Real eventraft node processes on loopback for integration tests: each node gets its own
 * address (127.0.0.x), free ports and a data directory; tests can kill -9, SIGSTOP, restart and
 * wipe them. Nodes log to a per-node buffer, printed when a test fails.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { NODE_RUNTIME_FLAGS } from '../../../node/runtime-flags.ts';
import type { NodeClusterView } from '../../../operator/reconcile/node-admin.ts';

const cli = path.resolve(import.meta.dirname, '../../../node/cli.ts');

export interface NodeSpec {
  readonly id: string;
  readonly host: string;
  readonly peerPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
}

export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => {
        resolve(port);
      });
    });
  });
}

export class NodeCluster {
  readonly specs: NodeSpec[];
  private readonly procs = new Map<string, ChildProcess>();
  /** Each process's exit, recorded from the start so a kill sent earlier is never waited on twice. */
  private readonly exits = new Map<ChildProcess, Promise<number | string>>();
  readonly logs = new Map<string, string[]>();
  private readonly env: Record<string, string>;

  private constructor(specs: NodeSpec[], env: Record<string, string>) {
    this.specs = specs;
    this.env = env;
  }

  /** Plans `n` nodes on 127.0.0.<base+i> (distinct addresses, so links can be told apart). */
  static async create(root: string, n: number, hostBase: number, env: Record<string, string> = {}): Promise<NodeCluster> {
    const specs: NodeSpec[] = [];
    for (let i = 0; i < n; i++) {
      const host = `127.0.0.${hostBase + i}`;
      const peerPort = await freePort(host);
      // The OS may hand the same free port out twice in a row; two listeners cannot share it.
      let httpPort = await freePort(host);
      while (httpPort === peerPort) httpPort = await freePort(host);
      specs.push({ id: `node-${i}`, host, peerPort, httpPort, dataDir: path.join(root, `node-${i}`) });
    }
    return new NodeCluster(specs, env);
  }

  spec(id: string): NodeSpec {
    const s = this.specs.find((x) => x.id === id);
    if (s === undefined) throw new Error(`no node ${id}`);
    return s;
  }

  url(id: string): string {
    const s = this.spec(id);
    return `http://${s.host}:${s.httpPort}`;
  }

  address(id: string): string {
    const s = this.spec(id);
    return `${s.host}:${s.peerPort}/${s.host}:${s.httpPort}`;
  }

  members(): string {
    return this.specs.map((s) => `${s.id}=${this.address(s.id)}`).join(',');
  }

  /** Starts a node process (bootstrapping with all specs as founders, or joining). */
  start(id: string, opts: { join?: boolean } = {}): void {
    const s = this.spec(id);
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      EVENTRAFT_NODE_ID: s.id,
      EVENTRAFT_CLUSTER_ID: 'itest',
      EVENTRAFT_PEER_LISTEN: `${s.host}:${s.peerPort}`,
      EVENTRAFT_HTTP_LISTEN: `${s.host}:${s.httpPort}`,
      EVENTRAFT_DATA_DIR: s.dataDir,
      EVENTRAFT_TICK_MS: '50',
      EVENTRAFT_LOG_LEVEL: 'info',
      ...this.env,
    };
    if (opts.join === true) env.EVENTRAFT_JOIN = 'true';
    else env.EVENTRAFT_INITIAL_MEMBERS = this.members();
    const child = spawn(process.execPath, [...NODE_RUNTIME_FLAGS, cli, 'node'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = this.logs.get(id) ?? [];
    this.logs.set(id, lines);
    const keep = (chunk: Buffer): void => {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      if (lines.length > 400) lines.splice(0, lines.length - 400);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.procs.set(id, child);
    this.exits.set(
      child,
      new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          resolve(code ?? signal ?? 'unknown');
        });
      }),
    );
  }

  startAll(): void {
    for (const s of this.specs) this.start(s.id);
  }

  /** The operating-system process id of a running node (for benchmarks that read its CPU time). */
  pid(id: string): number | undefined {
    return this.procs.get(id)?.pid;
  }

  running(id: string): boolean {
    const child = this.procs.get(id);
    return child?.exitCode === null && child.signalCode === null;
  }

  signal(id: string, sig: NodeJS.Signals): void {
    this.procs.get(id)?.kill(sig);
  }

  /** Sends `sig` and waits for the process to exit; returns its exit code or signal. */
  async stop(id: string, sig: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
    const child = this.procs.get(id);
    if (child === undefined) return 'not running';
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    const result = await (this.exits.get(child) as Promise<number | string>);
    this.procs.delete(id);
    this.exits.delete(child);
    return result;
  }

  async stopAll(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await Promise.all([...this.procs.keys()].map((id) => this.stop(id, sig)));
  }

  async wipe(id: string): Promise<void> {
    await rm(this.spec(id).dataDir, { recursive: true, force: true });
  }

  dumpLogs(): string {
    return [...this.logs].map(([id, lines]) => `---- ${id}\n${lines.slice(-60).join('\n')}`).join('\n');
  }
}

/** What GET /v1/cluster answers (the operator reads the same). */
export type ClusterView = NodeClusterView;

/** Fetches JSON (within 10 s unless `init` brings its own signal); the caller states the body type it expects (not checked). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T documents the expected response shape
export async function getJson<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T, headers: res.headers };
}

export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the running nodes agree on one leader; returns its id. */
export async function waitForLeader(cluster: NodeCluster, ids: readonly string[] = cluster.specs.map((s) => s.id)): Promise<string> {
  return until('a leader', async () => {
    const views = await Promise.all(ids.filter((id) => cluster.running(id)).map(async (id) => (await getJson<ClusterView>(`${cluster.url(id)}/v1/cluster`)).body));
    const leaders = views.filter((v) => v.role === 'leader');
    if (leaders.length !== 1) return undefined;
    const leader = leaders[0] as ClusterView;
    return views.every((v) => v.leader === leader.id) ? leader.id : undefined;
  });
}

/** What an append answers (201), or a problem's code. */
export interface AppendAnswer {
  readonly firstPosition?: number;
  readonly firstVersion?: number;
  readonly duplicate?: boolean;
  readonly code?: string;
}

/** Appends one event `{ value }` to `stream` with no version expectation. */
export async function appendValue(baseUrl: string, stream: string, value: string, idempotencyKey?: string): Promise<{ status: number; body: AppendAnswer }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  return getJson(`${baseUrl}/v1/streams/${stream}/events`, { method: 'POST', headers, body: JSON.stringify({ events: [{ type: 'ValueWritten', data: { value } }] }) });
}

export interface StreamView {
  readonly stream: string;
  readonly version: number;
  readonly events: { id: string; type: string; data: { value?: string }; version: number; position: number }[];
}

/** Reads a whole (small) stream at the given consistency. */
export async function readStream(baseUrl: string, stream: string, consistency = 'strong'): Promise<{ status: number; body: StreamView }> {
  return getJson(`${baseUrl}/v1/streams/${stream}/events?consistency=${consistency}&limit=1000`);
}
