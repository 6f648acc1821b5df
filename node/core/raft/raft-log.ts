import type { RaftStorage } from './storage.ts';
import { entrySize } from './storage.ts';
import { Unstable } from './unstable.ts';
import type { Entry, LogIndex, Snapshot, Term } from './types.ts';

/**
 * The node's view of the log: durable entries from storage followed by the unstable tail.
 * Invariants: applied <= committed <= lastIndex(); firstIndex() - 1 <= applied after a restore.
 */
export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known to be committed (§5.3). Never decreases. */
  committed: LogIndex;
  /** Highest index handed to the application for apply. */
  applied: LogIndex;
  /** Told about every batch appended, before it replaces any conflicting suffix. */
  onAppend: ((entries: readonly Entry[]) => void) | undefined;

  readonly storage: RaftStorage;

  constructor(storage: RaftStorage) {
    this.storage = storage;
    this.unstable = new Unstable((storage.lastIndex() + 1) as LogIndex);
    // Entries may be kept below the snapshot index (a tail for slow followers); the state machine
    // restarts from the snapshot, so apply resumes right after it.
    const start = Math.max(storage.firstIndex() - 1, storage.snapshot().metadata.index) as LogIndex;
    this.committed = start;
    this.applied = start;
  }

  firstIndex(): LogIndex {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term at `index`, or undefined when compacted or beyond the log. Index 0 has term 0. */
  term(index: LogIndex): Term | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    if (t === undefined) throw new Error(`raft log: no term for last index ${this.lastIndex()}`);
    return t;
  }

  matchTerm(index: LogIndex, t: Term): boolean {
    return this.term(index) === t;
  }

  /** §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Index of the first entry whose term differs from ours or that we lack; 0 when all match. */
  findConflict(entries: readonly Entry[]): LogIndex {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0 as LogIndex;
  }

  /**
   * The largest index <= `index` whose term is <= `t`, with that term: the fast backtracking of §5.3
   * ("the follower can include the term of the conflicting entry...") as etcd/raft does it. Both the
   * follower (to build a hint) and the leader (to use one) call it.
   */
  findConflictByTerm(index: LogIndex, t: Term): { index: LogIndex; term: Term } {
    let i = Math.min(index, this.lastIndex()) as LogIndex;
    for (;;) {
      const it = this.term(i);
      if (it === undefined) return { index: i, term: 0 as Term }; // compacted: cannot say more
      if (it <= t) return { index: i, term: it };
      i = (i - 1) as LogIndex;
    }
  }

  /**
   * Follower side of AppendEntries (§5.3): if our log has prevLogIndex with prevLogTerm, append the
   * new entries (dropping a conflicting suffix) and advance commit. Returns the last index now
   * known to match the leader, or undefined when the consistency check fails.
   */
  maybeAppend(prevLogIndex: LogIndex, prevLogTerm: Term, leaderCommit: LogIndex, entries: readonly Entry[]): LogIndex | undefined {
    if (!this.matchTerm(prevLogIndex, prevLogTerm)) return undefined;
    const lastNew = (prevLogIndex + entries.length) as LogIndex;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new Error(`raft log: entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(entries.slice(conflict - prevLogIndex - 1));
    }
    this.commitTo(Math.min(leaderCommit, lastNew) as LogIndex);
    return lastNew;
  }

  append(entries: readonly Entry[]): LogIndex {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    if (first.index - 1 < this.committed) {
      throw new Error(`raft log: append after ${first.index - 1} is below committed ${this.committed}`);
    }
    this.onAppend?.(entries);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  commitTo(index: LogIndex): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new Error(`raft log: commit ${index} is beyond last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  /** Leader side (§5.3, §5.4.2): commit `index` only if it holds an entry of the current term. */
  maybeCommit(index: LogIndex, currentTerm: Term): boolean {
    if (index > this.committed && this.term(index) === currentTerm) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: LogIndex): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new Error(`raft log: applied ${index} outside [${this.applied}, ${this.committed}]`);
    }
    this.applied = index;
  }

  /** Entries in [lo, hi) across storage and the unstable tail, bounded by maxBytes (at least one). */
  slice(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw new RangeError(`raft log: slice from ${lo} below first index ${this.firstIndex()}`);
    if (hi > this.lastIndex() + 1) throw new RangeError(`raft log: slice to ${hi} beyond last index ${this.lastIndex()}`);
    const off = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < off) {
      out = this.storage.entries(lo, Math.min(hi, off) as LogIndex, maxBytes);
      // Storage stopped early (size limit) or we are done with it.
      if (out.length < Math.min(hi, off) - lo || hi <= off) return out;
    }
    let bytes = out.reduce((n, e) => n + entrySize(e), 0);
    for (const e of this.unstable.slice(Math.max(lo, off) as LogIndex, hi)) {
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Committed entries not yet handed out for apply. None while a snapshot waits to be restored. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.unstable.snapshot !== undefined) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex()) as LogIndex;
    return this.slice(lo, (this.committed + 1) as LogIndex, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    return this.unstable.snapshot === undefined && this.committed > this.applied;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Installs a snapshot from the leader: it replaces the whole log (§7). */
  restore(snap: Snapshot): void {
    this.committed = snap.metadata.index;
    this.unstable.restore(snap);
  }
}
