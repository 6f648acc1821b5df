import type { LogIndex } from './types.ts';

/**
 * How the leader replicates to one peer (etcd/raft's Progress):
 * - Probe: we do not know where the peer's log ends; send one AppendEntries at a time and wait.
 * - Replicate: the peer accepted our last append; stream optimistically, at most `maxInflight`
 *   unacknowledged messages and `maxInflightBytes` bytes.
 * - Snapshot: we sent InstallSnapshot and wait for the peer to report it applied (or failed).
 */
export type ProgressState = 'Probe' | 'Replicate' | 'Snapshot';

/** Unacknowledged AppendEntries to one peer, as (last index, bytes) in send order. */
export class Inflights {
  private readonly lastIndexes: LogIndex[] = [];
  private readonly sizes: number[] = [];
  private head = 0;
  bytes = 0;

  readonly maxCount: number;
  readonly maxBytes: number;

  constructor(maxCount: number, maxBytes: number) {
    this.maxCount = maxCount;
    this.maxBytes = maxBytes;
  }

  get count(): number {
    return this.lastIndexes.length - this.head;
  }

  full(): boolean {
    return this.count >= this.maxCount || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  add(lastIndex: LogIndex, bytes: number): void {
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Forgets every message whose last index is <= `index` (acknowledged). */
  freeLE(index: LogIndex): void {
    while (this.head < this.lastIndexes.length && (this.lastIndexes[this.head] as LogIndex) <= index) {
      this.bytes -= this.sizes[this.head] as number;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.lastIndexes.length) {
      this.lastIndexes.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.head = 0;
    this.bytes = 0;
  }
}

export class Progress {
  /** Highest index known to be replicated on the peer (Figure 2). Invariant: match < next. */
  match: LogIndex;
  /** Index of the next entry to send (Figure 2). */
  next: LogIndex;
  state: ProgressState = 'Probe';
  /** In Probe: an append is outstanding, wait for its answer (or a heartbeat response) before the next. */
  probeSent = false;
  /** In Snapshot: the index of the snapshot being sent. */
  pendingSnapshot = 0 as LogIndex;
  /** Heard from since the last CheckQuorum round (§6.2 / thesis §6.2). */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(next: LogIndex, maxInflight: number, maxInflightBytes: number) {
    this.match = 0 as LogIndex;
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it: the peer has at least that much.
    if (this.state === 'Snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('Probe');
      this.next = (Math.max(this.match + 1, pending + 1)) as LogIndex;
    } else {
      this.resetState('Probe');
      this.next = (this.match + 1) as LogIndex;
    }
  }

  becomeReplicate(): void {
    this.resetState('Replicate');
    this.next = (this.match + 1) as LogIndex;
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.resetState('Snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0 as LogIndex;
    this.state = state;
    this.inflights.reset();
  }

  /** A successful AppendEntriesResponse up to `index`. Returns false when it was stale. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = (index + 1) as LogIndex;
    return updated;
  }

  /** Optimistically advance next after sending entries up to `lastIndex` (Replicate only). */
  optimisticUpdate(lastIndex: LogIndex): void {
    this.next = (lastIndex + 1) as LogIndex;
  }

  /**
   * A rejected AppendEntries for prevLogIndex `rejected`; `hint` is where the peer's log may match
   * (from findConflictByTerm). Returns false for a stale rejection that must be ignored.
   */
  maybeDecrTo(rejected: LogIndex, hint: LogIndex): boolean {
    if (this.state === 'Replicate') {
      // Stale: we already know the peer has `rejected`.
      if (rejected <= this.match) return false;
      // The peer lost something we thought it had: go back to just after match and probe.
      this.next = (this.match + 1) as LogIndex;
      return true;
    }
    // In Probe the rejection must be for the last append we sent, or it is stale.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1) as LogIndex;
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold back appends to this peer for now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'Probe':
        return this.probeSent;
      case 'Replicate':
        return this.inflights.full();
      case 'Snapshot':
        return true;
    }
  }
}
