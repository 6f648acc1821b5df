import { makeMembership } from './membership.ts';
import type { ProgressState } from './progress.ts';
import type { RaftConfig, ReadIndexResult, TransferResult } from './raft.ts';
import { Raft } from './raft.ts';
import type { ConfChange, Entry, HardState, LogIndex, Membership, Message, NodeId, ProposalResult, Ready, Role, SoftState, Term } from './types.ts';
import { NO_NODE } from './types.ts';

export interface PeerStatus {
  readonly id: NodeId;
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: ProgressState;
  readonly recentActive: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId;
  readonly leaderId: NodeId;
  readonly commitIndex: LogIndex;
  readonly appliedIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly firstIndex: LogIndex;
  readonly membership: Membership;
  readonly leadTransferee: NodeId;
  /** Leader only: replication state of every member (including itself). */
  readonly progress: readonly PeerStatus[];
}

/**
 * The core's whole contract with the outside world (etcd's RawNode). Inputs: tick, step,
 * propose, proposeConfChange, readIndex, transferLeadership. Output: ready() / advance().
 *
 * Call order: ready() returns a batch; the driver persists, sends, applies (see Ready) and then
 * calls advance(thatReady). Inputs may be given between ready() and advance(); their effects come
 * out in the next Ready. Only one Ready is outstanding at a time.
 */
export class RawNode {
  readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private outstanding = false;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = { role: this.raft.role, leaderId: this.raft.leaderId };
    this.prevHardState = config.storage.initialState().hardState;
  }

  /**
   * Initialises an empty log with the founding membership: entry 1 (term 1) records it and is
   * committed by construction, exactly as on every other founding member. Its effects are in the
   * next Ready like anything else. Precondition: the storage is empty and no Ready was taken.
   * A node started to join an existing cluster never calls this: it waits for the leader.
   */
  bootstrap(voters: readonly NodeId[], addresses: Readonly<Record<string, string>> = {}): void {
    const raft = this.raft;
    if (raft.log.lastIndex() !== 0 || raft.term !== 0) throw new Error('raft: bootstrap needs an empty log');
    if (voters.length === 0) throw new RangeError('raft: bootstrap needs at least one voter');
    const membership = makeMembership(voters, [], addresses);
    const entry: Entry = { type: 'ConfChange', term: 1 as Term, index: 1 as LogIndex, change: { type: 'Bootstrap', membership } };
    raft.becomeFollower(1 as Term, NO_NODE);
    // Goes through the follower path so the configuration entry is tracked and activated.
    raft.step({ type: 'AppendEntries', from: NO_NODE, to: raft.id, term: 1 as Term, prevLogIndex: 0 as LogIndex, prevLogTerm: 0 as Term, entries: [entry], leaderCommit: 1 as LogIndex });
    // That "append" came from nobody: forget the leader and drop the response addressed to no one.
    raft.becomeFollower(1 as Term, NO_NODE);
    raft.msgs = raft.msgs.filter((m) => m.to !== NO_NODE);
  }

  tick(): void {
    this.raft.tick();
  }

  step(m: Message): void {
    this.raft.step(m);
  }

  /** Proposes one entry. See ProposalResult for what acceptance means. */
  propose(data: Uint8Array): ProposalResult {
    return this.raft.propose([data]);
  }

  /** Proposes entries that land consecutively from the returned index, in one batch. */
  proposeBatch(data: readonly Uint8Array[]): ProposalResult {
    return this.raft.propose(data);
  }

  proposeConfChange(change: ConfChange): ProposalResult {
    return this.raft.proposeConfChange(change);
  }

  readIndex(requestId: string): ReadIndexResult {
    return this.raft.readIndex(requestId);
  }

  transferLeadership(to: NodeId): TransferResult {
    return this.raft.transferLeadership(to);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  /** The configuration in effect at `index`, for the metadata of a snapshot taken there. */
  membershipAt(index: LogIndex): Membership {
    return this.raft.membershipAt(index);
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.raft;
    r.flushAppends();
    const hs = r.hardState();
    return (
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.abortedReads.length > 0 ||
      r.log.unstable.entries.length > 0 ||
      r.log.unstable.snapshot !== undefined ||
      r.log.hasNextCommittedEntries() ||
      !sameHardState(hs, this.prevHardState) ||
      r.role !== this.prevSoftState.role ||
      r.leaderId !== this.prevSoftState.leaderId
    );
  }

  /** Takes the pending batch of work. Precondition: the previous Ready was advanced. */
  ready(): Ready {
    if (this.outstanding) throw new Error('raft: ready() called before advance() of the previous Ready');
    const r = this.raft;
    r.flushAppends();
    const hs = r.hardState();
    const soft: SoftState = { role: r.role, leaderId: r.leaderId };
    const rd: Ready = {
      softState: soft.role !== this.prevSoftState.role || soft.leaderId !== this.prevSoftState.leaderId ? soft : undefined,
      hardState: sameHardState(hs, this.prevHardState) ? undefined : hs,
      entries: [...r.log.unstable.entries],
      snapshot: r.log.unstable.snapshot,
      messages: r.msgs,
      committed: r.log.nextCommittedEntries(r.opts.maxCommittedBytesPerReady),
      readStates: r.readStates,
      abortedReads: r.abortedReads,
    };
    r.msgs = [];
    r.readStates = [];
    r.abortedReads = [];
    this.outstanding = true;
    return rd;
  }

  /** Acknowledges that `rd` was persisted, sent and applied. */
  advance(rd: Ready): void {
    if (!this.outstanding) throw new Error('raft: advance() without an outstanding Ready');
    this.outstanding = false;
    const r = this.raft;
    if (rd.softState) this.prevSoftState = rd.softState;
    if (rd.hardState) this.prevHardState = rd.hardState;
    if (rd.snapshot) {
      r.log.unstable.stableSnapTo(rd.snapshot.metadata.index);
      if (rd.snapshot.metadata.index > r.log.applied) r.log.applied = rd.snapshot.metadata.index;
    }
    const lastEntry = rd.entries.at(-1);
    if (lastEntry) r.log.unstable.stableTo(lastEntry.index, lastEntry.term);
    const lastCommitted = rd.committed.at(-1);
    if (lastCommitted) r.log.appliedTo(lastCommitted.index);
    r.onStable();
  }

  status(): Status {
    const r = this.raft;
    const progress: PeerStatus[] = [];
    if (r.role === 'Leader') {
      for (const [id, pr] of r.progress) progress.push({ id, match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive });
    }
    return {
      id: r.id,
      role: r.role,
      term: r.term,
      vote: r.vote,
      leaderId: r.leaderId,
      commitIndex: r.log.committed,
      appliedIndex: r.log.applied,
      lastIndex: r.log.lastIndex(),
      firstIndex: r.log.firstIndex(),
      membership: r.membership,
      leadTransferee: r.leadTransferee,
      progress,
    };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
