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
  /** A point-in-time copy of the state at appliedIndex. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot taken at `index`. */
  restore(index: LogIndex, data: Uint8Array): void;
}
