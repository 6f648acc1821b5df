import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { RawNode, durableCommittedPrefix, isVoter, members, mustSync, sendsBeforePersist } from '../core/raft/index.ts';
import type { ConfChange, Entry, LogIndex, Membership, Message, MessageOf, NodeId, RaftOptions, Random, Ready, SnapshotMetadata, Status, Term } from '../core/raft/index.ts';
import { slicesStream } from '../core/state-machine.ts';
import type { ReplicatedStateMachine, SnapshotStream } from '../core/state-machine.ts';
import {
  ClusterChangeRejectedError,
  NoLeaderError,
  NotLeaderError,
  OverloadedError,
  ProposalLostError,
  ProposalTimeoutError,
  ReadNotConfirmedError,
  ShuttingDownError,
} from './errors.ts';
import { parseMemberAddress } from './member-address.ts';
import type { RaftMetrics } from './metrics/raft-metrics.ts';
import { attemptId, decodeProposal, encodeProposal, requestIdOf } from './proposal-envelope.ts';
import type { LogStore } from './storage/index.ts';
import type { SnapshotContents } from './storage/snapshot-files.ts';

/** What the driver needs from the network (PeerTransport, or a fake in tests). */
export interface MessageSink {
  send(m: Message): void;
  /**
   * Sends an InstallSnapshot whose data (empty in `m`) is pulled from `body` as the connection
   * takes it. The sink closes `body` when done or failed, and reports the outcome to the core.
   */
  sendSnapshot(m: MessageOf<'InstallSnapshot'>, body: SnapshotStream): void;
  setPeers(addresses: Readonly<Record<string, string>>): void;
}

export interface DriverOptions<R> {
  readonly id: NodeId;
  readonly store: LogStore;
  readonly stateMachine: ReplicatedStateMachine<R>;
  readonly transport: MessageSink;
  readonly random: Random;
  readonly log: Logger;
  readonly metrics?: RaftMetrics;
  /** Interval between Raft ticks. */
  readonly tickMs: number;
  readonly raft?: Partial<RaftOptions>;
  /** Founding members (id -> address) used only when the store is empty; absent in join mode. */
  readonly bootstrap?: Readonly<Record<string, string>>;
  /** Take a snapshot once this many entries were applied since the last one. */
  readonly snapshotThreshold: number;
  /** Entries kept behind a snapshot for followers that are slightly behind. */
  readonly snapshotKeepEntries: number;
  /** How long a proposal or read may wait before its outcome is reported unknown. */
  readonly requestTimeoutMs: number;
  /** Called once when the node cannot go on (storage failure, broken invariant). */
  readonly onFatal: (err: unknown) => void;
}

interface ProposalWaiter<R> {
  resolve: (result: R) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** Where the leader put it, when this node was the leader: lets us detect it was overwritten. */
  at?: { index: LogIndex; term: Term };
}

/** Ticks a read waits for its ReadIndex answer before asking (the possibly new leader) again. */
const READ_RETRY_TICKS = 3;

/** A strong read not yet in a ReadIndex round. */
interface QueuedRead {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  /** performance.now() by which it must be confirmed: the request timeout runs from its arrival. */
  readonly deadline: number;
  readonly timer: NodeJS.Timeout;
}

interface ReadWaiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** The leader answered with a read index; only apply is left to wait for. */
  confirmed: boolean;
  /** It went to another node, as a message that can be lost. */
  forwarded: boolean;
  /** When the request last went to the core (ms, performance.now()); -Infinity: ask again. */
  askedAt: number;
}

/**
 * The one loop that runs I/O around the Raft core (ARCHITECTURE §2). For each Ready, in order:
 * 1. send the leader's appends early if its term is already durable (thesis §10.2.1), and the
 *    other messages that acknowledge no entries (sendsBeforePersist);
 * 2. apply the committed entries this node already holds durably and serve confirmed reads;
 * 3. persist hard state, entries and snapshot with one fsync (group commit: everything the core
 *    accumulated while the previous Ready ran goes into this one);
 * 4. send the other messages (a vote or an append response never leaves before it is durable);
 * 5. restore the snapshot and apply the remaining committed entries, answering waiters;
 * 6. advance.
 * Inputs (ticks, messages, proposals) reach the core at any time between awaits; the core is
 * synchronous, so they interleave safely.
 */
export class Driver<R> {
  readonly id: NodeId;
  private readonly raw: RawNode;
  private readonly o: DriverOptions<R>;
  private readonly log: Logger;
  private tickTimer: NodeJS.Timeout | undefined;
  private looping = false;
  private loopAgain = false;
  private stopped = false;
  /** Waiters by attempt id (proposal-envelope.ts): each answered by its own log entry only. */
  private readonly proposals = new Map<string, ProposalWaiter<R>>();
  /** The attempt in flight for each request id, which a second propose of the request joins. */
  private readonly attempts = new Map<string, string>();
  /** Tags this process's attempts: unique across restarts, so an entry of an earlier run never answers. */
  private readonly attemptTag = randomUUID().slice(0, 8);
  private attemptCount = 0;
  private readonly proposalAt = new Map<number, string>();
  private readonly reads = new Map<string, ReadWaiter>();
  /** Strong reads waiting for the next ReadIndex round (see readBarrier), each with its deadline. */
  private readQueue: QueuedRead[] = [];
  /** ReadIndex rounds issued and not yet confirmed: at most one, except while a stop drains. */
  private readsUnconfirmed = 0;
  /** Reads confirmed by ReadIndex, waiting for apply to reach their index (ascending). */
  private servable: { index: number; requestId: string }[] = [];
  private readonly applyWaiters: { index: number; resolve: () => void }[] = [];
  private readonly appliedListeners: (() => void)[] = [];
  private peersOf: Membership | undefined;
  private leaderSeen: NodeId | '' = '';
  /** The snapshot being serialized and written, if any (one at a time). */
  private snapshotInFlight: Promise<void> | undefined;
  /** Snapshot files received and not yet installed, by "index/term" (see receiveSnapshot). */
  private readonly stagedSnapshots = new Map<string, SnapshotContents>();
  /** InstallSnapshots waiting for the state to be serialized (durable state machine), by peer. */
  private readonly snapshotsToSend = new Map<NodeId, MessageOf<'InstallSnapshot'>>();
  /** The serialization of the state for snapshotsToSend, if running. */
  private snapshotsSending: Promise<void> | undefined;

  private constructor(o: DriverOptions<R>, raw: RawNode) {
    this.o = o;
    this.id = o.id;
    this.raw = raw;
    this.log = o.log;
  }

  /** Restores the state machine from the store's snapshot and builds the core on the stored log. */
  static open<R>(o: DriverOptions<R>): Driver<R> {
    const snap = o.store.snapshot();
    // A durable state machine may already be at or past the snapshot; otherwise start from it.
    if (snap.metadata.index > o.stateMachine.appliedIndex) {
      if (o.store.snapshotDataBytes() === 0 && o.stateMachine.makeDurable !== undefined) {
        // The log was compacted behind state the state machine had reported synced, and it is gone.
        throw new Error(
          `the state machine is at index ${o.stateMachine.appliedIndex}, behind the snapshot at ${snap.metadata.index}, whose state it had stored and synced: ` +
            'its files were lost or replaced. Remove this member, wipe its data directory and add it again (docs/operations.md)',
        );
      }
      o.stateMachine.restoreSlices(snap.metadata.index, o.store.snapshotData());
    }
    const raw = new RawNode({ id: o.id, storage: o.store, random: o.random, applied: snap.metadata.index, options: o.raft });
    const driver = new Driver(o, raw);
    const empty = o.store.lastIndex() === 0 && o.store.initialState().hardState.term === 0;
    if (empty && o.bootstrap !== undefined) {
      const voters = Object.keys(o.bootstrap) as NodeId[];
      if (!voters.includes(o.id)) throw new Error(`bootstrap members ${voters.join(',')} do not include this node (${o.id})`);
      raw.bootstrap(voters, o.bootstrap);
      o.log.info({ members: voters }, 'bootstrapping a new cluster');
    } else if (empty) {
      o.log.info('joining: waiting for the leader to add this node');
    } else {
      const hs = o.store.initialState().hardState;
      o.log.info({ term: hs.term, commit: hs.commit, lastIndex: o.store.lastIndex(), snapshotIndex: snap.metadata.index }, 'resuming from disk');
    }
    driver.syncPeers();
    return driver;
  }

  start(): void {
    this.tickTimer = setInterval(() => {
      this.guard(() => {
        this.raw.tick();
        this.retryReads();
      });
      this.kick();
    }, this.o.tickMs);
    this.kick();
  }

  /** Stops ticking and processing; fails every waiter. Does not close the store. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.tickTimer);
    while (this.looping) await new Promise((r) => setTimeout(r, 5));
    await this.snapshotInFlight?.catch(() => undefined);
    await this.snapshotsSending;
    for (const [id, w] of this.proposals) {
      clearTimeout(w.timer);
      w.reject(new ShuttingDownError());
      this.proposals.delete(id);
    }
    this.attempts.clear();
    for (const [id, w] of this.reads) {
      clearTimeout(w.timer);
      w.reject(new ShuttingDownError());
      this.reads.delete(id);
    }
    this.readsUnconfirmed = 0;
    for (const r of this.readQueue.splice(0)) {
      clearTimeout(r.timer);
      r.reject(new ShuttingDownError());
    }
  }

  // ------------------------------------------------------------------ inputs

  /** A message from a peer (called by the transport). */
  receive(m: Message): void {
    if (this.stopped) return;
    this.guard(() => {
      this.raw.step(m);
    });
    this.kick();
  }

  /**
   * An InstallSnapshot whose data (empty in `m`) arrived as a completed file: the store takes the
   * file over if the core installs the snapshot.
   */
  receiveSnapshot(m: Message, file: SnapshotContents): void {
    if (this.stopped) return;
    const { index, term } = file.metadata;
    this.stagedSnapshots.set(`${index}/${term}`, file);
    this.receive(m);
    // A snapshot the core turned down (stale by the time it arrived) is never installed.
    this.dropStagedSnapshots(Math.max(this.o.stateMachine.appliedIndex, this.o.store.snapshot().metadata.index) as LogIndex);
  }

  reportUnreachable(peer: NodeId): void {
    this.raw.reportUnreachable(peer);
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    this.raw.reportSnapshot(peer, ok);
    this.kick();
  }

  /**
   * Replicates `command` and resolves with the state machine's result once this node applied it.
   * On a follower the proposal is forwarded to the leader. `requestId` makes retries idempotent.
   * Rejects with NoLeaderError / NotLeaderError / OverloadedError (nothing happened: retry),
   * ProposalLostError (did not commit: retry) or ProposalTimeoutError (unknown: retry same id).
   */
  propose(command: Uint8Array, requestId: string = randomUUID()): Promise<R> {
    if (this.stopped) return Promise.reject(new ShuttingDownError());
    const inFlight = this.attempts.get(requestId);
    const existing = inFlight === undefined ? undefined : this.proposals.get(inFlight);
    if (existing !== undefined) {
      // The same request is already in flight here: share its outcome.
      return new Promise<R>((resolve, reject) => {
        const prevResolve = existing.resolve;
        const prevReject = existing.reject;
        existing.resolve = (r) => {
          prevResolve(r);
          resolve(r);
        };
        existing.reject = (e) => {
          prevReject(e);
          reject(e);
        };
      });
    }
    // A new attempt: after a timeout the first may still be in the log, but only this one's entry
    // answers the caller (a retry must not get the first attempt's refusal while its own entry,
    // applied later, succeeds).
    const attempt = attemptId(requestId, `${this.attemptTag}.${String(++this.attemptCount)}`);
    const res = this.raw.propose(encodeProposal(attempt, command));
    if (!res.ok) {
      this.o.metrics?.proposalsFailed.inc({ reason: res.reason });
      switch (res.reason) {
        case 'NoLeader':
          return Promise.reject(new NoLeaderError());
        case 'NotLeader':
          return Promise.reject(new NotLeaderError(res.leaderHint));
        default:
          return Promise.reject(new OverloadedError(res.reason));
      }
    }
    const promise = new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.forget(attempt);
        this.o.metrics?.proposalsFailed.inc({ reason: 'Timeout' });
        this.updatePending();
        reject(new ProposalTimeoutError(`request ${requestId} was not seen applied within ${this.o.requestTimeoutMs} ms; its outcome is unknown`));
      }, this.o.requestTimeoutMs);
      const waiter: ProposalWaiter<R> = { resolve, reject, timer };
      if (res.forwardedTo === undefined) {
        waiter.at = { index: res.index, term: res.term };
        this.proposalAt.set(res.index, attempt);
      }
      this.proposals.set(attempt, waiter);
      this.attempts.set(requestId, attempt);
    });
    this.updatePending();
    this.kick();
    return promise;
  }

  /**
   * A linearizable read barrier (thesis §6.4): resolves once this node's state machine reflects
   * every write acknowledged before the call. Works on followers (the leader confirms the index).
   *
   * Reads are batched as etcd does: one ReadIndex round (a heartbeat round on the leader) serves
   * every read queued before the round was issued, and a read only ever joins a round issued
   * after it arrived, so the index it waits for is at least the commit index at its arrival.
   * While a round is unconfirmed, new reads queue for the next one.
   */
  readBarrier(): Promise<void> {
    if (this.stopped) return Promise.reject(new ShuttingDownError());
    const promise = new Promise<void>((resolve, reject) => {
      const read: QueuedRead = {
        resolve,
        reject,
        deadline: performance.now() + this.o.requestTimeoutMs,
        // Still queued at its deadline (the round before it never confirmed): give up on it alone.
        timer: setTimeout(() => {
          const at = this.readQueue.indexOf(read);
          if (at < 0) return;
          this.readQueue.splice(at, 1);
          reject(new ReadNotConfirmedError(`read not confirmed within ${String(this.o.requestTimeoutMs)} ms`));
        }, this.o.requestTimeoutMs),
      };
      this.readQueue.push(read);
    });
    this.issueReads();
    return promise;
  }

  /** Sends one ReadIndex request for every queued read, unless a round is still unconfirmed. */
  private issueReads(): void {
    if (this.readQueue.length === 0 || this.readsUnconfirmed > 0 || this.stopped) return;
    const batch = this.readQueue;
    this.readQueue = [];
    for (const r of batch) clearTimeout(r.timer);
    const requestId = randomUUID();
    const res = this.raw.readIndex(requestId);
    if (!res.ok) {
      for (const r of batch) r.reject(new NoLeaderError());
      return;
    }
    // The round answers for its oldest read, whose time runs from when it arrived.
    let deadline = Infinity;
    for (const r of batch) deadline = Math.min(deadline, r.deadline);
    const timer = setTimeout(() => {
      const w = this.reads.get(requestId);
      if (w === undefined) return;
      this.reads.delete(requestId);
      const err = new ReadNotConfirmedError(`read not confirmed within ${String(this.o.requestTimeoutMs)} ms`);
      w.reject(err);
      if (!w.confirmed) {
        this.readsUnconfirmed--;
        this.issueReads();
      }
    }, Math.max(0, deadline - performance.now()));
    this.reads.set(requestId, {
      resolve: () => {
        for (const r of batch) r.resolve();
      },
      reject: (err) => {
        for (const r of batch) r.reject(err);
      },
      timer,
      confirmed: false,
      forwarded: res.forwardedTo !== undefined,
      askedAt: performance.now(),
    });
    this.readsUnconfirmed++;
    this.o.metrics?.readIndexRounds.inc();
    this.kick();
  }

  /**
   * Asks again for reads not confirmed after a few ticks (called on each tick). A forwarded
   * ReadIndex is a single message with no retransmission of its own: the transport drops it when
   * the connection to the leader is down or being redialled, and a leader that lost office answers
   * with a rejection. A read asked of this node as leader is lost only with its leadership, which
   * the core reports. The leader ignores a request it is already confirming (ReadOnlyQueue), so
   * asking twice is harmless; with no leader known right now, the next tick tries again.
   */
  private retryReads(): void {
    if (this.reads.size === 0) return;
    const now = performance.now();
    const after = this.o.tickMs * READ_RETRY_TICKS;
    for (const [id, w] of this.reads) {
      if (w.confirmed || (!w.forwarded && w.askedAt !== -Infinity) || now - w.askedAt < after) continue;
      const res = this.raw.readIndex(id);
      if (!res.ok) continue;
      w.forwarded = res.forwardedTo !== undefined;
      w.askedAt = now;
    }
  }

  /**
   * Calls `listener` after every round that may have applied entries (and after a snapshot was
   * restored). It runs inside the loop: it must only schedule work, never do it.
   */
  onApplied(listener: () => void): void {
    this.appliedListeners.push(listener);
  }

  /** Resolves once the state machine applied `index` (used after a leader-local decision). */
  waitApplied(index: number): Promise<void> {
    if (this.o.stateMachine.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve) => this.applyWaiters.push({ index, resolve }));
  }

  /** Proposes a membership change on the leader and resolves once it is in effect. */
  async changeMembership(change: ConfChange): Promise<LogIndex> {
    if (this.stopped) throw new ShuttingDownError();
    const res = this.raw.proposeConfChange(change);
    if (!res.ok) {
      if (res.reason === 'NoLeader') throw new NoLeaderError();
      if (res.reason === 'NotLeader') throw new NotLeaderError(res.leaderHint);
      throw new ClusterChangeRejectedError(res.reason, 'detail' in res ? res.detail : undefined);
    }
    if (res.forwardedTo !== undefined) throw new NotLeaderError(res.forwardedTo);
    this.kick();
    const index = res.index;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.waitApplied(index),
        new Promise((_, reject) => {
          timer = setTimeout(() => {
            reject(new ProposalTimeoutError(`membership change at ${index} not applied within ${this.o.requestTimeoutMs} ms; its outcome is unknown`));
          }, this.o.requestTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return index;
  }

  /** Transfers leadership to `to`, or to the most caught-up voter when not given. */
  transferLeadership(to?: NodeId): NodeId {
    const status = this.raw.status();
    let target = to;
    if (target === undefined) {
      if (status.role !== 'Leader') throw new NotLeaderError(status.leaderId || undefined);
      const candidates = status.progress.filter((p) => p.id !== this.id && isVoter(status.membership, p.id)).sort((a, b) => b.match - a.match);
      target = candidates[0]?.id;
      if (target === undefined) throw new ClusterChangeRejectedError('InvalidTransferee', 'no other voter to hand leadership to');
    }
    const res = this.raw.transferLeadership(target);
    if (!res.ok) {
      if (res.reason === 'NoLeader') throw new NoLeaderError();
      throw new ClusterChangeRejectedError(res.reason, res.detail);
    }
    this.kick();
    return target;
  }

  /** Takes a snapshot now (admin trigger); resolves with its index. */
  async snapshotNow(): Promise<number> {
    // Wait out a snapshot already in flight: it may be older than what is applied now.
    while (this.snapshotInFlight !== undefined) await this.snapshotInFlight;
    await this.startSnapshot();
    return this.o.store.snapshot().metadata.index;
  }

  status(): Status {
    return this.raw.status();
  }

  isLeader(): boolean {
    return this.raw.raft.role === 'Leader';
  }

  leaderId(): NodeId | undefined {
    const id = this.raw.raft.leaderId;
    return id === '' ? undefined : id;
  }

  /** A leader's or member's advertised addresses. */
  addressOf(id: NodeId): ReturnType<typeof parseMemberAddress> | undefined {
    const a = this.raw.raft.membership.addresses[id];
    return a === undefined ? undefined : parseMemberAddress(a);
  }

  // ------------------------------------------------------------------ the loop

  private kick(): void {
    if (this.stopped) return;
    if (this.looping) {
      this.loopAgain = true;
      return;
    }
    this.looping = true;
    this.loop()
      .catch((err: unknown) => {
        this.fatal(err);
      })
      .finally(() => {
        this.looping = false;
      });
  }

  private async loop(): Promise<void> {
    do {
      this.loopAgain = false;
      while (!this.stopped && this.raw.hasReady()) {
        if (!(await this.gatherInputs())) break;
        const rd = this.raw.ready();
        await this.handleReady(rd);
        this.raw.advance(rd);
        this.afterAdvance();
      }
      if (!this.stopped) this.maybeSnapshot();
    } while (this.moreToDo());
  }

  /**
   * Lets the requests and peer messages that already arrived reach the core before it hands out
   * a Ready: right after a Ready the core often holds a single new proposal, and persisting it
   * alone would hold the ones arriving meanwhile for a whole fsync (a group commit of one).
   * Returns false if the driver stopped meanwhile.
   */
  private async gatherInputs(): Promise<boolean> {
    await yieldToEventLoop();
    return !this.stopped;
  }

  /** Inputs that arrived while the loop was busy asked for another round (set by kick()). */
  private moreToDo(): boolean {
    return this.loopAgain && !this.stopped;
  }

  private async handleReady(rd: Ready): Promise<void> {
    const started = performance.now();
    // The store's hard state is the last persisted one (only its commit index may be unsynced).
    const durable = this.o.store.initialState().hardState;
    const held: Message[] = [];
    for (const m of rd.messages) {
      // A leader's appends, and messages that acknowledge no entries, go while the fsync runs.
      if (sendsBeforePersist(m, durable.term)) this.send(m);
      else held.push(m);
    }
    // Committed entries already durable here need not wait for this Ready's fsync: apply them
    // first, so a write is acknowledged one fsync sooner.
    const early = durableCommittedPrefix(rd, this.o.store);
    this.applyEntries(rd.committed.slice(0, early));
    // Confirmed reads need no fsync either: the index each waits for is committed, and the ones
    // this node has applied are served now rather than after this Ready's fsync.
    for (const rs of rd.readStates) {
      const w = this.reads.get(rs.requestId);
      if (w === undefined || w.confirmed) continue; // an answer to a retry that came too late
      w.confirmed = true;
      this.readsUnconfirmed--;
      this.servable.push({ index: rs.index, requestId: rs.requestId });
    }
    this.serveConfirmedReads();
    this.issueReads();
    if (rd.hardState !== undefined || rd.entries.length > 0 || rd.snapshot !== undefined) {
      const snapshotFile = rd.snapshot === undefined ? undefined : this.takeStagedSnapshot(rd.snapshot.metadata);
      await this.o.store.persist({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, snapshotFile, sync: mustSync(rd, durable) });
    }
    const persisted = performance.now();
    this.syncPeers();
    for (const m of held) this.send(m);

    if (rd.snapshot) {
      // A durable state machine may still be writing earlier batches: they land before the restore.
      await this.o.stateMachine.makeDurable?.();
      // From the store, which has it now (a disk store streams it from the snapshot's file).
      this.o.stateMachine.restoreSlices(rd.snapshot.metadata.index, this.o.store.snapshotData());
      this.o.metrics?.snapshots.inc({ kind: 'installed' });
      this.log.info({ index: rd.snapshot.metadata.index, term: rd.snapshot.metadata.term }, 'installed snapshot from leader');
    }
    this.applyEntries(rd.committed.slice(early));
    // Leadership changed before the read was confirmed: retryReads() asks the next leader. Reads
    // are idempotent, so the client need not see the hiccup unless it outlasts the request timeout.
    for (const id of rd.abortedReads) {
      const w = this.reads.get(id);
      if (w !== undefined && !w.confirmed) w.askedAt = -Infinity;
    }
    if (rd.softState) this.onSoftState(rd.softState.role, rd.softState.leaderId);
    if (this.log.isLevelEnabled('debug')) {
      const done = performance.now();
      this.log.debug(
        // startedMs (since the process started, sub-millisecond) lines Readies up in a timeline.
        { startedMs: +started.toFixed(2), entries: rd.entries.length, committed: rd.committed.length, messages: rd.messages.length, persistMs: +(persisted - started).toFixed(2), applyMs: +(done - persisted).toFixed(2) },
        'ready handled',
      );
    }
  }

  /**
   * Applies entries as one state machine batch. Waiters are answered only after the batch is
   * committed, so a caller that reads after its write was acknowledged sees it.
   */
  private applyEntries(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const answers: (() => void)[] = [];
    this.o.stateMachine.beginBatch();
    for (const e of entries) this.apply(e, answers);
    this.o.stateMachine.commitBatch();
    for (const answer of answers) answer();
  }

  private apply(e: Entry, answers: (() => void)[]): void {
    if (e.index <= this.o.stateMachine.appliedIndex) return; // covered by a restored snapshot
    const ours = this.proposalAt.get(e.index);
    if (ours !== undefined) {
      this.proposalAt.delete(e.index);
      const w = this.proposals.get(ours);
      if (w?.at !== undefined && w.at.term !== e.term) {
        // Another leader's entry took our slot: ours never committed.
        clearTimeout(w.timer);
        this.forget(ours);
        this.o.metrics?.proposalsFailed.inc({ reason: 'Lost' });
        answers.push(() => {
          w.reject(new ProposalLostError(`request ${requestIdOf(ours)} was overwritten by a new leader before it committed; retry`));
        });
      }
    }
    const proposal = e.type === 'Normal' && e.data.length > 0 ? decodeProposal(e.data) : undefined;
    if (proposal === undefined) {
      this.o.stateMachine.skip(e.index);
      return;
    }
    const result = this.o.stateMachine.apply(e.index, requestIdOf(proposal.requestId), proposal.command);
    const w = this.proposals.get(proposal.requestId);
    if (w !== undefined) {
      clearTimeout(w.timer);
      this.forget(proposal.requestId);
      this.o.metrics?.proposalsCommitted.inc();
      answers.push(() => {
        w.resolve(result);
      });
    }
  }

  private afterAdvance(): void {
    // The round in flight may have been confirmed by this Ready: the queued reads go next.
    this.issueReads();
    const applied = this.o.stateMachine.appliedIndex;
    for (const listener of this.appliedListeners) listener();
    this.serveConfirmedReads();
    for (let i = this.applyWaiters.length - 1; i >= 0; i--) {
      const w = this.applyWaiters[i] as { index: number; resolve: () => void };
      if (w.index <= applied) {
        this.applyWaiters.splice(i, 1);
        w.resolve();
      }
    }
    const m = this.o.metrics;
    if (m) {
      const r = this.raw.raft;
      m.term.set(r.term);
      m.commitIndex.set(r.log.committed);
      m.appliedIndex.set(applied);
      m.hasLeader.set(r.leaderId === '' ? 0 : 1);
      m.storeBytes.set(this.o.store.sizeBytes());
    }
    this.updatePending();
  }

  /** Reads confirmed by ReadIndex are served once apply reached their index. */
  private serveConfirmedReads(): void {
    if (this.servable.length === 0) return;
    const applied = this.o.stateMachine.appliedIndex;
    const ready = this.servable.filter((r) => r.index <= applied);
    if (ready.length === 0) return;
    this.servable = this.servable.filter((r) => r.index > applied);
    for (const r of ready) {
      const w = this.reads.get(r.requestId);
      if (w === undefined) continue;
      clearTimeout(w.timer);
      this.reads.delete(r.requestId);
      w.resolve();
    }
  }

  private onSoftState(role: string, leaderId: NodeId): void {
    this.o.metrics?.setRole(role);
    if (leaderId !== this.leaderSeen) {
      if (leaderId !== '') this.o.metrics?.leaderChanges.inc();
      this.log.info({ term: this.raw.raft.term, role, leader: leaderId || null }, 'leader changed');
      this.leaderSeen = leaderId;
    } else {
      this.log.info({ term: this.raw.raft.term, role }, 'role changed');
    }
  }

  /** Points the transport at the members of the configuration in effect. */
  private syncPeers(): void {
    // Configurations are immutable and replaced on every change: compare by reference.
    const m = this.raw.raft.membership;
    if (m === this.peersOf) return;
    this.peersOf = m;
    const peers: Record<string, string> = {};
    for (const id of members(m)) {
      const address = m.addresses[id];
      if (address !== undefined && id !== this.id) peers[id] = parseMemberAddress(address).peer;
    }
    this.o.transport.setPeers(peers);
    this.log.info({ voters: m.voters, learners: m.learners }, 'membership in effect');
  }

  /** Starts a snapshot in the background once enough entries were applied since the last one. */
  private maybeSnapshot(): void {
    if (this.snapshotInFlight !== undefined) return;
    const applied = this.o.stateMachine.appliedIndex;
    if (applied - this.o.store.snapshot().metadata.index < this.o.snapshotThreshold) return;
    this.startSnapshot().catch((err: unknown) => {
      this.fatal(err);
    });
  }

  private startSnapshot(): Promise<void> {
    const run = this.takeSnapshot().finally(() => {
      this.snapshotInFlight = undefined;
    });
    this.snapshotInFlight = run;
    return run;
  }

  private async takeSnapshot(): Promise<void> {
    if (this.o.stateMachine.makeDurable !== undefined) {
      await this.compactBehindDurableState(this.o.stateMachine.makeDurable);
      return;
    }
    const index = this.o.stateMachine.appliedIndex;
    if (index <= this.o.store.snapshot().metadata.index) return;
    // The view is frozen at `index` now; the loop goes on applying, persisting and answering
    // while it is serialized in slices and written.
    const view = this.o.stateMachine.snapshot();
    const membership = this.raw.membershipAt(index);
    const compactTo = Math.max(0, index - this.o.snapshotKeepEntries) as LogIndex;
    const data = await view.serialize(yieldToEventLoop);
    // A snapshot from the leader may have been installed meanwhile; it supersedes this one.
    if (this.stopped || index <= this.o.store.snapshot().metadata.index) return;
    const saved = await this.o.store.saveSnapshot(index, membership, data, compactTo);
    if (saved === undefined) return;
    this.o.metrics?.snapshots.inc({ kind: 'created' });
    this.log.info({ index, bytes: data.length, compactTo }, 'snapshot taken');
  }

  /**
   * Log compaction for a state machine that keeps its own state on disk (§7): once the state is
   * synced through index i, the log up to i is no longer needed to rebuild it after a crash, so
   * the snapshot records only i, its term and membership. Its data stays empty; send()
   * serializes the state when a follower needs it.
   */
  private async compactBehindDurableState(makeDurable: () => Promise<LogIndex>): Promise<void> {
    const started = performance.now();
    const index = await makeDurable();
    const synced = performance.now();
    // A snapshot from the leader may have been installed meanwhile; it supersedes this one.
    if (this.stopped || index <= this.o.store.snapshot().metadata.index) return;
    const membership = this.raw.membershipAt(index);
    const compactTo = Math.max(0, index - this.o.snapshotKeepEntries) as LogIndex;
    const saved = await this.o.store.saveSnapshot(index, membership, NO_DATA, compactTo);
    if (saved === undefined) return;
    this.o.metrics?.snapshots.inc({ kind: 'created' });
    const syncMs = +(synced - started).toFixed(1);
    this.log.info({ index, compactTo, syncMs, saveMs: +(performance.now() - synced).toFixed(1) }, 'log compacted behind the synced state');
  }

  /**
   * Hands `m` to the transport. An InstallSnapshot's data is streamed: the state itself when the
   * state machine keeps it, else the snapshot as the store keeps it (a disk store reads it from
   * its file as it goes). The core built `m` from the store's snapshot in this same turn.
   */
  private send(m: Message): void {
    if (m.type !== 'InstallSnapshot') {
      this.o.transport.send(m);
    } else if (this.o.stateMachine.makeDurable !== undefined) {
      this.snapshotsToSend.set(m.to, m); // the newest request per peer
      this.snapshotsSending ??= this.sendStateSnapshots().finally(() => {
        this.snapshotsSending = undefined;
      });
    } else {
      this.o.transport.sendSnapshot({ ...m, snapshot: { ...m.snapshot, data: NO_DATA } }, slicesStream(this.o.store.snapshotData()));
    }
  }

  /**
   * Sends the state machine as it is now, at applied index j, to every peer waiting for a
   * snapshot, as a snapshot at j with j's term and membership. The core asked for its compaction
   * point i <= j; j is committed, so the follower installs it as any snapshot and answers with j,
   * which the leader's progress accepts (Snapshot state ends once the match reaches the log). Old
   * and new followers alike get data that matches its metadata.
   *
   * Each peer gets its own view, streamed as its connection takes it (as etcd streams its bolt
   * file): the leader holds a slice at a time, not the whole state, however large it is.
   */
  private async sendStateSnapshots(): Promise<void> {
    // Let the Ready that asked for it finish first: the state is consistent between Readies.
    await yieldToEventLoop();
    if (this.stopped || this.snapshotsToSend.size === 0) return;
    const index = this.o.stateMachine.appliedIndex;
    const term = this.raw.raft.log.term(index);
    const requests = [...this.snapshotsToSend.values()];
    this.snapshotsToSend.clear();
    if (term === undefined || index < this.o.store.snapshot().metadata.index) {
      // Cannot happen on a leader (it applies only entries of its own log); let the core retry.
      for (const m of requests) this.raw.reportSnapshot(m.to, false);
      this.log.warn({ index }, 'state snapshot not sent: the applied index is outside the log');
      this.kick();
      return;
    }
    const membership = this.raw.membershipAt(index);
    // Views taken in the same turn as the index above: each is at that index.
    for (const m of requests) this.o.transport.sendSnapshot({ ...m, snapshot: { metadata: { index, term, membership }, data: NO_DATA } }, this.o.stateMachine.snapshot().stream());
    this.log.info({ index, to: requests.map((m) => m.to) }, 'streaming state snapshot');
    this.kick();
  }

  /** The received file of the snapshot at `at`, if any, for the store to take over. */
  private takeStagedSnapshot(at: SnapshotMetadata): SnapshotContents | undefined {
    const key = `${at.index}/${at.term}`;
    const file = this.stagedSnapshots.get(key);
    this.stagedSnapshots.delete(key);
    this.dropStagedSnapshots(at.index);
    return file;
  }

  /**
   * Removes received snapshot files at or below `index`: the core never installs a snapshot that
   * is not past its commit index, which is at least the applied index and the installed
   * snapshot's. Newer ones stay: their InstallSnapshot may be waiting in a Ready.
   */
  private dropStagedSnapshots(index: LogIndex): void {
    for (const [key, staged] of this.stagedSnapshots) {
      if (staged.metadata.index > index) continue;
      this.stagedSnapshots.delete(key);
      void rm(staged.file, { force: true });
    }
  }

  /** Drops an attempt's waiter, and its request's entry in `attempts` if it is still this attempt. */
  private forget(attempt: string): void {
    this.proposals.delete(attempt);
    const requestId = requestIdOf(attempt);
    if (this.attempts.get(requestId) === attempt) this.attempts.delete(requestId);
  }

  private updatePending(): void {
    this.o.metrics?.proposalsPending.set(this.proposals.size);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fatal(err);
    }
  }

  private fatal(err: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tickTimer);
    this.o.onFatal(err);
  }
}

/** The data of a snapshot whose state the state machine keeps itself. */
const NO_DATA = new Uint8Array(0);

/** Lets queued I/O callbacks (peer messages, client requests, fsync completions) run. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
