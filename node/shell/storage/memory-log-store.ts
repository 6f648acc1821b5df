import type { LogIndex, Membership, Snapshot } from '../../core/raft/index.ts';
import type { LogStore, PersistBatch } from './log-store.ts';
import { MirroredStorage } from './mirrored-storage.ts';
import { snapshotDataSlices } from './snapshot-files.ts';

/**
 * LogStore in memory: nothing survives the process, but within it the contract holds, which is
 * what the simulator and single-process tests need. "Reopening" is handing the same object on.
 */
export class MemoryLogStore extends MirroredStorage implements LogStore {
  private bytes = 0;

  persist(batch: PersistBatch): Promise<void> {
    if (batch.snapshot) {
      const data = batch.snapshotFile === undefined ? batch.snapshot.data : Buffer.concat([...snapshotDataSlices(batch.snapshotFile)]);
      this.mem.applySnapshot({ ...batch.snapshot, data });
    }
    this.mem.append(batch.entries);
    if (batch.hardState) this.mem.setHardState(batch.hardState);
    for (const e of batch.entries) this.bytes += e.type === 'Normal' ? e.data.length : 64;
    return Promise.resolve();
  }

  // async: a refused snapshot (RangeError) rejects the promise, as with the disk store.
  // eslint-disable-next-line @typescript-eslint/require-await
  async saveSnapshot(index: LogIndex, membership: Membership, data: Uint8Array, compactTo: LogIndex): Promise<Snapshot | undefined> {
    const snap = this.mem.createSnapshot(index, membership, data);
    this.mem.compact(compactTo);
    return snap;
  }

  snapshotData(): Iterable<Uint8Array> {
    const { data } = this.mem.snapshot();
    return data.length > 0 ? [data] : [];
  }

  snapshotDataBytes(): number {
    return this.mem.snapshot().data.length;
  }

  sizeBytes(): number {
    return this.bytes;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
