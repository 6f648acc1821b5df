/**
 * `npm start`: until the durable node lands (issue #3), this runs a 3-node Raft cluster inside one
 * process on real timers and prints elections and commits, with one node crashing now and then.
 * It exercises the same core the node will run; nothing here is persisted to disk.
 */
import { MemoryStorage, RawNode, SeededRandom } from '../node/core/raft/index.ts';
import type { Message, NodeId } from '../node/core/raft/index.ts';

const TICK_MS = 100;
const ids = ['eventraft-0', 'eventraft-1', 'eventraft-2'] as NodeId[];
const seed = Number(process.env.EVENTRAFT_DEMO_SEED ?? Date.now() % 2 ** 31);
const rng = new SeededRandom(seed);
const enc = new TextEncoder();
const dec = new TextDecoder();

interface DemoNode {
  raw: RawNode | undefined;
  readonly storage: MemoryStorage;
}
const nodes = new Map<NodeId, DemoNode>(ids.map((id) => [id, { raw: undefined, storage: new MemoryStorage() }]));

function say(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);
}

function start(id: NodeId): void {
  const node = nodes.get(id) as DemoNode;
  node.raw = new RawNode({ id, storage: node.storage, random: rng.fork(), options: { electionTick: 10, heartbeatTick: 1 } });
  if (node.storage.lastIndex() === 0) node.raw.bootstrap(ids);
}

function deliver(messages: readonly Message[]): void {
  // Loopback "network" with a little latency; messages to a crashed node are lost.
  for (const m of messages) setTimeout(() => nodes.get(m.to)?.raw?.step(m), 1 + rng.int(5));
}

function drive(id: NodeId): void {
  const node = nodes.get(id) as DemoNode;
  const raw = node.raw;
  if (!raw?.hasReady()) return;
  const rd = raw.ready();
  if (rd.softState) say('role', { node: id, role: rd.softState.role, leader: rd.softState.leaderId || null, term: raw.raft.term });
  if (rd.snapshot) node.storage.applySnapshot(rd.snapshot);
  node.storage.append(rd.entries);
  if (rd.hardState) node.storage.setHardState(rd.hardState);
  deliver(rd.messages);
  for (const e of rd.committed) {
    if (e.type === 'Normal' && e.data.length > 0 && raw.raft.role === 'Leader') {
      say('committed', { node: id, index: e.index, term: e.term, data: dec.decode(e.data) });
    }
  }
  raw.advance(rd);
}

for (const id of ids) start(id);
say('started', { nodes: ids, seed, note: 'in-process demo of the Raft core; the durable node arrives with issue #3' });

let writes = 0;
const ticker = setInterval(() => {
  for (const id of ids) {
    nodes.get(id)?.raw?.tick();
    drive(id);
  }
}, TICK_MS);
const pump = setInterval(() => {
  for (const id of ids) drive(id);
}, 5);
const client = setInterval(() => {
  const leader = ids.find((id) => nodes.get(id)?.raw?.raft.role === 'Leader');
  if (leader) nodes.get(leader)?.raw?.propose(enc.encode(`event-${++writes}`));
}, 1000);
const chaos = setInterval(() => {
  // Crash the leader every so often and bring it back: watch a new election happen.
  const leader = ids.find((id) => nodes.get(id)?.raw?.raft.role === 'Leader');
  if (leader === undefined) return;
  (nodes.get(leader) as DemoNode).raw = undefined;
  say('crash', { node: leader });
  setTimeout(() => {
    start(leader);
    say('restart', { node: leader });
  }, 3000);
}, 10_000);

process.on('SIGINT', () => {
  for (const t of [ticker, pump, client, chaos]) clearInterval(t);
  say('stopped');
  process.exit(0);
});
