import { MemoryStorage } from '../../core/raft/index.ts';
import type { Entry, HardState, LogIndex, RaftStorage, Snapshot, Term } from '../../core/raft/index.ts';

/**
 * The read side every LogStore shares: the core reads the live log from an in-memory mirror
 * that the store updates only once a write is durable.
 */
export abstract class MirroredStorage implements RaftStorage {
  protected readonly mem: MemoryStorage;

  constructor(mem: MemoryStorage = new MemoryStorage()) {
    this.mem = mem;
  }

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
}
