import type { LogIndex } from './raft/index.ts';

/**
 * The replicated state machine the driver applies committed entries to. Implementations must be
 * deterministic: the same commands in the same order give the same state and results on every
 * node - no clock, no randomness, no network inside apply.
 */
export interface ReplicatedStateMachine<Result> {
  /** Highest log index reflected in the state. */
  readonly appliedIndex: LogIndex;
  /**
   * Applies the command of the committed entry at `index`. `requestId` identifies the client
   * request: a request applied before must not change the state again, and returns its original
   * result (retries after ambiguous outcomes are safe).
   */
  apply(index: LogIndex, requestId: string, command: Uint8Array): Result;
  /** Records that a non-command entry (no-op, configuration change) was applied at `index`. */
  skip(index: LogIndex): void;
  /**
   * Brackets the entries of one Ready: everything applied between beginBatch() and commitBatch()
   * may be made durable in one atomic write, together with the applied index. apply() and skip()
   * outside a batch act as a batch of one. Results are only acted on after commitBatch().
   */
  beginBatch(): void;
  commitBatch(): void;
  /**
   * A point-in-time view of the state at appliedIndex. Taking it must be cheap (it runs between
   * two applies); the expensive part, serializing, happens afterwards while apply goes on.
   */
  snapshot(): StateSnapshot;
  /** Replaces the whole state with a snapshot taken at `index`. */
  restore(index: LogIndex, data: Uint8Array): void;
  /**
   * restore() from the snapshot's bytes in slices cut anywhere, pulled as it goes (a file read a
   * piece at a time): the whole snapshot need never be in memory.
   */
  restoreSlices(index: LogIndex, slices: Iterable<Uint8Array>): void;
  /**
   * Present when the state machine keeps its state and applied index on disk itself. Resolves,
   * once everything applied so far survives a crash, with the applied index it covers. The driver
   * then compacts the log behind that index without writing a copy of the state, and serializes
   * the state only when a follower needs it, as a snapshot at the index applied then (etcd sends
   * its backend the same way): log compaction costs the same whatever the size of the state.
   */
  readonly makeDurable?: () => Promise<LogIndex>;
}

/**
 * A frozen view of a state machine at one log index, read once: by serialize() or by stream(),
 * either of which releases the view when done.
 */
export interface StateSnapshot {
  readonly index: LogIndex;
  /**
   * The view's bytes, as `restore` takes them. Work is done in slices with `pause()` awaited
   * between them, so the caller's other work (applying, answering peers) is not held up.
   */
  serialize(pause: () => Promise<void>): Promise<Uint8Array>;
  /**
   * The same bytes as slices made on demand, so that whoever sends them holds one slice at a
   * time, whatever the size of the state.
   */
  stream(): SnapshotStream;
}

/** A snapshot's bytes, pulled one slice at a time. */
export interface SnapshotStream {
  /** The next slice, or undefined at the end (the view is released then). Throws if reading fails. */
  next(): Uint8Array | undefined;
  /** Releases the view before the end (the receiver went away). Safe to call more than once. */
  close(): void;
}

/** A stream of the slices of `slices`, pulled one at a time. */
export function slicesStream(slices: Iterable<Uint8Array>): SnapshotStream {
  const it = slices[Symbol.iterator]();
  let done = false;
  return {
    next: () => {
      if (done) return undefined;
      const r = it.next();
      if (r.done !== true) return r.value;
      done = true;
      return undefined;
    },
    close: () => {
      if (done) return;
      done = true;
      it.return?.();
    },
  };
}
