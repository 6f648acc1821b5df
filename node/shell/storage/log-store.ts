import type { Entry, HardState, LogIndex, Membership, RaftStorage, Snapshot } from '../../core/raft/index.ts';
import type { SnapshotContents } from './snapshot-files.ts';

/** What one Ready asks to make durable, written atomically (all or nothing). */
export interface PersistBatch {
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: it replaces the whole log. */
  readonly snapshot?: Snapshot;
  /**
   * Where `snapshot`'s data is, when it arrived as a file (its data in `snapshot` is then empty):
   * a completed snapshot file the store takes over.
   */
  readonly snapshotFile?: SnapshotContents;
  /**
   * false: write without fsync. Only for batches that carry nothing but a new commit index (etcd's
   * MustSync rule): the commit index is knowledge that may go back after a crash; entries, term
   * and vote must always be synced. Default true.
   */
  readonly sync?: boolean;
}

/**
 * Durable Raft storage: the read side the core uses (RaftStorage, served from memory) plus the
 * writes the driver makes. Contract, shared by every implementation and checked by one test suite:
 * - persist() resolves only once the batch is durable (unless sync is false); a crash before that
 *   keeps none or all of it;
 * - after reopening, the store returns exactly what the resolved persist()/saveSnapshot() calls
 *   left: hard state, snapshot, and the log after it, with conflicting suffixes replaced.
 * Callers do not overlap persist() calls (the driver has one Ready outstanding at a time).
 */
export interface LogStore extends RaftStorage {
  persist(batch: PersistBatch): Promise<void>;
  /**
   * Makes a snapshot the application took at `index` (<= applied) durable, then discards log
   * entries up to `compactTo` (<= index; a lower value keeps a tail for slow followers).
   * `index` must be newer than the current snapshot when called (RangeError otherwise). Log
   * appends may go on while the snapshot is written; if a snapshot from the leader at or beyond
   * `index` is installed meanwhile, this one is dropped and the promise resolves undefined.
   */
  saveSnapshot(index: LogIndex, membership: Membership, data: Uint8Array, compactTo: LogIndex): Promise<Snapshot | undefined>;
  /**
   * The current snapshot's data, read as it is pulled (snapshot().data may be empty while the
   * data is on disk: a store need not hold it in memory).
   */
  snapshotData(): Iterable<Uint8Array>;
  /** The size of snapshotData(). */
  snapshotDataBytes(): number;
  /** Bytes the store occupies (for the store_bytes metric). */
  sizeBytes(): number;
  close(): Promise<void>;
}
