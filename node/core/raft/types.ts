/**
 * The vocabulary of the Raft core: identifiers, log entries, persisted state, messages and the
 * Ready batch handed to the driver. Names follow the Raft paper (Ongaro & Ousterhout, 2014) and
 * Ongaro's thesis (2014); message shapes follow etcd/raft where the paper leaves room.
 */

type Brand<T, B extends string> = T & { readonly __brand: B };

/** A Raft term (§5.1). Monotonic per node; 0 means "no term yet". */
export type Term = Brand<number, 'Term'>;
/** A position in the replicated log (§5.3). Entries start at 1; 0 means "before the log". */
export type LogIndex = Brand<number, 'LogIndex'>;
/** A member's identity, e.g. the pod name `eventraft-0`. The empty string means "none". */
export type NodeId = Brand<string, 'NodeId'>;

export const term = (n: number): Term => n as Term;
export const logIndex = (n: number): LogIndex => n as LogIndex;
export const nodeId = (s: string): NodeId => s as NodeId;
export const NO_NODE = '' as NodeId;

/** Who votes and who only listens. Learners receive the log but never vote nor count for quorum. */
export interface Membership {
  /** Sorted, no duplicates. */
  readonly voters: readonly NodeId[];
  /** Sorted, no duplicates, disjoint from voters. */
  readonly learners: readonly NodeId[];
  /** Peer address per member, opaque to the core; carried so snapshots and joiners learn them. */
  readonly addresses: Readonly<Record<string, string>>;
}

/**
 * A single-server membership change (thesis §4.1): each one changes the voter set by at most one
 * member, so the majorities of consecutive configurations always overlap. `Bootstrap` only ever
 * appears as the first entry of a freshly initialised log; it cannot be proposed.
 */
export type ConfChange =
  | { readonly type: 'AddLearner'; readonly nodeId: NodeId; readonly address: string }
  | { readonly type: 'PromoteLearner'; readonly nodeId: NodeId }
  | { readonly type: 'RemoveNode'; readonly nodeId: NodeId }
  | { readonly type: 'Bootstrap'; readonly membership: Membership };

export type Entry =
  | {
      readonly type: 'Normal';
      readonly term: Term;
      readonly index: LogIndex;
      /** Application payload. Empty data is the leader's no-op (§8). */
      readonly data: Uint8Array;
    }
  | {
      readonly type: 'ConfChange';
      readonly term: Term;
      readonly index: LogIndex;
      readonly change: ConfChange;
    };

/** Persistent state on all servers (Figure 2), plus the commit index to speed up restarts. */
export interface HardState {
  readonly term: Term;
  /** votedFor in the paper; NO_NODE when the node has not voted in `term`. */
  readonly vote: NodeId;
  readonly commit: LogIndex;
}

export interface SnapshotMetadata {
  /** Last index covered by the snapshot (§7). */
  readonly index: LogIndex;
  /** Term of the entry at `index`. */
  readonly term: Term;
  /** The configuration in effect at `index`. */
  readonly membership: Membership;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The state machine's serialized state, opaque to the core. */
  readonly data: Uint8Array;
}

export type Role = 'Follower' | 'PreCandidate' | 'Candidate' | 'Leader';

/** Volatile state the application likes to observe; present in Ready when it changed. */
export interface SoftState {
  readonly role: Role;
  readonly leaderId: NodeId;
}

/** A ReadIndex answer (thesis §6.4): serve the read once the state machine has applied `index`. */
export interface ReadState {
  readonly index: LogIndex;
  readonly requestId: string;
}

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  /**
   * The sender's term. 0 marks a request that takes no part in term logic (a forwarded proposal,
   * read or transfer): such messages never change the receiver's term.
   */
  readonly term: Term;
}

export type Message = Envelope &
  (
    | {
        /** Thesis §9.6: ask whether an election at `term` could succeed, without disrupting anyone. */
        readonly type: 'PreVote';
        readonly lastLogIndex: LogIndex;
        readonly lastLogTerm: Term;
      }
    | { readonly type: 'PreVoteResponse'; readonly reject: boolean }
    | {
        readonly type: 'RequestVote';
        readonly lastLogIndex: LogIndex;
        readonly lastLogTerm: Term;
        /** Set when the election was started by TimeoutNow (thesis §3.10): voters ignore their lease. */
        readonly leadershipTransfer: boolean;
      }
    | { readonly type: 'RequestVoteResponse'; readonly reject: boolean }
    | {
        readonly type: 'AppendEntries';
        readonly prevLogIndex: LogIndex;
        readonly prevLogTerm: Term;
        readonly entries: readonly Entry[];
        readonly leaderCommit: LogIndex;
      }
    | {
        readonly type: 'AppendEntriesResponse';
        readonly reject: boolean;
        /** On success: the last index now known to match the leader. On reject: the rejected prevLogIndex. */
        readonly index: LogIndex;
        /** On reject (§5.3 optimisation): the largest index whose term is <= rejectHintTerm. */
        readonly rejectHint: LogIndex;
        readonly rejectHintTerm: Term;
      }
    | {
        readonly type: 'Heartbeat';
        /** min(leader commit, follower match): never tells a follower to commit what it may not have. */
        readonly leaderCommit: LogIndex;
        /** Echoed back so the leader can confirm pending ReadIndex requests (thesis §6.4). */
        readonly context: string;
      }
    | { readonly type: 'HeartbeatResponse'; readonly context: string }
    | { readonly type: 'InstallSnapshot'; readonly snapshot: Snapshot }
    /** Thesis §3.10: the leader tells a caught-up transferee to start an election now. */
    | { readonly type: 'TimeoutNow' }
    /** A follower forwards proposals to its leader (term 0). */
    | { readonly type: 'Propose'; readonly data: readonly Uint8Array[] }
    /** A follower forwards a ReadIndex request to its leader (term 0). */
    | { readonly type: 'ReadIndex'; readonly requestId: string }
    | {
        readonly type: 'ReadIndexResponse';
        readonly requestId: string;
        readonly index: LogIndex;
        /** The leader could not confirm the read (it lost leadership); the caller should retry. */
        readonly reject: boolean;
      }
    /** A follower forwards a leadership transfer request to its leader (term 0). */
    | { readonly type: 'TransferLeadership'; readonly transferee: NodeId }
  );

export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/**
 * One batch of work for the driver. Process in this order (ARCHITECTURE §2):
 * 1. persist `hardState`, `entries` and `snapshot` durably (one fsync);
 * 2. send `messages`. A leader's AppendEntries/Heartbeat may go before or during step 1 (thesis
 *    §10.2.1: the leader counts its own copy of an entry only after `advance`), but only when its
 *    term is already durable, i.e. `hardState` is absent or carries the term persisted before.
 *    (A single voter campaigns and wins in one step; were its new term lost in a crash, it could
 *    lead that term again with a different log.) Every other message waits for step 1;
 * 3. restore `snapshot` into the state machine if present, then apply `committed` in index order;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Local ReadIndex requests that will never be answered (leadership lost): fail them, the client may retry. */
  readonly abortedReads: readonly string[];
}

/** Why a proposal was not accepted. Expected outcomes, so values rather than exceptions. */
export type ProposalRejection =
  | { readonly ok: false; readonly reason: 'NotLeader'; readonly leaderHint: NodeId }
  | { readonly ok: false; readonly reason: 'NoLeader' }
  | { readonly ok: false; readonly reason: 'TransferInProgress' }
  | { readonly ok: false; readonly reason: 'Overloaded' }
  | { readonly ok: false; readonly reason: 'ConfChangeInProgress' }
  | { readonly ok: false; readonly reason: 'InvalidConfChange'; readonly detail: string }
  | { readonly ok: false; readonly reason: 'LearnerNotCaughtUp'; readonly match: LogIndex; readonly commit: LogIndex };

/**
 * A proposal accepted into the leader's log at (index, term) or forwarded to the leader. Acceptance
 * is not commitment: if leadership changes before the entry commits, the outcome is unknown until
 * the entry at `index` is applied with the same `term` (committed) or a different one (lost).
 */
export type ProposalResult =
  | { readonly ok: true; readonly forwardedTo?: undefined; readonly index: LogIndex; readonly term: Term }
  | { readonly ok: true; readonly forwardedTo: NodeId }
  | ProposalRejection;
