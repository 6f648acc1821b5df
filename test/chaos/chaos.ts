/**
 * A nemesis run against real node processes, Jepsen in miniature. Clients append to a few
 * streams with expected versions and read their heads at `strong`, each request to any node
 * (followers forward appends and serve strong reads by ReadIndex), while a nemesis kills nodes
 * with SIGKILL, freezes them with SIGSTOP (some freezes outlast the election timeout), stops
 * the leader with SIGTERM (a graceful handover), and sometimes kills two at once (no quorum for
 * a while). One fault at a time, each healed before the next; the schedule comes from the seed.
 *
 * Afterwards the cluster is healed and checked:
 * - every node reaches the same applied index with the same state hash, and holds the same
 *   events in every stream;
 * - every acknowledged append is stored once, at the version it was acknowledged with, and no
 *   event id is stored twice;
 * - every stream's history (appends, conflicts with their `actual`, strong reads) is
 *   linearizable. An append left without an answer (timeout, a killed node, 503) took effect or
 *   did not: its event id says which, and only one that took effect enters the history, with no
 *   answer time (the simulator does the same; test/sim/simulation.ts).
 *
 * Timing makes every run different; the properties hold in every run.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SeededRandom } from '../../node/core/raft/random.ts';
import { getJson, until, waitForLeader } from '../integration/support/node-cluster.ts';
import type { ClusterView, NodeCluster, NodeSpec } from '../integration/support/node-cluster.ts';
import { isLinearizable, streamModel } from '../sim/linearizability.ts';
import type { Operation, StreamInput, StreamOutput } from '../sim/linearizability.ts';

export interface ChaosOptions {
  /** A started cluster of three nodes. */
  readonly cluster: NodeCluster;
  readonly seconds: number;
  readonly seed: number;
  readonly clients?: number;
  readonly streams?: number;
  readonly requestTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface ChaosReport {
  readonly faults: readonly string[];
  readonly appends: { readonly acknowledged: number; readonly conflicts: number; readonly unanswered: number; readonly unansweredApplied: number };
  readonly strongReads: { readonly answered: number; readonly failed: number };
  readonly events: number;
  /** Streams whose history has no legal order. */
  readonly notLinearizable: readonly string[];
  /** The histories of those streams, one operation per line in call order, to debug them. */
  readonly histories: Readonly<Record<string, readonly string[]>>;
  /** Lost or doubled appends, nodes that disagree. Empty when all is well. */
  readonly problems: readonly string[];
}

type ExpectedVersion = 'any' | 'no_stream' | number;

/** The nodes' default EVENTRAFT_REQUEST_TIMEOUT_MS. */
const NODE_REQUEST_TIMEOUT_MS = 5_000;

interface AppendRecord {
  readonly stream: string;
  readonly id: string;
  readonly input: Extract<StreamInput, { kind: 'append' }>;
  readonly call: number;
  readonly ret: number | undefined;
  readonly output: StreamOutput | undefined;
}

/** /v1/cluster with the store's own view, which the operator's type leaves out. */
type NodeView = ClusterView & { readonly store: { readonly appliedIndex: number; readonly hash: string } };

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const { cluster } = o;
  const log = o.log ?? ((): void => undefined);
  const timeoutMs = o.requestTimeoutMs ?? 3_000;
  const streams = Array.from({ length: o.streams ?? 6 }, (_, i) => `chaos-${String(i)}`);
  const random = new SeededRandom(o.seed);
  const deadline = performance.now() + o.seconds * 1000;

  const appends: AppendRecord[] = [];
  const reads = new Map<string, Operation<StreamInput, StreamOutput>[]>(streams.map((s) => [s, []]));
  let readsFailed = 0;

  const http = async (url: string, init?: RequestInit): Promise<Answer | undefined> => {
    try {
      const { status, body } = await getJson<Record<string, unknown> | undefined>(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
      return { status, body: body ?? {} };
    } catch {
      return undefined; // refused, reset, timed out, not JSON: no answer
    }
  };

  const client = async (rng: SeededRandom): Promise<void> => {
    // This client's latest knowledge of each stream's version (-1: none).
    const known = new Map<string, number>();
    while (performance.now() < deadline) {
      const stream = streams[rng.int(streams.length)] as string;
      const base = cluster.url((cluster.specs[rng.int(cluster.specs.length)] as NodeSpec).id);
      if (rng.float() < 0.35) {
        const call = performance.now();
        const a = await http(`${base}/v1/streams/${stream}/events?direction=backward&limit=1&consistency=strong`);
        const ret = performance.now();
        if (a?.status === 200 && typeof a.body.version === 'number') {
          (reads.get(stream) as Operation<StreamInput, StreamOutput>[]).push({ call, ret, input: { kind: 'read' }, output: { kind: 'read', version: a.body.version } });
          known.set(stream, a.body.version);
        } else {
          readsFailed++;
          await sleep(20); // a node that is down answers at once: do not spin on it
        }
        continue;
      }
      const version = known.get(stream) ?? -1;
      const expected: ExpectedVersion = rng.float() < 0.1 ? 'any' : version === -1 ? 'no_stream' : version;
      const id = randomUUID();
      const input = { kind: 'append', expected, count: 1 } as const;
      const call = performance.now();
      const a = await http(`${base}/v1/streams/${stream}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ expectedVersion: expected, events: [{ id, type: 'ChaosWritten', data: { at: Math.round(call) } }] }),
      });
      const ret = performance.now();
      if (a?.status === 201 && typeof a.body.firstVersion === 'number' && typeof a.body.lastVersion === 'number') {
        appends.push({ stream, id, input, call, ret, output: { kind: 'appended', firstVersion: a.body.firstVersion } });
        known.set(stream, a.body.lastVersion);
      } else if (a?.status === 409 && a.body.code === 'WrongExpectedVersion' && typeof a.body.actual === 'number') {
        appends.push({ stream, id, input, call, ret, output: { kind: 'conflict', actual: a.body.actual } });
        known.set(stream, a.body.actual);
      } else {
        appends.push({ stream, id, input, call, ret: undefined, output: undefined });
        await sleep(20);
      }
    }
  };

  const faults: string[] = [];
  const nemesis = async (): Promise<void> => {
    const ids = cluster.specs.map((s) => s.id);
    const pick = (from: readonly string[]): string => from[random.int(from.length)] as string;
    while (performance.now() < deadline - 2_000) {
      await sleep(500 + random.int(1_500));
      const leader = await currentLeader(cluster);
      // As many draws whatever the leader: the schedule depends on the seed alone.
      const coin = random.float();
      const anyone = pick(ids);
      const victim = leader !== undefined && coin < 0.5 ? leader : anyone;
      const pause = 300 + random.int(2_200);
      const kind = random.int(5);
      const second = pick(ids.filter((id) => id !== victim));
      const named = `${victim}${victim === leader ? ' (leader)' : ''}`;
      const what = `${['kill -9', 'SIGSTOP', 'SIGTERM', 'kill -9', 'kill -9'][kind] as string} ${kind === 3 ? `${named} and ${second}` : named} for ${String(pause)} ms`;
      faults.push(what);
      log(`nemesis: ${what}`);
      if (kind === 1) {
        cluster.signal(victim, 'SIGSTOP');
        await sleep(pause);
        cluster.signal(victim, 'SIGCONT');
      } else if (kind === 3) {
        await Promise.all([cluster.stop(victim, 'SIGKILL'), cluster.stop(second, 'SIGKILL')]);
        await sleep(pause);
        cluster.start(victim);
        cluster.start(second);
      } else {
        await cluster.stop(victim, kind === 2 ? 'SIGTERM' : 'SIGKILL');
        await sleep(pause);
        cluster.start(victim);
      }
    }
  };

  await Promise.all([nemesis(), ...Array.from({ length: o.clients ?? 12 }, () => client(random.fork()))]);
  log(`load over: ${String(appends.length)} appends, ${String([...reads.values()].reduce((n, r) => n + r.length, 0))} strong reads answered`);

  // ---- heal and check
  const problems: string[] = [];
  // An append the client gave up on may still be proposed and committed meanwhile: a node works
  // on a request for up to its own request timeout (EVENTRAFT_REQUEST_TIMEOUT_MS, 5 s by
  // default). Let that pass before the replicas are compared.
  await sleep(Math.max(timeoutMs, NODE_REQUEST_TIMEOUT_MS) + 500);
  await waitForLeader(cluster);
  const views = await until(
    'every node applied the same index',
    async () => {
      const all = await Promise.all(cluster.specs.map(async (s) => (await getJson<NodeView>(`${cluster.url(s.id)}/v1/cluster`)).body));
      const first = all[0];
      return first !== undefined && first.appliedIndex === first.commitIndex && all.every((v) => v.appliedIndex === first.appliedIndex) ? all : undefined;
    },
    60_000,
  );
  const hashes = new Set(views.map((v) => v.store.hash));
  if (hashes.size !== 1) problems.push(`state hashes differ at applied index ${String(views[0]?.appliedIndex)}: ${views.map((v) => `${v.id} ${v.store.hash}`).join(', ')}`);

  let events = 0;
  const notLinearizable: string[] = [];
  const histories: Record<string, string[]> = {};
  let unansweredApplied = 0;
  for (const stream of streams) {
    const copies = await Promise.all(cluster.specs.map(async (s) => ({ node: s.id, ids: await streamIds(cluster.url(s.id), stream) })));
    const stored = copies[0]?.ids ?? [];
    for (const c of copies.slice(1)) {
      if (JSON.stringify(c.ids) !== JSON.stringify(stored)) problems.push(`${c.node} holds other events in ${stream} than ${copies[0]?.node ?? ''}`);
    }
    events += stored.length;
    const versionOf = new Map<string, number>();
    stored.forEach((id, version) => {
      if (versionOf.has(id)) problems.push(`event ${id} is stored twice in ${stream}`);
      versionOf.set(id, version);
    });
    const history: Operation<StreamInput, StreamOutput>[] = [...(reads.get(stream) ?? [])];
    for (const a of appends.filter((x) => x.stream === stream)) {
      const at = versionOf.get(a.id);
      if (a.output?.kind === 'appended' && at !== a.output.firstVersion) problems.push(`acknowledged append ${a.id} to ${stream} at version ${String(a.output.firstVersion)} is ${at === undefined ? 'missing' : `at version ${String(at)}`}`);
      if (a.output?.kind === 'conflict' && at !== undefined) problems.push(`refused append ${a.id} to ${stream} is stored at version ${String(at)}`);
      if (a.ret !== undefined && a.output !== undefined) history.push({ call: a.call, ret: a.ret, input: a.input, output: a.output });
      else if (at !== undefined) {
        unansweredApplied++;
        history.push({ call: a.call, ret: Infinity, input: a.input, output: { kind: 'appended', firstVersion: at } });
      }
    }
    // The stream as the checks found it closes its history.
    const end = performance.now();
    history.push({ call: end, ret: end, input: { kind: 'read' }, output: { kind: 'read', version: stored.length - 1 } });
    if (!isLinearizable(streamModel, history)) {
      notLinearizable.push(stream);
      histories[stream] = [...history].sort((a, b) => a.call - b.call).map((op) => `[${op.call.toFixed(1)}, ${op.ret.toFixed(1)}] ${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)}`);
    }
  }

  const answered = appends.filter((a) => a.output !== undefined);
  return {
    faults,
    appends: {
      acknowledged: answered.filter((a) => a.output?.kind === 'appended').length,
      conflicts: answered.filter((a) => a.output?.kind === 'conflict').length,
      unanswered: appends.length - answered.length,
      unansweredApplied,
    },
    strongReads: { answered: [...reads.values()].reduce((n, r) => n + r.length, 0), failed: readsFailed },
    events,
    notLinearizable,
    histories,
    problems,
  };
}

async function currentLeader(cluster: NodeCluster): Promise<string | undefined> {
  for (const s of cluster.specs) {
    if (!cluster.running(s.id)) continue;
    try {
      const view = (await getJson<ClusterView>(`${cluster.url(s.id)}/v1/cluster`, { signal: AbortSignal.timeout(500) })).body;
      if (view.role === 'leader') return s.id;
    } catch {
      // frozen or starting: ask the next one
    }
  }
  return undefined;
}

/** The event ids of a stream on one node, by version (its local state: the caller waited for it). */
async function streamIds(base: string, stream: string): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const page = await getJson<{ events: { id: string; version: number }[] }>(`${base}/v1/streams/${stream}/events?from=${String(ids.length)}&limit=1000&consistency=eventual`);
    if (page.status !== 200) throw new Error(`reading ${stream} from ${base}: ${String(page.status)}`);
    for (const e of page.body.events) {
      if (e.version !== ids.length) throw new Error(`${stream} on ${base}: version ${String(e.version)} where ${String(ids.length)} was next`);
      ids.push(e.id);
    }
    if (page.body.events.length < 1000) return ids;
  }
}
