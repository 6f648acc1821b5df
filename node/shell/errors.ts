import type { NodeId } from '../core/raft/index.ts';

/** Raised for a write or strong read on a node that knows no leader. Retryable. */
export class NoLeaderError extends Error {
  override readonly name = 'NoLeaderError';
  constructor(options?: ErrorOptions) {
    super('no leader is known; retry shortly', options);
  }
}

/** This node is not the leader and cannot forward (forwarding disabled, or a leader-only action). */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  readonly leaderHint: NodeId | undefined;
  constructor(leaderHint?: NodeId, options?: ErrorOptions) {
    super(`not the leader (leader: ${leaderHint ?? 'unknown'})`, options);
    this.leaderHint = leaderHint;
  }
}

/** The leader refused the proposal (uncommitted-bytes cap or a leadership transfer). Retryable. */
export class OverloadedError extends Error {
  override readonly name = 'OverloadedError';
}

/**
 * The proposal's outcome is unknown: it was accepted but not seen applied in time (the leader may
 * have lost leadership). Retrying with the same request id is safe: a request applies at most once.
 */
export class ProposalTimeoutError extends Error {
  override readonly name = 'ProposalTimeoutError';
}

/** The proposal definitely did not commit: another entry took its place in the log. Retryable. */
export class ProposalLostError extends Error {
  override readonly name = 'ProposalLostError';
}

/** A linearizable read could not be confirmed (leadership changed or timed out). Retryable. */
export class ReadNotConfirmedError extends Error {
  override readonly name = 'ReadNotConfirmedError';
}

/** A membership change or transfer the cluster refused, with the core's reason. */
export class ClusterChangeRejectedError extends Error {
  override readonly name = 'ClusterChangeRejectedError';
  readonly reason: string;
  constructor(reason: string, detail?: string) {
    super(detail === undefined ? reason : `${reason}: ${detail}`);
    this.reason = reason;
  }
}

/** The node is shutting down and takes no new work. */
export class ShuttingDownError extends Error {
  override readonly name = 'ShuttingDownError';
  constructor() {
    super('node is shutting down');
  }
}
