import { emptyMembership } from './membership.ts';
import type { Entry, HardState, LogIndex, Membership, Snapshot, Term } from './types.ts';
import { NO_NODE } from './types.ts';

/** Bytes an entry costs against message-size and uncommitted-size limits: payload plus a fixed header. */
export function entrySize(e: Entry): number {
  return e.type === 'Normal' ? e.data.length + 24 : 96;
}

/**
 * The durable log as the core reads it (etcd's Storage). The driver writes to it only after the
 * write is durable; the core only reads. All calls are synchronous: implementations keep the live
 * part of the log in memory (the disk storage mirrors what it has fsynced).
 *
 * Index ranges: entries exist for [firstIndex(), lastIndex()]; term() is also defined for
 * firstIndex() - 1 (the compaction point, covered by a snapshot or the empty log's index 0).
 */
export interface RaftStorage {
  /** The hard state and snapshot a restarting node resumes from. */
  initialState(): { readonly hardState: HardState; readonly snapshot: Snapshot };
  firstIndex(): LogIndex;
  lastIndex(): LogIndex;
  /** Term of the entry at `index`, or undefined when compacted away or beyond the log. */
  term(index: LogIndex): Term | undefined;
  /**
   * Entries in [lo, hi), stopping before `maxBytes` is exceeded but always returning at least one
   * entry when lo < hi. Precondition: firstIndex() <= lo <= hi <= lastIndex() + 1.
   */
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[];
  /** The latest snapshot (index 0 with the empty membership when none was ever taken). */
  snapshot(): Snapshot;
}

export const emptySnapshot: Snapshot = Object.freeze({
  metadata: Object.freeze({ index: 0 as LogIndex, term: 0 as Term, membership: emptyMembership }),
  data: new Uint8Array(0),
});

export const emptyHardState: HardState = Object.freeze({ term: 0 as Term, vote: NO_NODE, commit: 0 as LogIndex });

/**
 * In-memory RaftStorage: the simulator's "disk" (it survives a simulated crash while the core's
 * unstable state does not) and the mirror that disk storage keeps of its live log.
 */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState = emptyHardState;
  private snap: Snapshot = emptySnapshot;
  /** Index and term of the entry just before entries[0] (the compaction point). */
  private offsetIndex = 0 as LogIndex;
  private offsetTerm = 0 as Term;
  private ents: Entry[] = [];

  initialState(): { hardState: HardState; snapshot: Snapshot } {
    return { hardState: this.hardState, snapshot: this.snap };
  }

  firstIndex(): LogIndex {
    return (this.offsetIndex + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    return (this.offsetIndex + this.ents.length) as LogIndex;
  }

  term(index: LogIndex): Term | undefined {
    if (index === this.offsetIndex) return this.offsetTerm;
    if (index < this.offsetIndex) return undefined;
    return this.ents[index - this.offsetIndex - 1]?.term;
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    if (lo <= this.offsetIndex || hi > this.lastIndex() + 1 || lo > hi) {
      throw new RangeError(`entries [${lo}, ${hi}) outside [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    }
    const start = lo - this.offsetIndex - 1;
    const end = hi - this.offsetIndex - 1;
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = start; i < end; i++) {
      const e = this.ents[i] as Entry;
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  // ---- writes: called by the driver once the data is durable ----

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /**
   * Appends entries, replacing any existing suffix they conflict with (Log Matching, §5.3).
   * Entries at or below the compaction point are already covered by a snapshot and are skipped.
   */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (first.index > this.lastIndex() + 1) {
      throw new RangeError(`append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    }
    let from = 0;
    while (from < entries.length && (entries[from] as Entry).index <= this.offsetIndex) from++;
    if (from === entries.length) return;
    const startIndex = (entries[from] as Entry).index;
    this.ents.length = startIndex - this.offsetIndex - 1;
    for (let i = from; i < entries.length; i++) this.ents.push(entries[i] as Entry);
  }

  /** Replaces the whole log with a snapshot received from the leader (or restored at start). */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index < this.snap.metadata.index) {
      throw new RangeError(`snapshot ${snap.metadata.index} is older than ${this.snap.metadata.index}`);
    }
    this.snap = snap;
    this.offsetIndex = snap.metadata.index;
    this.offsetTerm = snap.metadata.term;
    this.ents = [];
  }

  /**
   * Records a snapshot the application took at `index` (<= the applied index). Entries are kept:
   * call compact() to drop them, possibly leaving a tail for slow followers.
   */
  createSnapshot(index: LogIndex, membership: Membership, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new RangeError(`snapshot at ${index} is not newer than ${this.snap.metadata.index}`);
    const t = this.term(index);
    if (t === undefined) throw new RangeError(`snapshot at ${index} outside the log [${this.offsetIndex}, ${this.lastIndex()}]`);
    this.snap = { metadata: { index, term: t, membership }, data };
    return this.snap;
  }

  /** Discards entries up to and including `index` (§7). Precondition: index <= snapshot index. */
  compact(index: LogIndex): void {
    if (index <= this.offsetIndex) return;
    if (index > this.snap.metadata.index) throw new RangeError(`compact ${index} beyond snapshot ${this.snap.metadata.index}`);
    const t = this.term(index);
    if (t === undefined) throw new RangeError(`compact ${index} beyond last index ${this.lastIndex()}`);
    this.ents.splice(0, index - this.offsetIndex);
    this.offsetIndex = index;
    this.offsetTerm = t;
  }
}
