import { applyConfChange, isMember, isVoter, members, quorumMatchIndex, quorumSize, voteResult } from './membership.ts';
import { Progress } from './progress.ts';
import { RaftLog } from './raft-log.ts';
import type { Random } from './random.ts';
import { ReadOnlyQueue } from './read-only.ts';
import type { RaftStorage } from './storage.ts';
import { entrySize } from './storage.ts';
import type {
  ConfChange,
  Entry,
  HardState,
  LogIndex,
  Membership,
  Message,
  MessageOf,
  NodeId,
  ProposalResult,
  ReadState,
  Role,
  Snapshot,
  Term,
} from './types.ts';
import { NO_NODE } from './types.ts';

export interface RaftOptions {
  /** Ticks without hearing from a leader before a follower campaigns; randomised to [n, 2n) (§5.2). */
  readonly electionTick: number;
  /** Ticks between a leader's heartbeats. Must be < electionTick. */
  readonly heartbeatTick: number;
  /** Thesis §9.6: a would-be candidate first asks whether it could win, so a rejoining node cannot disrupt. */
  readonly preVote: boolean;
  /** Thesis §6.2: a leader that cannot reach a quorum within an election timeout steps down. */
  readonly checkQuorum: boolean;
  /** Max payload bytes in one AppendEntries (at least one entry is always sent). */
  readonly maxMsgBytes: number;
  /** Max unacknowledged AppendEntries per peer in Replicate state. */
  readonly maxInflightMsgs: number;
  /** Max unacknowledged payload bytes per peer (0 = no byte limit). */
  readonly maxInflightBytes: number;
  /** Cap on bytes proposed but not yet committed; further proposals get Overloaded (0 = no cap). */
  readonly maxUncommittedBytes: number;
  /** Max bytes of committed entries handed out in one Ready (at least one entry). */
  readonly maxCommittedBytesPerReady: number;
  /** When true, a follower answers NotLeader instead of forwarding proposals to its leader. */
  readonly disableProposalForwarding: boolean;
  /** A learner is promoted only if its match index is within this many entries of the commit index. */
  readonly learnerPromotionMaxLag: number;
  /** A peer stuck in Snapshot state this many ticks without news is probed again (0 = wait forever). */
  readonly snapshotTimeoutTick: number;
}

export const defaultRaftOptions: RaftOptions = Object.freeze({
  electionTick: 10,
  heartbeatTick: 1,
  preVote: true,
  checkQuorum: true,
  maxMsgBytes: 1 << 20,
  maxInflightMsgs: 256,
  maxInflightBytes: 0,
  maxUncommittedBytes: 64 << 20,
  maxCommittedBytesPerReady: 16 << 20,
  disableProposalForwarding: false,
  learnerPromotionMaxLag: 1000,
  snapshotTimeoutTick: 200,
});

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  readonly random: Random;
  /** Last index the state machine applied durably before a restart; defaults to the snapshot index. */
  readonly applied?: LogIndex;
  readonly options?: Partial<RaftOptions>;
}

export type TransferResult =
  | { readonly ok: true; readonly forwardedTo?: NodeId }
  | { readonly ok: false; readonly reason: 'NoLeader' | 'NotLeader' | 'InvalidTransferee'; readonly detail?: string };

export type ReadIndexResult = { readonly ok: true; readonly forwardedTo?: NodeId } | { readonly ok: false; readonly reason: 'NoLeader' };

/** A configuration that took effect at `index` (when its entry committed). */
interface MembershipAt {
  readonly index: LogIndex;
  readonly membership: Membership;
}

/**
 * The Raft state machine (Ongaro & Ousterhout 2014; Ongaro's thesis 2014), modelled on
 * etcd/raft. Pure and deterministic: no I/O, no clock, no ambient randomness. Time is `tick()`;
 * the network is `step()` in and `msgs` out; durability is the driver's job between `ready()`
 * and `advance()` (see RawNode).
 *
 * Membership changes are single-server (thesis §4.1) and take effect when their entry *commits*
 * (as etcd applies them on commit), not when appended. Because a leader proposes the next change
 * only after the previous one committed and after committing an entry of its own term (the fix
 * for the single-server change bug, raft-dev 2015), the committed configurations form one chain
 * in which neighbours differ by one server, and any node's active configuration is a link of it.
 */
export class Raft {
  readonly id: NodeId;
  readonly log: RaftLog;
  readonly opts: RaftOptions;
  private readonly random: Random;

  term = 0 as Term;
  vote: NodeId = NO_NODE;
  role: Role = 'Follower';
  leaderId: NodeId = NO_NODE;

  /** The configuration in effect: that of the latest committed configuration entry. */
  membership: Membership;
  private membershipHistory: MembershipAt[];
  /** Indexes of configuration entries in the log above the commit index, ascending. */
  private uncommittedConfIndexes: LogIndex[] = [];

  /** Leader only: replication state per member, including self. */
  readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  msgs: Message[] = [];
  readStates: ReadState[] = [];
  abortedReads: string[] = [];

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  /** Leader only: transfer target (thesis §3.10); proposals are refused while set. */
  leadTransferee: NodeId = NO_NODE;
  /** Leader only: index of the last configuration entry this leader may have to wait for. */
  private pendingConfIndex = 0 as LogIndex;
  /** Leader only: (index, bytes) of entries this leader appended that are not yet committed. */
  private uncommitted: { index: LogIndex; bytes: number }[] = [];
  private uncommittedBytes = 0;
  private readonly readOnly = new ReadOnlyQueue();
  /** ReadIndex requests that arrived before this leader committed an entry in its term. */
  private pendingReadRequests: { requestId: string; from: NodeId }[] = [];
  /** Leader only: set by proposals, flushed as one AppendEntries per peer at the next ready(). */
  private appendsPending = false;
  /** Ticks each peer has spent in Snapshot state. */
  private readonly snapshotElapsed = new Map<NodeId, number>();

  constructor(config: RaftConfig) {
    this.id = config.id;
    this.random = config.random;
    this.opts = { ...defaultRaftOptions, ...config.options };
    validateOptions(this.opts);
    this.log = new RaftLog(config.storage);
    // Every append, by the leader or from one, keeps the uncommitted configuration entries known.
    this.log.onAppend = (entries) => {
      this.trackConfEntries(entries);
    };

    const { hardState, snapshot } = config.storage.initialState();
    this.membership = snapshot.metadata.membership;
    this.membershipHistory = [{ index: snapshot.metadata.index, membership: snapshot.metadata.membership }];
    const first = this.log.firstIndex();
    const last = this.log.lastIndex();
    if (last >= first) {
      for (const e of this.log.slice(first, (last + 1) as LogIndex, Number.MAX_SAFE_INTEGER)) {
        // Entries kept below the snapshot index are already reflected in the snapshot's membership.
        if (e.type === 'ConfChange' && e.index > snapshot.metadata.index) this.uncommittedConfIndexes.push(e.index);
      }
    }
    if (hardState.commit > last) {
      throw new Error(`raft: stored commit ${hardState.commit} is beyond the stored log (last index ${last})`);
    }
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.log.commitTo(hardState.commit);
    if (config.applied !== undefined && config.applied > this.log.applied) this.log.appliedTo(config.applied);
    this.onCommitAdvanced();
    this.becomeFollower(this.term, NO_NODE);
  }

  // ------------------------------------------------------------------ queries

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /**
   * Whether this node may campaign: voters, and nodes outside their own configuration (thesis
   * §4.2.2: such a server "might still be needed"). With configurations that take effect on
   * commit, a removed node's peers may not know yet that the removal committed, still count on its
   * vote, and lack entries only it holds; it must be able to lead long enough to hand over. Its own
   * vote never counts. This is as safe as any lagging node campaigning: every later configuration
   * entry was committed by a majority of its configuration, and those voters reject its stale log.
   * Learners never campaign; a node that knows no configuration (a joiner) has nobody to ask.
   */
  promotable(): boolean {
    if (isVoter(this.membership, this.id)) return true;
    return !isMember(this.membership, this.id) && this.membership.voters.length > 0;
  }

  /**
   * The configuration in effect at `index`, for the metadata of a snapshot taken there.
   * Precondition: index >= the storage's snapshot index and index <= the commit index.
   */
  membershipAt(index: LogIndex): Membership {
    let found: Membership | undefined;
    for (const m of this.membershipHistory) {
      if (m.index <= index) found = m.membership;
      else break;
    }
    if (found === undefined) throw new RangeError(`raft: no membership known at ${index} (history starts at ${this.membershipHistory[0]?.index})`);
    return found;
  }

  /** Forgets configurations older than the one in effect at the latest snapshot (see membershipAt). */
  private pruneMembershipHistory(): void {
    const h = this.membershipHistory;
    const floor = this.log.storage.snapshot().metadata.index;
    let drop = 0;
    while (drop + 1 < h.length && (h[drop + 1] as MembershipAt).index <= floor) drop++;
    if (drop > 0) h.splice(0, drop);
  }

  /** Configuration entries in the log that are not yet committed (at most one, by construction). */
  uncommittedConfChanges(): readonly LogIndex[] {
    return this.uncommittedConfIndexes;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ------------------------------------------------------------------ inputs

  /** Advances logical time by one tick. The driver calls it on a fixed interval. */
  tick(): void {
    if (this.role === 'Leader') this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const [id, pr] of this.progress) {
      if (pr.state !== 'Snapshot' || this.opts.snapshotTimeoutTick === 0) continue;
      const elapsed = (this.snapshotElapsed.get(id) ?? 0) + 1;
      this.snapshotElapsed.set(id, elapsed);
      if (elapsed >= this.opts.snapshotTimeoutTick) {
        // The InstallSnapshot or its answer was lost and nobody reported it: try again from a probe.
        this.snapshotElapsed.delete(id);
        pr.becomeProbe();
      }
    }
    if (this.electionElapsed >= this.opts.electionTick) {
      this.electionElapsed = 0;
      if (this.opts.checkQuorum && !this.checkQuorumActive()) {
        this.becomeFollower(this.term, NO_NODE);
        return;
      }
      // Thesis §3.10: a transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== NO_NODE) this.leadTransferee = NO_NODE;
      this.maybeHandOff();
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastContext());
    }
  }

  /** Thesis §6.2: true when a quorum of voters was heard from since the last check; resets the marks. */
  private checkQuorumActive(): boolean {
    let active = 0;
    for (const id of this.membership.voters) {
      if (id === this.id) {
        active++;
        continue;
      }
      const pr = this.progress.get(id);
      if (pr?.recentActive === true) active++;
    }
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    return active >= quorumSize(this.membership);
  }

  /** Appends entries if leader; forwards them to the leader if follower (unless disabled). */
  propose(data: readonly Uint8Array[]): ProposalResult {
    if (this.role === 'Leader') {
      if (this.leadTransferee !== NO_NODE) return { ok: false, reason: 'TransferInProgress' };
      const appended = this.appendEntries(data.map((d) => ({ type: 'Normal' as const, data: d })));
      if (appended === undefined) return { ok: false, reason: 'Overloaded' };
      return { ok: true, index: appended, term: this.term };
    }
    if (this.leaderId === NO_NODE) return { ok: false, reason: 'NoLeader' };
    if (this.opts.disableProposalForwarding) return { ok: false, reason: 'NotLeader', leaderHint: this.leaderId };
    this.send({ type: 'Propose', to: this.leaderId, term: 0 as Term, data });
    return { ok: true, forwardedTo: this.leaderId };
  }

  /**
   * Proposes a single-server membership change (thesis §4.1). Only the leader accepts one, only
   * after it committed an entry of its term, and only when no other change is pending.
   */
  proposeConfChange(change: ConfChange): ProposalResult {
    if (this.role !== 'Leader') {
      return this.leaderId === NO_NODE ? { ok: false, reason: 'NoLeader' } : { ok: false, reason: 'NotLeader', leaderHint: this.leaderId };
    }
    if (change.type === 'Bootstrap') return { ok: false, reason: 'InvalidConfChange', detail: 'Bootstrap cannot be proposed' };
    if (this.leadTransferee !== NO_NODE) return { ok: false, reason: 'TransferInProgress' };
    if (this.pendingConfIndex > this.log.committed || !this.committedEntryInCurrentTerm() || this.uncommittedConfIndexes.length > 0) {
      return { ok: false, reason: 'ConfChangeInProgress' };
    }
    const outcome = applyConfChange(this.membership, change);
    if (!outcome.ok) return { ok: false, reason: 'InvalidConfChange', detail: outcome.detail };
    if (change.type === 'PromoteLearner') {
      // A learner that never acknowledged anything is not caught up, however short the log.
      const match = this.progress.get(change.nodeId)?.match ?? (0 as LogIndex);
      if (match === 0 || match + this.opts.learnerPromotionMaxLag < this.log.committed) {
        return { ok: false, reason: 'LearnerNotCaughtUp', match, commit: this.log.committed };
      }
    }
    const index = this.appendEntries([{ type: 'ConfChange', change }]);
    if (index === undefined) return { ok: false, reason: 'Overloaded' };
    this.pendingConfIndex = index;
    return { ok: true, index, term: this.term };
  }

  /**
   * Starts a linearizable read (thesis §6.4). The answer arrives as a ReadState (or an aborted
   * read) in a later Ready; serve the read once the state machine has applied its index.
   */
  readIndex(requestId: string): ReadIndexResult {
    if (this.role === 'Leader') {
      this.handleReadIndex(requestId, this.id);
      return { ok: true };
    }
    if (this.leaderId === NO_NODE) return { ok: false, reason: 'NoLeader' };
    this.send({ type: 'ReadIndex', to: this.leaderId, term: 0 as Term, requestId });
    return { ok: true, forwardedTo: this.leaderId };
  }

  /** Hands leadership to `transferee` (thesis §3.10). Followers forward the request to the leader. */
  transferLeadership(transferee: NodeId): TransferResult {
    if (this.role === 'Leader') return this.handleTransfer(transferee);
    if (this.leaderId === NO_NODE) return { ok: false, reason: 'NoLeader' };
    this.send({ type: 'TransferLeadership', to: this.leaderId, term: 0 as Term, transferee });
    return { ok: true, forwardedTo: this.leaderId };
  }

  /** The transport could not reach `id`: stop streaming to it and probe instead. */
  reportUnreachable(id: NodeId): void {
    const pr = this.role === 'Leader' ? this.progress.get(id) : undefined;
    if (pr?.state === 'Replicate') pr.becomeProbe();
  }

  /** The transport finished (or failed) sending a snapshot to `id`. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.role === 'Leader' ? this.progress.get(id) : undefined;
    if (pr?.state !== 'Snapshot') return;
    if (!ok) pr.pendingSnapshot = 0 as LogIndex;
    pr.becomeProbe();
    // Wait for the peer's answer (or a heartbeat response) before probing again.
    pr.probeSent = true;
    this.snapshotElapsed.delete(id);
  }

  /** Processes one message from a peer (or a forwarded request). */
  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term === 0) {
      this.stepRequest(m);
      return;
    }
    if (m.term > this.term) {
      if (m.type === 'PreVote' || m.type === 'RequestVote') {
        const force = m.type === 'RequestVote' && m.leadershipTransfer;
        const inLease = this.opts.checkQuorum && this.leaderId !== NO_NODE && this.electionElapsed < this.opts.electionTick;
        // Thesis §4.2.3: ignore vote requests while we believe a leader is alive, so a removed or
        // partitioned server cannot depose a working leader.
        if (!force && inLease) return;
      }
      if (m.type === 'PreVote') {
        // A pre-vote never changes our term (thesis §9.6).
      } else if (m.type === 'PreVoteResponse' && !m.reject) {
        // Granted pre-votes carry the term of the future election, not the voter's term.
      } else if (m.type === 'AppendEntries' || m.type === 'Heartbeat' || m.type === 'InstallSnapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NO_NODE); // §5.1: a higher term makes us a follower
      }
    } else if (m.term < this.term) {
      if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === 'AppendEntries' || m.type === 'Heartbeat')) {
        // A stale leader (e.g. just healed from a partition). With PreVote/CheckQuorum we may have
        // ignored the votes that would have told it; answer so it learns our term and steps down.
        this.send({ type: 'AppendEntriesResponse', to: m.from, term: this.term, reject: false, index: 0 as LogIndex, rejectHint: 0 as LogIndex, rejectHintTerm: 0 as Term });
      } else if (m.type === 'PreVote') {
        // Tell a lagging pre-candidate our term so it can catch up and stop asking.
        this.send({ type: 'PreVoteResponse', to: m.from, term: this.term, reject: true });
      }
      return; // §5.1: stale-term messages are otherwise ignored
    }

    switch (m.type) {
      case 'PreVote':
      case 'RequestVote':
        this.handleVoteRequest(m);
        return;
      default:
        switch (this.role) {
          case 'Leader':
            this.stepLeader(m);
            return;
          case 'Candidate':
          case 'PreCandidate':
            this.stepCandidate(m);
            return;
          case 'Follower':
            this.stepFollower(m);
            return;
        }
    }
  }

  /** Term-0 messages: requests forwarded between nodes that never change anyone's term. */
  private stepRequest(m: Message): void {
    switch (m.type) {
      case 'Propose':
        // Only the leader appends; a non-leader drops rather than forwarding again (no loops).
        if (this.role === 'Leader' && this.leadTransferee === NO_NODE) {
          this.appendEntries(m.data.map((d) => ({ type: 'Normal' as const, data: d })));
        }
        return;
      case 'ReadIndex':
        if (this.role === 'Leader') this.handleReadIndex(m.requestId, m.from);
        else this.send({ type: 'ReadIndexResponse', to: m.from, term: 0 as Term, requestId: m.requestId, index: 0 as LogIndex, reject: true });
        return;
      case 'ReadIndexResponse':
        if (m.reject) this.abortedReads.push(m.requestId);
        else this.readStates.push({ index: m.index, requestId: m.requestId });
        return;
      case 'TransferLeadership':
        if (this.role === 'Leader') this.handleTransfer(m.transferee);
        return;
      default:
        // A term-0 message of any other type is malformed; the transport validates frames, so drop it.
        return;
    }
  }

  // ------------------------------------------------------------------ elections (§5.2)

  private hup(leadershipTransfer: boolean): void {
    if (this.role === 'Leader' || !this.promotable()) return;
    if (this.opts.preVote && !leadershipTransfer) this.campaign('PreElection', false);
    else this.campaign('Election', leadershipTransfer);
  }

  private campaign(kind: 'PreElection' | 'Election', leadershipTransfer: boolean): void {
    let voteTerm: Term;
    if (kind === 'PreElection') {
      this.becomePreCandidate();
      voteTerm = (this.term + 1) as Term;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (voteResult(this.membership, this.votes) === 'Won') {
      // A single-voter cluster wins at once.
      if (kind === 'PreElection') this.campaign('Election', leadershipTransfer);
      else this.becomeLeader();
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const id of this.membership.voters) {
      if (id === this.id) continue;
      if (kind === 'PreElection') this.send({ type: 'PreVote', to: id, term: voteTerm, lastLogIndex, lastLogTerm });
      else this.send({ type: 'RequestVote', to: id, term: voteTerm, lastLogIndex, lastLogTerm, leadershipTransfer });
    }
  }

  private handleVoteRequest(m: MessageOf<'PreVote'> | MessageOf<'RequestVote'>): void {
    // §5.2: at most one vote per term, first come first served; a repeated request gets the same answer.
    // Deliberately no filter on the candidate's membership: our own configuration may be stale (a
    // voter restored from an old snapshot may not even know it is a voter), and refusing the
    // candidates it does not know deadlocked the cluster (sim seed 203152, 3 voters). A removed
    // node cannot disrupt for long anyway: it receives no entries, so once the new leader commits
    // its no-op, the log check below rejects it.
    const canVote = this.vote === m.from || (this.vote === NO_NODE && this.leaderId === NO_NODE) || (m.type === 'PreVote' && m.term > this.term);
    // §5.4.1: only for a candidate whose log is at least as up-to-date as ours.
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      if (m.type === 'PreVote') {
        this.send({ type: 'PreVoteResponse', to: m.from, term: m.term, reject: false });
      } else {
        this.electionElapsed = 0;
        this.vote = m.from;
        this.send({ type: 'RequestVoteResponse', to: m.from, term: m.term, reject: false });
      }
    } else if (m.type === 'PreVote') {
      this.send({ type: 'PreVoteResponse', to: m.from, term: this.term, reject: true });
    } else {
      this.send({ type: 'RequestVoteResponse', to: m.from, term: this.term, reject: true });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'AppendEntries':
        this.becomeFollower(m.term, m.from); // §5.2: a leader of our term exists
        this.handleAppendEntries(m);
        return;
      case 'Heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'InstallSnapshot':
        this.becomeFollower(m.term, m.from);
        this.handleInstallSnapshot(m);
        return;
      case 'PreVoteResponse':
        if (this.role !== 'PreCandidate') return;
        // Granted pre-votes must be for the election we are asking about, not an older round.
        if (!m.reject && m.term !== this.term + 1) return;
        this.tally(m.from, !m.reject);
        return;
      case 'RequestVoteResponse':
        if (this.role !== 'Candidate') return;
        this.tally(m.from, !m.reject);
        return;
      default:
        return;
    }
  }

  private tally(from: NodeId, granted: boolean): void {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    switch (voteResult(this.membership, this.votes)) {
      case 'Won':
        if (this.role === 'PreCandidate') this.campaign('Election', false);
        else this.becomeLeader();
        return;
      case 'Lost':
        this.becomeFollower(this.term, NO_NODE);
        return;
      case 'Pending':
        return;
    }
  }

  // ------------------------------------------------------------------ role changes

  private reset(t: Term): void {
    if (this.term !== t) {
      this.term = t;
      this.vote = NO_NODE;
    }
    if (this.role === 'Leader') this.abortPendingReads();
    this.leaderId = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    // §5.2: randomised election timeouts in [electionTick, 2 * electionTick) make split votes rare.
    this.randomizedElectionTimeout = this.opts.electionTick + this.random.int(this.opts.electionTick);
    this.votes.clear();
    this.leadTransferee = NO_NODE;
    this.progress.clear();
    this.snapshotElapsed.clear();
    this.pendingConfIndex = 0 as LogIndex;
    this.uncommitted = [];
    this.uncommittedBytes = 0;
    this.appendsPending = false;
  }

  private abortPendingReads(): void {
    for (const read of [...this.readOnly.drain(), ...this.pendingReadRequests.map((r) => ({ ...r, index: 0 as LogIndex }))]) {
      if (read.from === this.id) this.abortedReads.push(read.requestId);
      else this.send({ type: 'ReadIndexResponse', to: read.from, term: 0 as Term, requestId: read.requestId, index: 0 as LogIndex, reject: true });
    }
    this.pendingReadRequests = [];
  }

  becomeFollower(t: Term, leaderId: NodeId): void {
    this.reset(t);
    this.role = 'Follower';
    this.leaderId = leaderId;
  }

  private becomePreCandidate(): void {
    if (this.role === 'Leader') throw new Error('raft: leader cannot become pre-candidate');
    // Thesis §9.6: a pre-candidate changes neither its term nor its vote.
    this.votes.clear();
    this.randomizedElectionTimeout = this.opts.electionTick + this.random.int(this.opts.electionTick);
    this.role = 'PreCandidate';
    this.leaderId = NO_NODE;
  }

  private becomeCandidate(): void {
    if (this.role === 'Leader') throw new Error('raft: leader cannot become candidate');
    this.reset((this.term + 1) as Term); // §5.2: increment currentTerm, vote for self
    this.vote = this.id;
    this.role = 'Candidate';
  }

  private becomeLeader(): void {
    if (this.role === 'Follower') throw new Error('raft: follower cannot become leader');
    this.reset(this.term);
    this.role = 'Leader';
    this.leaderId = this.id;
    // Peers must prove they are alive within the first election timeout (CheckQuorum).
    for (const id of members(this.membership)) this.addProgress(id, false);
    const self = this.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Any configuration entry already in our log must commit before we propose another.
    this.pendingConfIndex = this.log.lastIndex();
    // §8 / §5.4.2: commit a no-op of our own term, which commits everything before it and tells us
    // the commit index; reads wait for it.
    this.appendEntries([{ type: 'Normal', data: new Uint8Array(0) }], true);
    this.maybeHandOff();
  }

  /**
   * A leader that is no longer a voter (its removal committed) is a lame duck: it keeps
   * replicating so the others learn the commit, refuses new proposals (a transfer is in progress)
   * and hands leadership to the most up-to-date voter (thesis §3.10, §4.2.2).
   */
  private maybeHandOff(): void {
    if (this.role !== 'Leader' || isVoter(this.membership, this.id) || this.leadTransferee !== NO_NODE) return;
    let successor: NodeId = NO_NODE;
    let best = -1;
    for (const id of this.membership.voters) {
      const match = this.progress.get(id)?.match ?? -1;
      if (match > best) {
        best = match;
        successor = id;
      }
    }
    if (successor !== NO_NODE) this.handleTransfer(successor);
  }

  private addProgress(id: NodeId, recentActive: boolean): void {
    if (this.progress.has(id)) return;
    const pr = new Progress((this.log.lastIndex() + 1) as LogIndex, this.opts.maxInflightMsgs, this.opts.maxInflightBytes);
    if (id === this.id) pr.match = this.lastStableIndex();
    pr.recentActive = recentActive;
    this.progress.set(id, pr);
  }

  /** Highest index whose entry is durable on this node and still part of its log. */
  private lastStableIndex(): LogIndex {
    if (this.log.unstable.snapshot !== undefined) return 0 as LogIndex;
    return Math.min(this.log.unstable.offset - 1, this.log.lastIndex()) as LogIndex;
  }

  // ------------------------------------------------------------------ leader

  /**
   * Appends entries to the leader's log. Returns the index of the first, or undefined if the
   * uncommitted-bytes cap refuses them (the no-op is never refused).
   */
  private appendEntries(
    items: readonly ({ type: 'Normal'; data: Uint8Array } | { type: 'ConfChange'; change: ConfChange })[],
    force = false,
  ): LogIndex | undefined {
    let index = this.log.lastIndex();
    const entries: Entry[] = items.map((item) => {
      index = (index + 1) as LogIndex;
      return item.type === 'Normal'
        ? { type: 'Normal', term: this.term, index, data: item.data }
        : { type: 'ConfChange', term: this.term, index, change: item.change };
    });
    let bytes = 0;
    for (const e of entries) bytes += entrySize(e);
    const cap = this.opts.maxUncommittedBytes;
    if (!force && cap > 0 && this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > cap) return undefined;
    const first = entries[0];
    if (first === undefined) return undefined;
    this.log.append(entries);
    for (const e of entries) this.uncommitted.push({ index: e.index, bytes: entrySize(e) });
    this.uncommittedBytes += bytes;
    this.appendsPending = true;
    return first.index;
  }

  /** Keeps uncommittedConfIndexes in step with an append that may replace a suffix of the log. */
  private trackConfEntries(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    this.uncommittedConfIndexes = this.uncommittedConfIndexes.filter((i) => i < first.index);
    for (const e of entries) if (e.type === 'ConfChange') this.uncommittedConfIndexes.push(e.index);
  }

  /** Sends the appends that proposals accumulated since the last call (one message per peer). */
  flushAppends(): void {
    if (!this.appendsPending) return;
    this.appendsPending = false;
    if (this.role === 'Leader') this.bcastAppend();
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(context: string): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit beyond what it is known to hold.
      const leaderCommit = Math.min(pr.match, this.log.committed) as LogIndex;
      this.send({ type: 'Heartbeat', to: id, term: this.term, leaderCommit, context });
    }
  }

  /**
   * Sends an AppendEntries (or InstallSnapshot) to `to` if its progress allows (§5.3, §7).
   * Returns whether a message was sent. With sendIfEmpty false, sends only when there are entries.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevLogIndex = (pr.next - 1) as LogIndex;
    const prevLogTerm = this.log.term(prevLogIndex);
    if (prevLogTerm === undefined || pr.next < this.log.firstIndex()) {
      return this.sendSnapshot(to, pr);
    }
    const last = this.log.lastIndex();
    const entries = pr.next <= last ? this.log.slice(pr.next, (last + 1) as LogIndex, this.opts.maxMsgBytes) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'AppendEntries', to, term: this.term, prevLogIndex, prevLogTerm, entries, leaderCommit: this.log.committed });
    const lastSent = entries.at(-1);
    if (pr.state === 'Replicate' && lastSent !== undefined) {
      pr.optimisticUpdate(lastSent.index);
      let bytes = 0;
      for (const e of entries) bytes += entrySize(e);
      pr.inflights.add(lastSent.index, bytes);
    } else if (pr.state === 'Probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // §7: the entries this peer needs are compacted away; send the snapshot instead.
    const snapshot = this.log.snapshot();
    if (snapshot.metadata.index === 0) return false; // nothing compacted yet: cannot happen with a sane log
    pr.becomeSnapshot(snapshot.metadata.index);
    this.snapshotElapsed.set(to, 0);
    this.send({ type: 'InstallSnapshot', to, term: this.term, snapshot });
    return true;
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'AppendEntriesResponse':
        this.handleAppendResponse(m);
        return;
      case 'HeartbeatResponse': {
        const pr = this.progress.get(m.from);
        if (pr === undefined) return;
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context !== '') this.ackRead(m.from, m.context);
        return;
      }
      case 'AppendEntries':
      case 'Heartbeat':
      case 'InstallSnapshot':
        // Election Safety (§5.2): two leaders in one term is a bug, not a condition to handle.
        throw new Error(`raft: leader ${this.id} got ${m.type} from ${m.from} in its own term ${this.term}`);
      default:
        return;
    }
  }

  private handleAppendResponse(m: MessageOf<'AppendEntriesResponse'>): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (m.reject) {
      // §5.3 with the term-based hint: skip every entry of a conflicting term at once.
      let hint = m.rejectHint;
      if (m.rejectHintTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.rejectHintTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'Replicate') pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'Probe')) {
      if (pr.state === 'Probe') {
        pr.becomeReplicate();
      } else if (pr.state === 'Snapshot' && pr.match + 1 >= this.log.firstIndex()) {
        // The peer installed a snapshot (or caught up otherwise): back to normal replication.
        this.snapshotElapsed.delete(m.from);
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'Replicate') {
        pr.inflights.freeLE(m.index);
      }
      if (this.maybeCommit()) {
        this.bcastAppend(); // tell everyone the new commit index
      } else if (wasPaused) {
        this.sendAppend(m.from, true);
      }
      while (this.role === 'Leader' && this.sendAppend(m.from, false)) {
        // keep the pipe full while the window allows
      }
      if (this.role === 'Leader' && m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.send({ type: 'TimeoutNow', to: m.from, term: this.term });
      }
    }
  }

  /** §5.3/§5.4.2: advance commit to the quorum match index if it holds an entry of our term. */
  private maybeCommit(): boolean {
    const index = quorumMatchIndex(this.membership, (id) => this.progress.get(id)?.match ?? (0 as LogIndex));
    if (!this.log.maybeCommit(index, this.term)) return false;
    this.onCommitAdvanced();
    return true;
  }

  private handleReadIndex(requestId: string, from: NodeId): void {
    // Thesis §6.4 step 1: until it commits an entry of its term, a new leader does not know the
    // commit index, so it answers no read yet.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadRequests.push({ requestId, from });
      return;
    }
    const index = this.log.committed;
    if (this.membership.voters.length === 1 && isVoter(this.membership, this.id)) {
      this.answerRead(from, requestId, index);
      return;
    }
    // Step 3: confirm we are still leader with a round of heartbeats.
    const ctx = this.readOnly.add(index, requestId, from);
    if (ctx === undefined) return; // a retry of a request whose heartbeat round is under way
    this.ackRead(this.id, ctx);
    this.bcastHeartbeat(ctx);
  }

  private ackRead(from: NodeId, ctx: string): void {
    const acks = this.readOnly.recvAck(from, ctx);
    if (acks === undefined) return;
    let voters = 0;
    for (const id of acks) if (isVoter(this.membership, id)) voters++;
    if (voters < quorumSize(this.membership)) return;
    for (const read of this.readOnly.release(ctx)) this.answerRead(read.from, read.requestId, read.index);
  }

  private answerRead(to: NodeId, requestId: string, index: LogIndex): void {
    if (to === this.id) this.readStates.push({ index, requestId });
    else this.send({ type: 'ReadIndexResponse', to, term: 0 as Term, requestId, index, reject: false });
  }

  private handleTransfer(transferee: NodeId): TransferResult {
    if (transferee === this.id) return { ok: true };
    if (!isVoter(this.membership, transferee)) {
      return { ok: false, reason: 'InvalidTransferee', detail: `${transferee} is not a voter` };
    }
    if (this.leadTransferee === transferee) return { ok: true };
    this.leadTransferee = transferee;
    // The transfer must finish within one election timeout (thesis §3.10).
    this.electionElapsed = 0;
    const pr = this.progress.get(transferee);
    if (pr?.match === this.log.lastIndex()) {
      this.send({ type: 'TimeoutNow', to: transferee, term: this.term });
    } else {
      this.sendAppend(transferee, true);
    }
    return { ok: true };
  }

  // ------------------------------------------------------------------ follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'AppendEntries':
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleAppendEntries(m);
        return;
      case 'Heartbeat':
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleHeartbeat(m);
        return;
      case 'InstallSnapshot':
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleInstallSnapshot(m);
        return;
      case 'TimeoutNow':
        // Thesis §3.10: the leader asks us to start an election right away, skipping pre-vote.
        this.hup(true);
        return;
      default:
        return;
    }
  }

  private handleAppendEntries(m: MessageOf<'AppendEntries'>): void {
    const reply = (fields: { reject: boolean; index: LogIndex; rejectHint?: LogIndex; rejectHintTerm?: Term }): void => {
      this.send({
        type: 'AppendEntriesResponse',
        to: m.from,
        term: this.term,
        reject: fields.reject,
        index: fields.index,
        rejectHint: fields.rejectHint ?? (0 as LogIndex),
        rejectHintTerm: fields.rejectHintTerm ?? (0 as Term),
      });
    };
    if (m.prevLogIndex < this.log.committed) {
      // Everything up to our commit index already matches the leader (Leader Completeness).
      reply({ reject: false, index: this.log.committed });
      return;
    }
    const before = this.log.committed;
    const lastNew = this.log.maybeAppend(m.prevLogIndex, m.prevLogTerm, m.leaderCommit, m.entries);
    if (this.log.committed > before) this.onCommitAdvanced();
    if (lastNew !== undefined) {
      reply({ reject: false, index: lastNew });
      return;
    }
    // §5.3: reject, with a hint where our log might match so the leader can skip a whole term.
    const hint = this.log.findConflictByTerm(Math.min(m.prevLogIndex, this.log.lastIndex()) as LogIndex, m.prevLogTerm);
    reply({ reject: true, index: m.prevLogIndex, rejectHint: hint.index, rejectHintTerm: hint.term });
  }

  private handleHeartbeat(m: MessageOf<'Heartbeat'>): void {
    const before = this.log.committed;
    this.log.commitTo(m.leaderCommit);
    if (this.log.committed > before) this.onCommitAdvanced();
    this.send({ type: 'HeartbeatResponse', to: m.from, term: this.term, context: m.context });
  }

  private handleInstallSnapshot(m: MessageOf<'InstallSnapshot'>): void {
    const reply = (index: LogIndex): void => {
      this.send({ type: 'AppendEntriesResponse', to: m.from, term: this.term, reject: false, index, rejectHint: 0 as LogIndex, rejectHintTerm: 0 as Term });
    };
    if (this.restore(m.snapshot)) reply(this.log.lastIndex());
    else reply(this.log.committed);
  }

  /** §7: installs a leader's snapshot unless our log already covers it. Returns whether it was installed. */
  restore(snapshot: Snapshot): boolean {
    const meta = snapshot.metadata;
    if (meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(meta.index, meta.term)) {
      // Our log already has the snapshot's last entry: just learn that it is committed.
      this.log.commitTo(meta.index);
      this.onCommitAdvanced();
      return false;
    }
    this.log.restore(snapshot);
    this.membership = meta.membership;
    // Earlier entries of the history are committed configurations, valid whatever follows; the
    // application may still ask for them while it finishes applying entries below the snapshot.
    this.membershipHistory.push({ index: meta.index, membership: meta.membership });
    this.uncommittedConfIndexes = [];
    return true;
  }

  // ------------------------------------------------------------------ commit side effects

  /**
   * Runs after the commit index moved: activates committed configuration entries, releases the
   * leader's uncommitted-bytes budget and, once the leader committed in its term, its queued reads.
   */
  private onCommitAdvanced(): void {
    const committed = this.log.committed;
    while (this.uncommittedConfIndexes.length > 0 && (this.uncommittedConfIndexes[0] as LogIndex) <= committed) {
      const index = this.uncommittedConfIndexes.shift() as LogIndex;
      const [entry] = this.log.slice(index, (index + 1) as LogIndex, Number.MAX_SAFE_INTEGER);
      if (entry?.type === 'ConfChange') this.activateConfChange(entry.index, entry.change);
    }

    if (this.role !== 'Leader') return;
    while (this.uncommitted.length > 0 && (this.uncommitted[0] as { index: LogIndex }).index <= committed) {
      this.uncommittedBytes -= (this.uncommitted.shift() as { bytes: number }).bytes;
    }
    if (this.pendingReadRequests.length > 0 && this.committedEntryInCurrentTerm()) {
      const queued = this.pendingReadRequests;
      this.pendingReadRequests = [];
      for (const r of queued) this.handleReadIndex(r.requestId, r.from);
    }
  }

  private activateConfChange(index: LogIndex, change: ConfChange): void {
    const outcome = applyConfChange(this.membership, change);
    // Every change was validated against this same configuration when proposed; a rejection here
    // can only be a bootstrap entry replayed over a restored snapshot, which is a no-op.
    if (!outcome.ok) return;
    this.membership = outcome.membership;
    this.membershipHistory.push({ index, membership: outcome.membership });
    if (this.role !== 'Leader') return;

    // A member added just now has had no chance to answer yet: do not count it as dead at once.
    for (const id of members(this.membership)) this.addProgress(id, true);
    for (const id of [...this.progress.keys()]) {
      if (!isMember(this.membership, id)) {
        this.progress.delete(id);
        this.snapshotElapsed.delete(id);
      }
    }
    if (this.leadTransferee !== NO_NODE && !isVoter(this.membership, this.leadTransferee)) this.leadTransferee = NO_NODE;
    // A smaller quorum may commit more right away; everyone must learn the new commit index.
    this.maybeCommit();
    this.appendsPending = true;
    // Our own removal committed: do not just step down (the others may not know it committed
    // yet and may need entries only we have); hand over instead.
    this.maybeHandOff();
  }

  /** Called by RawNode.advance once entries up to the last one handed out are durable. */
  onStable(): void {
    this.pruneMembershipHistory();
    if (this.role !== 'Leader') return;
    const self = this.progress.get(this.id);
    if (self === undefined) return;
    // Thesis §10.2.1: the leader counts its own copy only once it is durable.
    if (self.maybeUpdate(this.lastStableIndex()) && this.maybeCommit()) this.appendsPending = true;
  }

  private send(m: Outgoing): void {
    if (m.to === this.id) return;
    this.msgs.push({ ...m, from: this.id });
  }
}

/** A message before the sender stamps its id on it. */
type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'from'> : never) : never;

function validateOptions(o: RaftOptions): void {
  const problems: string[] = [];
  const positiveInt = (name: keyof RaftOptions): void => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) problems.push(`${name} must be a positive integer (got ${String(v)})`);
  };
  positiveInt('electionTick');
  positiveInt('heartbeatTick');
  positiveInt('maxMsgBytes');
  positiveInt('maxInflightMsgs');
  positiveInt('maxCommittedBytesPerReady');
  if (o.heartbeatTick >= o.electionTick) problems.push(`heartbeatTick (${o.heartbeatTick}) must be < electionTick (${o.electionTick})`);
  for (const name of ['maxInflightBytes', 'maxUncommittedBytes', 'learnerPromotionMaxLag', 'snapshotTimeoutTick'] as const) {
    if (!Number.isInteger(o[name]) || o[name] < 0) problems.push(`${name} must be a non-negative integer (got ${o[name]})`);
  }
  if (problems.length > 0) throw new RangeError(`invalid raft options: ${problems.join('; ')}`);
}
