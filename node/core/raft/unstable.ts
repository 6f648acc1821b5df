import type { Entry, LogIndex, Snapshot, Term } from './types.ts';

/**
 * The tail of the log and the incoming snapshot that the driver has not yet made durable.
 * Invariant: entries[i].index === offset + i, and offset === storage.lastIndex() + 1 once the
 * driver has persisted everything handed to it (or snapshot.index + 1 when a snapshot is pending).
 */
export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  offset: LogIndex;

  constructor(offset: LogIndex) {
    this.offset = offset;
  }

  /** First index covered by a pending snapshot, if any. */
  maybeFirstIndex(): LogIndex | undefined {
    return this.snapshot ? ((this.snapshot.metadata.index + 1) as LogIndex) : undefined;
  }

  maybeLastIndex(): LogIndex | undefined {
    if (this.entries.length > 0) return (this.offset + this.entries.length - 1) as LogIndex;
    return this.snapshot?.metadata.index;
  }

  maybeTerm(index: LogIndex): Term | undefined {
    if (index < this.offset) {
      return this.snapshot?.metadata.index === index ? this.snapshot.metadata.term : undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  /** The driver made entries up to (index, term) durable. A mismatching term means they were replaced since. */
  stableTo(index: LogIndex, t: Term): void {
    const got = this.maybeTerm(index);
    if (got === undefined || got !== t || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = (index + 1) as LogIndex;
  }

  stableSnapTo(index: LogIndex): void {
    if (this.snapshot?.metadata.index === index) this.snapshot = undefined;
  }

  restore(snap: Snapshot): void {
    this.offset = (snap.metadata.index + 1) as LogIndex;
    this.entries = [];
    this.snapshot = snap;
  }

  /** Appends, truncating any conflicting suffix. Precondition: ents[0].index <= lastIndex + 1. */
  truncateAndAppend(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    const after = first.index;
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces everything unstable; the driver truncates durable entries from `after` on.
      this.offset = after;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, after - this.offset);
      for (const e of ents) this.entries.push(e);
    }
  }

  /** Entries in [lo, hi). Precondition: offset <= lo <= hi <= offset + entries.length. */
  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    if (lo < this.offset || hi > this.offset + this.entries.length || lo > hi) {
      throw new RangeError(`unstable slice [${lo}, ${hi}) outside [${this.offset}, ${this.offset + this.entries.length})`);
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
