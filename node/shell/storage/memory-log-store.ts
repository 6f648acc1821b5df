import { MemoryStorage } from '../../core/raft/index.ts';
import type { Entry, HardState, LogIndex, Membership, Snapshot, Term } from '../../core/raft/index.ts';
import type { LogStore, PersistBatch } from './log-store.ts';

/**
 * LogStore in memory: nothing survives the process, but within it the contract holds, which is
 * what the simulator and single-process tests need. "Reopening" is handing the same object on.
 */
export class MemoryLogStore implements LogStore {
  private readonly mem = new MemoryStorage();
  private bytes = 0;

  initialState(): { hardState: HardState; snapshot: Snapshot } {
    return this.mem.initialState();
  }
  firstIndex(): LogIndex {
    return this.mem.firstIndex();
  }
  lastIndex(): LogIndex {
    return this.mem.lastIndex();
  }
  term(index: LogIndex): Term | undefined {
    return this.mem.term(index);
  }
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }
  snapshot(): Snapshot {
    return this.mem.snapshot();
  }

  persist(batch: PersistBatch): Promise<void> {
    if (batch.snapshot) this.mem.applySnapshot(batch.snapshot);
    this.mem.append(batch.entries);
    if (batch.hardState) this.mem.setHardState(batch.hardState);
    for (const e of batch.entries) this.bytes += e.type === 'Normal' ? e.data.length : 64;
    return Promise.resolve();
  }

  saveSnapshot(index: LogIndex, membership: Membership, data: Uint8Array, compactTo: LogIndex): Promise<Snapshot> {
    const snap = this.mem.createSnapshot(index, membership, data);
    this.mem.compact(compactTo);
    return Promise.resolve(snap);
  }

  sizeBytes(): number {
    return this.bytes;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
