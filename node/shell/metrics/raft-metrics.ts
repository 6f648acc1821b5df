import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { FrameRejection } from '../transport/frame-codec.ts';

const ROLES = ['Follower', 'PreCandidate', 'Candidate', 'Leader'] as const;
/** Why proposals fail: the core's refusals, plus Timeout (outcome unknown) and Lost (overwritten by a new leader). */
const PROPOSAL_FAILURES = ['NoLeader', 'NotLeader', 'Overloaded', 'TransferInProgress', 'Timeout', 'Lost'] as const;
const FRAME_REJECTIONS: readonly FrameRejection[] = ['oversized', 'bad_kind', 'malformed', 'invalid_message', 'truncated', 'protocol'];
const DROP_REASONS = ['queue_full', 'not_connected', 'unknown_peer', 'too_large'] as const;

/** The Raft metrics of ARCHITECTURE §7 (prefix eventraft_). Names are a contract with dashboards. */
export class RaftMetrics {
  readonly state: Gauge<'state'>;
  readonly term: Gauge;
  readonly hasLeader: Gauge;
  readonly isLeader: Gauge;
  readonly leaderChanges: Counter;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly proposalsCommitted: Counter;
  readonly proposalsFailed: Counter<'reason'>;
  readonly proposalsPending: Gauge;
  readonly fsyncSeconds: Histogram;
  readonly peerRttSeconds: Histogram<'peer'>;
  readonly snapshots: Counter<'kind'>;
  readonly snapshotTransfers: Counter<'direction' | 'outcome'>;
  readonly snapshotBytes: Counter<'direction'>;
  readonly storeBytes: Gauge;
  readonly readIndexRounds: Counter;
  readonly framesRejected: Counter<'reason'>;
  readonly messagesDropped: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.state = new Gauge({ name: 'eventraft_raft_state', help: '1 for the role this node has now, 0 for the others', labelNames: ['state'], registers });
    for (const r of ROLES) this.state.set({ state: r.toLowerCase() }, 0);
    this.term = new Gauge({ name: 'eventraft_raft_term', help: 'Current Raft term', registers });
    this.hasLeader = new Gauge({ name: 'eventraft_raft_has_leader', help: '1 when this node knows a leader', registers });
    this.isLeader = new Gauge({ name: 'eventraft_raft_is_leader', help: '1 when this node is the leader', registers });
    this.leaderChanges = new Counter({ name: 'eventraft_raft_leader_changes_total', help: 'Times the leader this node sees changed', registers });
    this.commitIndex = new Gauge({ name: 'eventraft_raft_commit_index', help: 'Highest log index known committed', registers });
    this.appliedIndex = new Gauge({ name: 'eventraft_raft_applied_index', help: 'Highest log index applied to the state machine', registers });
    this.proposalsCommitted = new Counter({ name: 'eventraft_raft_proposals_committed_total', help: 'Proposals made through this node that were applied', registers });
    this.proposalsFailed = new Counter({ name: 'eventraft_raft_proposals_failed_total', help: 'Proposals made through this node that failed or timed out', labelNames: ['reason'], registers });
    this.proposalsPending = new Gauge({ name: 'eventraft_raft_proposals_pending', help: 'Proposals made through this node awaiting apply', registers });
    this.fsyncSeconds = new Histogram({
      name: 'eventraft_raft_log_fsync_seconds',
      help: 'Duration of the log fsync per persisted batch',
      buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.peerRttSeconds = new Histogram({
      name: 'eventraft_raft_peer_rtt_seconds',
      help: 'Round-trip time to each peer (transport ping)',
      labelNames: ['peer'],
      buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.snapshots = new Counter({ name: 'eventraft_raft_snapshots_total', help: 'Snapshots taken (kind=created) or installed from the leader (kind=installed)', labelNames: ['kind'], registers });
    this.snapshotTransfers = new Counter({
      name: 'eventraft_snapshot_transfers_total',
      help: 'Snapshots streamed to a peer (direction=sent) or received from the leader into a file (direction=received), by outcome',
      labelNames: ['direction', 'outcome'],
      registers,
    });
    this.snapshotBytes = new Counter({ name: 'eventraft_snapshot_bytes_total', help: 'Snapshot data bytes sent to peers or received, counted as each frame goes (progress of a transfer)', labelNames: ['direction'], registers });
    this.readIndexRounds = new Counter({ name: 'eventraft_raft_read_index_rounds_total', help: 'ReadIndex rounds this node started; each serves every strong read queued before it', registers });
    this.storeBytes = new Gauge({ name: 'eventraft_store_bytes', help: 'Bytes of log segments and snapshots on disk', registers });
    this.framesRejected = new Counter({ name: 'eventraft_transport_frames_rejected_total', help: 'Peer connections closed for a bad frame, by reason', labelNames: ['reason'], registers });
    this.messagesDropped = new Counter({ name: 'eventraft_transport_messages_dropped_total', help: 'Peer messages dropped before sending, by reason', labelNames: ['reason'], registers });
    // Export the usual label values at 0 from the start, so rates and alerts see a series before the first failure.
    for (const reason of PROPOSAL_FAILURES) this.proposalsFailed.inc({ reason }, 0);
    for (const kind of ['created', 'installed']) this.snapshots.inc({ kind }, 0);
    for (const direction of ['sent', 'received']) {
      this.snapshotBytes.inc({ direction }, 0);
      for (const outcome of ['ok', 'failed']) this.snapshotTransfers.inc({ direction, outcome }, 0);
    }
    for (const reason of FRAME_REJECTIONS) this.framesRejected.inc({ reason }, 0);
    for (const reason of DROP_REASONS) this.messagesDropped.inc({ reason }, 0);
  }

  setRole(role: string): void {
    for (const r of ROLES) this.state.set({ state: r.toLowerCase() }, r === role ? 1 : 0);
    this.isLeader.set(role === 'Leader' ? 1 : 0);
  }
}
