/**
 * Child process for the storage crash test: appends batches to a DiskLogStore as fast as it can,
 * printing `ack <lastIndex> <segment file> <durable bytes>` after each persist() resolved (i.e.
 * after fsync), and takes
 * a snapshot now and then. The parent kills it with SIGKILL at a random moment.
 * Usage: node storage-writer.ts <dir> <seed>
 */
import { makeMembership, SeededRandom } from '../../../node/core/raft/index.ts';
import type { LogIndex, NodeId, Term } from '../../../node/core/raft/index.ts';
import { DiskLogStore } from '../../../node/shell/storage/index.ts';
import { expectedPayload } from './storage-expectations.ts';

const [dir, seedArg] = process.argv.slice(2);
if (dir === undefined || seedArg === undefined) throw new Error('usage: storage-writer.ts <dir> <seed>');
const rng = new SeededRandom(Number(seedArg));
const store = await DiskLogStore.open(dir, { segmentBytes: 32 * 1024 });
const membership = makeMembership(['w' as NodeId]);
let next = store.lastIndex() + 1;
process.stdout.write(`ready ${store.lastIndex()}\n`);
for (;;) {
  const n = 1 + rng.int(20);
  const entries = Array.from({ length: n }, (_, k) => ({ type: 'Normal' as const, index: (next + k) as LogIndex, term: 1 as Term, data: expectedPayload(next + k) }));
  const last = next + n - 1;
  await store.persist({ hardState: { term: 1 as Term, vote: 'w' as NodeId, commit: last as LogIndex }, entries });
  const pos = store.durablePosition();
  process.stdout.write(`ack ${last} ${pos.file} ${pos.bytes}\n`);
  // Like the driver's commit-only batches: written without fsync, never acknowledged.
  if (rng.int(3) === 0) await store.persist({ hardState: { term: 1 as Term, vote: 'w' as NodeId, commit: last as LogIndex }, entries: [], sync: false });
  next = last + 1;
  const at = last - rng.int(20);
  if (rng.int(10) === 0 && at > store.snapshot().metadata.index) {
    await store.saveSnapshot(at as LogIndex, membership, new TextEncoder().encode(`snap@${at}`), (at - rng.int(10)) as LogIndex);
  }
}
