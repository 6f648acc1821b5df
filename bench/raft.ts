/**
 * `npm run bench:raft`: committed entries per second of the Raft core alone. Three RawNodes in
 * one process with in-memory storage and no network: messages are handed over directly, so this
 * measures the core's own cost (the ceiling the node runtime works under).
 *
 * Modes:
 * - unbatched: one entry per proposal, replicated and committed before the next one (every entry
 *   pays a full round of Ready cycles and messages);
 * - batched:   `batch` entries per proposeBatch, so one Ready cycle and one AppendEntries per
 *   follower carry them all (group commit).
 * Reference: pushing the same entries into a plain array with the same batching (no copy, like
 * the core), the ceiling of any in-memory log on this machine, measured in the same run.
 */
import { parseArgs } from 'node:util';
import { MemoryStorage, RawNode, SeededRandom } from '../node/core/raft/index.ts';
import type { Message, NodeId } from '../node/core/raft/index.ts';
import { machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '200000' },
    size: { type: 'string', default: '256' },
    batch: { type: 'string', default: '256' },
  },
});
const total = Number(values.entries);
const size = Number(values.size);
const batch = Number(values.batch);

class Cluster {
  readonly nodes = new Map<NodeId, { raw: RawNode; storage: MemoryStorage }>();
  private inbox: Message[] = [];
  applied = 0;
  leader: NodeId;

  constructor() {
    const ids = ['n1', 'n2', 'n3'] as NodeId[];
    const rng = new SeededRandom(7);
    for (const id of ids) {
      const storage = new MemoryStorage();
      // Snapshot/compaction is the application's job; keep the log bounded as a real node would.
      const raw = new RawNode({ id, storage, random: rng.fork(), options: { maxInflightMsgs: 4096, maxUncommittedBytes: 0 } });
      raw.bootstrap(ids);
      this.nodes.set(id, { raw, storage });
    }
    this.leader = ids[0] as NodeId;
    const first = this.nodes.get(this.leader) as { raw: RawNode };
    for (let i = 0; i < 20 && first.raw.raft.role !== 'Leader'; i++) first.raw.tick();
    this.settle();
    if (first.raw.raft.role !== 'Leader') throw new Error('bench: no leader elected');
  }

  /** Runs Ready cycles and message delivery until nothing is left to do. */
  settle(): void {
    for (;;) {
      let busy = false;
      for (const [id, n] of this.nodes) {
        if (!n.raw.hasReady()) continue;
        busy = true;
        const rd = n.raw.ready();
        if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
        n.storage.append(rd.entries);
        if (rd.hardState) n.storage.setHardState(rd.hardState);
        for (const m of rd.messages) this.inbox.push(m);
        if (id === this.leader) {
          for (const e of rd.committed) if (e.type === 'Normal' && e.data.length > 0) this.applied++;
        }
        n.raw.advance(rd);
        this.maybeCompact(n);
      }
      if (this.inbox.length > 0) {
        busy = true;
        const msgs = this.inbox;
        this.inbox = [];
        for (const m of msgs) this.nodes.get(m.to)?.raw.step(m);
      }
      if (!busy) return;
    }
  }

  private maybeCompact(n: { raw: RawNode; storage: MemoryStorage }): void {
    const applied = n.raw.raft.log.applied;
    if (applied - n.storage.snapshot().metadata.index < 50_000) return;
    n.storage.createSnapshot(applied, n.raw.membershipAt(applied), new Uint8Array(0));
    n.storage.compact((applied - 1000) as typeof applied);
  }

  get leaderNode(): RawNode {
    return (this.nodes.get(this.leader) as { raw: RawNode }).raw;
  }
}

const payload = new Uint8Array(size).fill(7);

function run(mode: 'unbatched' | 'batched', count: number): number {
  const c = new Cluster();
  const started = performance.now();
  if (mode === 'unbatched') {
    for (let i = 0; i < count; i++) {
      c.leaderNode.propose(payload);
      c.settle();
    }
  } else {
    const datas = Array.from({ length: batch }, () => payload);
    for (let i = 0; i < count; i += batch) {
      c.leaderNode.proposeBatch(datas);
      c.settle();
    }
  }
  c.settle();
  const secs = (performance.now() - started) / 1000;
  if (c.applied < count) throw new Error(`bench: only ${c.applied}/${count} committed`);
  return c.applied / secs;
}

function reference(count: number, per: number): number {
  const started = performance.now();
  let log: Uint8Array[] = [];
  for (let i = 0; i < count; i += per) {
    for (let j = 0; j < per; j++) log.push(payload);
    if (log.length > 100_000) log = [];
  }
  return count / ((performance.now() - started) / 1000);
}

const info = machineInfo();
process.stdout.write(`bench:raft  ${JSON.stringify(info)}\n`);
process.stdout.write(`params: 3 nodes in one process, in-memory storage, no network, ${size}-byte entries, ${total} entries, batch ${batch}\n`);

// Warm up the JIT on a small run of each mode.
run('batched', 20_000);
run('unbatched', 5_000);

const batched = run('batched', total);
const unbatched = run('unbatched', Math.min(total, 100_000));
const refBatched = reference(total, batch);
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
process.stdout.write(`batched   (${batch}/proposal): ${fmt(batched)} entries/s\n`);
process.stdout.write(`unbatched (1/proposal, committed before the next): ${fmt(unbatched)} entries/s\n`);
process.stdout.write(`reference (push into an array, same batching): ${fmt(refBatched)} entries/s; core/reference = ${(batched / refBatched).toFixed(3)}\n`);
process.stdout.write(`${JSON.stringify({ bench: 'raft', batchedEntriesPerSec: Math.round(batched), unbatchedEntriesPerSec: Math.round(unbatched), referenceEntriesPerSec: Math.round(refBatched), batch, entrySize: size, entries: total, commit: info.commit })}\n`);
