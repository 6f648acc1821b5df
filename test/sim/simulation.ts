/**
 * A deterministic simulator for the Raft core: N RawNodes in one process, virtual time, one seed.
 *
 * Every source of nondeterminism (election timeouts, network delay/drop/duplication/reordering,
 * partitions, crashes, client traffic, membership changes, transfers, snapshots) is drawn from
 * seeded streams, so a seed replays exactly. Durability is modelled: each node's MemoryStorage is
 * its disk; a Ready is written there only when its simulated fsync completes, and a crash throws
 * away the in-memory core together with whatever was not yet written.
 *
 * After every event the safety invariants are checked (see `check*` methods); the first violation
 * throws a SimulationViolation carrying the seed and the last events.
 */
import { RawNode, MemoryStorage, SeededRandom, durableCommittedPrefix, isMember, isVoter, mustSync, sendsBeforePersist } from '../../node/core/raft/index.ts';
import type { Entry, HardState, LogIndex, Message, NodeId, Ready, Term, RaftOptions } from '../../node/core/raft/index.ts';
import { EventStoreStateMachine, MemoryEventStorage, encodeCommand } from '../../node/core/eventstore/index.ts';
import type { AppendCommand, AppendOutcome, ExpectedVersion } from '../../node/core/eventstore/index.ts';
import { EventQueue } from './event-queue.ts';
import { isLinearizable, streamModel } from './linearizability.ts';
import type { Operation, StreamInput, StreamOutput } from './linearizability.ts';

export interface FaultProfile {
  /** Probability that a message is lost. */
  readonly drop: number;
  /** Probability that a message is delivered twice. */
  readonly duplicate: number;
  /** Network delay is uniform in [1, maxDelay] time units (a tick is 10); varying delay reorders. */
  readonly maxDelay: number;
  /** Per-tick probability of starting a (symmetric or one-way) partition. */
  readonly partition: number;
  /** Per-tick probability of crashing a node. */
  readonly crash: number;
  /** Per-tick probability of crashing the current leader (elections under churn: Figure 8 territory). */
  readonly leaderCrash: number;
  /** Per-tick probability of crashing every node at once (a power cut), all restarting from disk. */
  readonly crashAll: number;
  /** Per-tick probability of a client write / read. */
  readonly write: number;
  readonly read: number;
  /** Per-tick probability of a membership change / leadership transfer attempt. */
  readonly confChange: number;
  readonly transfer: number;
  /** Snapshot every this many applied entries (0 = never); compaction keeps up to `compactKeep` entries. */
  readonly snapshotEvery: number;
  readonly compactKeep: number;
  /** Max simulated fsync duration (time units). */
  readonly maxFsync: number;
}

export const defaultFaults: FaultProfile = Object.freeze({
  drop: 0.05,
  duplicate: 0.02,
  maxDelay: 30,
  partition: 0.004,
  crash: 0.002,
  leaderCrash: 0.002,
  crashAll: 0.0005,
  write: 0.3,
  read: 0.08,
  confChange: 0.01,
  transfer: 0.003,
  snapshotEvery: 40,
  compactKeep: 8,
  maxFsync: 12,
});

export interface SimulationOptions {
  readonly seed: number;
  /** Initial voters: 1, 3, 5 or 7. */
  readonly nodes: number;
  /** Events processed in the chaos phase. */
  readonly steps: number;
  readonly faults?: Partial<FaultProfile>;
  readonly raft?: Partial<RaftOptions>;
  /** Ticks allowed after healing for a leader to emerge and a write to commit. */
  readonly livenessTicks?: number;
  /** Keep this many trace lines for failure reports. */
  readonly traceLength?: number;
  /**
   * Replicate the event store: client writes become conditional appends to a few streams and
   * reads return a stream's version after ReadIndex. Checks that replicas at the same index have
   * the same store hash, and that each stream's history of appends and reads is linearizable.
   */
  readonly eventStore?: boolean;
  /**
   * Event-store mode: the share of appends sent through the HTTP route's early answer to certain
   * conflicts (default 0.5). Regression seeds recorded before that route existed replay with 0.
   */
  readonly earlyConflictShare?: number;
  /**
   * Event-store mode: clients re-send an append they have no answer to yet through another node
   * (as the TS client does after a timeout or a 504), with the same event ids and a new
   * timestamp, and a forwarded proposal may be delivered twice (default true). Every copy's
   * outcome must agree with the first applied. Regression seeds recorded before replay without.
   */
  readonly clientRetries?: boolean;
}

/** Event-store mode: a client re-sends an unanswered append after this many time units, and at most this often. */
const RETRY_AFTER = 15 * 10;
const RETRY_SPREAD = 30 * 10;
const MAX_APPEND_COPIES = 3;

/** Streams the event-store clients write to: few, so that expectations collide. */
const STREAMS = ['s0', 's1', 's2', 's3'];

export class SimulationViolation extends Error {
  override readonly name = 'SimulationViolation';
  readonly seed: number;
  readonly trace: readonly string[];
  constructor(seed: number, message: string, trace: readonly string[]) {
    super(message);
    this.seed = seed;
    this.trace = trace;
  }
}

const TICK = 10;
const enc = new TextEncoder();
const dec = new TextDecoder();

type SimEvent =
  | { kind: 'Tick'; node: NodeId }
  | { kind: 'Deliver'; msg: Message }
  | { kind: 'Fsync'; node: NodeId; incarnation: number }
  | { kind: 'Restart'; node: NodeId }
  | { kind: 'Heal' }
  | { kind: 'ClientRetry'; append: number }
  | { kind: 'Chaos' };

/** One client append, and the copies of it the client sent. */
interface AppendOp {
  readonly stream: string;
  /** The client's number for it, in event ids and request ids. */
  readonly index: number;
  readonly call: number;
  readonly input: StreamInput;
  readonly command: AppendCommand;
  copies: number;
  /** What the client was told, once told. */
  answer: StreamOutput | undefined;
  /** The outcome of the first copy any replica applied (all replicas apply copies in one order). */
  effect: AppendOutcome | undefined;
}

/** The replicated state machine of the simulation: a hash chain over applied entries. */
interface Fsm {
  applied: number;
  hash: number;
}

interface SimNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  raw: RawNode | undefined;
  fsm: Fsm;
  /** Event-store mode: the replicated store (volatile here: rebuilt from snapshot + log). */
  events: EventStoreStateMachine | undefined;
  incarnation: number;
  /** The Ready being fsynced, and the messages that must wait for it. */
  pending: { rd: Ready; held: Message[] } | undefined;
  /** Durable term, to check terms never decrease across persists and restarts. */
  durableTerm: number;
  /**
   * The hard state as of the last synced write. A commit-only Ready is written without fsync
   * (the driver's MustSync rule), so a crash may revert the stored hard state to this.
   */
  syncedHardState: HardState | undefined;
  /** How many of the outstanding Ready's committed entries were applied before its fsync. */
  appliedEarly: number;
  /** Highest commit index we already registered as committed. */
  commitSeen: number;
  snapshotAt: number;
  /** Writes proposed through this node that it has not yet seen applied: data -> issued time. */
  readonly writes: Map<string, number>;
  /** ReadIndex requests issued here: requestId -> index that must be covered. */
  readonly reads: Map<string, number>;
  /** Reads answered with an index, waiting for apply to reach it. */
  readonly servable: { requestId: string; index: number }[];
  removedAt: number | undefined;
  /** Seen in a leader's committed configuration at least once. */
  wasMember: boolean;
}

export interface SimulationStats {
  steps: number;
  ticks: number;
  leadersElected: number;
  maxTerm: number;
  writesAcked: number;
  readsServed: number;
  readsAborted: number;
  confChanges: number;
  transfers: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  crashes: number;
  messagesDelivered: number;
  messagesDropped: number;
  commitIndex: number;
  /** Event-store mode: operations checked for linearizability. */
  streamOperations: number;
  /** Event-store mode: appends answered as certain conflicts without a log entry. */
  earlyConflicts: number;
  /** Event-store mode: copies of appends re-sent by clients through another node. */
  appendRetries: number;
  /** Event-store mode: refused appends the replicas remembered at the end of the run. */
  refusalsRemembered: number;
}

export class Simulation {
  readonly seed: number;
  /** Per-stream operations of the event-store clients, for the linearizability check. */
  private readonly streamOps = new Map<string, Operation<StreamInput, StreamOutput>[]>();
  /** Every append a client made, by its number. */
  private readonly appendOps = new Map<number, AppendOp>();
  /** Every copy of an append proposed: command text -> the append (answered when its proposer applies it). */
  private readonly appendCopies = new Map<string, AppendOp>();
  /**
   * Copies held for a ReadIndex round because the node's state showed a certain conflict (the
   * HTTP route's early answer): request id -> the copy.
   */
  private readonly pendingPrechecks = new Map<string, { op: AppendOp; command: AppendCommand; bytes: Uint8Array }>();
  /** Strong reads in flight: request id -> the stream and when it was asked. */
  private readonly pendingReads = new Map<string, { stream: string; call: number }>();
  /** index -> event store hash after applying it, to compare replicas. */
  private readonly appliedStoreHash = new Map<number, string>();
  private lastSeenVersion = new Map<string, number>();
  readonly stats: SimulationStats = {
    steps: 0,
    ticks: 0,
    leadersElected: 0,
    maxTerm: 0,
    writesAcked: 0,
    readsServed: 0,
    readsAborted: 0,
    confChanges: 0,
    transfers: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    crashes: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    commitIndex: 0,
    streamOperations: 0,
    earlyConflicts: 0,
    appendRetries: 0,
    refusalsRemembered: 0,
  };
  private readonly opts: Required<Omit<SimulationOptions, 'faults' | 'raft'>> & { faults: FaultProfile; raft: Partial<RaftOptions> };
  private readonly queue = new EventQueue<SimEvent>();
  private readonly nodes = new Map<NodeId, SimNode>();
  private now = 0;
  private chaos = true;
  /** Directed links that are cut: `${from}>${to}`. */
  private readonly cut = new Set<string>();
  private nextNodeNumber: number;
  private readonly founders: NodeId[];
  private writeCounter = 0;
  private readCounter = 0;

  // Random streams, one per concern, so that adding draws in one place does not reshuffle others.
  private readonly netRng: SeededRandom;
  private readonly faultRng: SeededRandom;
  private readonly clientRng: SeededRandom;
  private readonly nodeRng: SeededRandom;
  private readonly routeRng: SeededRandom;
  private readonly retryRng: SeededRandom;

  // ---- global history the invariants are checked against
  /** term -> the one leader elected in it (Election Safety, §5.2). */
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** `${index}:${term}` -> digest of the entry and term of its predecessor (Log Matching, §5.3). */
  private readonly entryIdentity = new Map<string, { digest: string; prevTerm: number | undefined }>();
  /** index -> term of the entry committed there (Leader Completeness / never lost, §5.4). */
  private readonly committedTerm = new Map<number, number>();
  private maxCommitted = 0;
  /** index -> state machine hash after applying it (State Machine Safety, §5.4.3). */
  private readonly appliedHash = new Map<number, number>();
  private readonly appliedDigest = new Map<number, string>();
  /** Highest log index of a write acknowledged to a client, with the time it was acknowledged. */
  private ackedWriteIndex = 0;
  private readonly trace: string[] = [];

  constructor(options: SimulationOptions) {
    this.seed = options.seed;
    this.opts = {
      seed: options.seed,
      nodes: options.nodes,
      steps: options.steps,
      livenessTicks: options.livenessTicks ?? 400,
      traceLength: options.traceLength ?? 40,
      eventStore: options.eventStore ?? false,
      earlyConflictShare: options.earlyConflictShare ?? 0.5,
      clientRetries: options.clientRetries ?? true,
      faults: { ...defaultFaults, ...options.faults },
      raft: options.raft ?? {},
    };
    const root = new SeededRandom(options.seed);
    this.netRng = root.fork();
    this.faultRng = root.fork();
    this.clientRng = root.fork();
    this.nodeRng = root.fork();
    this.routeRng = root.fork();
    this.retryRng = root.fork();
    const voters: NodeId[] = [];
    for (let i = 1; i <= options.nodes; i++) voters.push(`n${i}` as NodeId);
    this.nextNodeNumber = options.nodes + 1;
    this.founders = voters;
    for (const id of voters) this.pump(this.addNode(id));
    this.queue.push(TICK, { kind: 'Chaos' });
  }

  // ------------------------------------------------------------------ running

  /** Runs the chaos phase, then heals everything and checks liveness. Throws on any violation. */
  run(): SimulationStats {
    while (this.stats.steps < this.opts.steps) this.stepOnce();
    this.heal();
    this.checkLiveness();
    if (this.opts.eventStore) {
      this.checkStoresAgree();
      this.checkStreamsLinearizable();
    }
    return this.stats;
  }

  private stepOnce(): void {
    const ev = this.queue.pop();
    if (ev === undefined) throw this.violation('event queue ran dry');
    this.now = ev.at;
    this.stats.steps++;
    this.handle(ev.item);
    this.checkGlobal();
  }

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'Tick': {
        const node = this.nodes.get(ev.node);
        if (node?.raw === undefined) return; // crashed or gone: its ticks stop
        node.raw.tick();
        this.pump(node);
        this.queue.push(this.now + TICK, ev);
        return;
      }
      case 'Deliver':
        this.deliver(ev.msg);
        return;
      case 'Fsync':
        this.completeFsync(ev.node, ev.incarnation);
        return;
      case 'Restart':
        this.restart(ev.node);
        return;
      case 'Heal':
        this.cut.clear();
        this.log('heal partitions');
        return;
      case 'ClientRetry':
        this.retryAppend(ev.append);
        return;
      case 'Chaos':
        if (this.chaos) {
          this.stats.ticks++;
          this.chaosTick();
          this.queue.push(this.now + TICK, ev);
        }
        return;
    }
  }

  // ------------------------------------------------------------------ nodes

  private addNode(id: NodeId): SimNode {
    const node: SimNode = {
      id,
      storage: new MemoryStorage(),
      raw: undefined,
      fsm: { applied: 0, hash: 0 },
      events: undefined,
      incarnation: 0,
      pending: undefined,
      durableTerm: 0,
      syncedHardState: undefined,
      appliedEarly: 0,
      commitSeen: 0,
      snapshotAt: 0,
      writes: new Map(),
      reads: new Map(),
      servable: [],
      removedAt: undefined,
      wasMember: false,
    };
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  private start(node: SimNode): void {
    node.raw = new RawNode({ id: node.id, storage: node.storage, random: this.nodeRng.fork(), options: this.opts.raft });
    node.incarnation++;
    // A founding member with an empty disk (first start, or a crash before the bootstrap was
    // fsynced) bootstraps; the entry is identical on every founder, so doing it again is safe.
    // Nodes added later start empty and wait for the leader.
    if (this.founders.includes(node.id) && node.storage.lastIndex() === 0 && node.storage.initialState().hardState.term === 0) {
      node.raw.bootstrap(this.founders, Object.fromEntries(this.founders.map((v) => [v, `${v}:7000`])));
    }
    // The state machine is volatile: it restarts from the durable snapshot and replays the log.
    const snap = node.storage.snapshot();
    node.fsm = snap.metadata.index === 0 ? { applied: 0, hash: 0 } : decodeFsm(snap.data);
    node.events = this.opts.eventStore ? this.storeFrom(snap.metadata.index, snap.data) : undefined;
    node.commitSeen = Math.max(node.commitSeen, node.storage.initialState().hardState.commit);
    // Ticks start at a random phase: real clocks are not aligned.
    this.queue.push(this.now + 1 + this.nodeRng.int(TICK), { kind: 'Tick', node: node.id });
    this.checkRestart(node);
  }

  private crash(node: SimNode): void {
    if (node.raw === undefined) return;
    node.raw = undefined;
    node.pending = undefined; // everything not yet fsynced is lost
    // ...including a commit index written without fsync, sometimes (the page cache may have made it).
    if (node.syncedHardState !== undefined && this.faultRng.float() < 0.5) node.storage.setHardState(node.syncedHardState);
    node.writes.clear();
    node.reads.clear();
    node.servable.length = 0;
    this.stats.crashes++;
    this.log(`crash ${node.id}`);
  }

  private restart(id: NodeId): void {
    const node = this.nodes.get(id);
    if (node === undefined || node.raw !== undefined) return;
    this.start(node);
    this.log(`restart ${id} term=${node.storage.initialState().hardState.term} last=${node.storage.lastIndex()}`);
    this.pump(node);
  }

  /** Takes a Ready if the node is idle and has one; starts its fsync. */
  private pump(node: SimNode): void {
    const raw = node.raw;
    if (raw === undefined || node.pending !== undefined || !raw.hasReady()) return;
    const rd = raw.ready();
    this.checkReady(node, rd);
    const held: Message[] = [];
    // Thesis §10.2.1: a leader may send its appends while its own fsync is in flight, and messages
    // that acknowledge no entries (heartbeat answers, ReadIndex) may go too (the driver's rule)...
    const early = this.netRng.float() < 0.5;
    for (const m of rd.messages) {
      // ...but only once its term is durable: a single voter wins in the same step it campaigned,
      // and a crash before the fsync would let it lead the same term again with another log.
      if (early && sendsBeforePersist(m, node.durableTerm as Term)) {
        this.send(m);
      } else held.push(m);
    }
    node.pending = { rd, held };
    // The driver's rules: early apply of durable committed entries, and MustSync.
    node.appliedEarly = durableCommittedPrefix(rd, node.storage);
    for (const e of rd.committed.slice(0, node.appliedEarly)) this.apply(node, e);
    const delay = mustSync(rd, node.storage.initialState().hardState) ? 1 + this.nodeRng.int(this.opts.faults.maxFsync) : 0;
    this.queue.push(this.now + delay, { kind: 'Fsync', node: node.id, incarnation: node.incarnation });
  }

  private completeFsync(id: NodeId, incarnation: number): void {
    const node = this.nodes.get(id);
    if (node?.raw === undefined || node.incarnation !== incarnation || node.pending === undefined) return;
    const { rd, held } = node.pending;
    const raw = node.raw;
    // 1. persist (now durable, unless it only moved the commit index: see pump)
    const synced = mustSync(rd, node.storage.initialState().hardState);
    if (rd.snapshot) node.storage.applySnapshot(rd.snapshot);
    node.storage.append(rd.entries);
    if (rd.hardState) {
      if (rd.hardState.term < node.durableTerm) throw this.violation(`${id} durable term went back ${node.durableTerm} -> ${rd.hardState.term}`);
      node.storage.setHardState(rd.hardState);
      node.durableTerm = rd.hardState.term;
      this.registerCommitted(node, rd.hardState.commit);
    }
    if (synced) node.syncedHardState = node.storage.initialState().hardState;
    // 2. send what had to wait for durability
    const hs = node.storage.initialState().hardState;
    for (const m of held) {
      // Pre-votes carry the term of a prospective election, which is deliberately never persisted.
      const prospective = m.type === 'PreVote' || (m.type === 'PreVoteResponse' && !m.reject);
      if (!prospective && m.term > hs.term) throw this.violation(`${id} sent ${m.type} at term ${m.term} with durable term ${hs.term}`);
      // A granted vote must be durable - or superseded by a durable later term, after which this
      // node can never act in the vote's term again (so it can never vote twice in it).
      if (m.type === 'RequestVoteResponse' && !m.reject && !(hs.term > m.term || (hs.term === m.term && hs.vote === m.to))) {
        throw this.violation(`${id} granted a vote to ${m.to} in term ${m.term} that is not durable (durable ${hs.term}/${hs.vote})`);
      }
      this.send(m);
    }
    // 3. apply
    if (rd.snapshot) {
      node.fsm = decodeFsm(rd.snapshot.data);
      if (this.opts.eventStore) node.events = this.storeFrom(rd.snapshot.metadata.index, rd.snapshot.data);
      this.stats.snapshotsInstalled++;
      this.checkAppliedHash(node);
      this.log(`${id} installed snapshot ${rd.snapshot.metadata.index}`);
    }
    for (const e of rd.committed.slice(node.appliedEarly)) this.apply(node, e);
    for (const rs of rd.readStates) this.readAnswered(node, rs.requestId, rs.index);
    for (const requestId of rd.abortedReads) {
      node.reads.delete(requestId);
      this.stats.readsAborted++;
    }
    // 4. advance
    node.pending = undefined;
    raw.advance(rd);
    this.serveReads(node);
    this.maybeSnapshot(node);
    this.pump(node);
  }

  private apply(node: SimNode, e: Entry): void {
    if (e.index !== node.fsm.applied + 1) {
      throw this.violation(`${node.id} applied ${e.index} after ${node.fsm.applied} (gap or reorder)`);
    }
    const digest = entryDigest(e);
    const known = this.appliedDigest.get(e.index);
    if (known !== undefined && known !== digest) {
      throw this.violation(`State Machine Safety: ${node.id} applied ${digest} at ${e.index}, another node applied ${known}`);
    }
    this.appliedDigest.set(e.index, digest);
    node.fsm = { applied: e.index, hash: mixHash(node.fsm.hash, digest) };
    this.checkAppliedHash(node);
    const outcome = this.applyToStore(node, e);
    if (e.type === 'Normal' && e.data.length > 0) {
      const data = dec.decode(e.data);
      if (node.writes.delete(data)) {
        if (outcome !== undefined) this.answerAppend(data, outcome);
        // The proposing node saw it applied: this is when a real server acknowledges the client.
        this.stats.writesAcked++;
        if (e.index > this.ackedWriteIndex) this.ackedWriteIndex = e.index;
      }
    }
  }

  private checkAppliedHash(node: SimNode): void {
    const { applied, hash } = node.fsm;
    if (applied === 0) return;
    const known = this.appliedHash.get(applied);
    if (known !== undefined && known !== hash) {
      throw this.violation(`State Machine Safety: ${node.id} state at ${applied} differs from another node's`);
    }
    this.appliedHash.set(applied, hash);
  }

  private maybeSnapshot(node: SimNode): void {
    const every = this.opts.faults.snapshotEvery;
    const raw = node.raw;
    if (every === 0 || raw === undefined) return;
    const applied = node.fsm.applied;
    if (applied - node.storage.snapshot().metadata.index < every) return;
    // The application snapshots its state at the applied index, then compacts the log behind it,
    // keeping a short tail for followers that are only slightly behind.
    node.storage.createSnapshot(applied as LogIndex, raw.membershipAt(applied as LogIndex), encodeFsm(node.fsm, node.events));
    const keep = this.nodeRng.int(this.opts.faults.compactKeep + 1);
    node.storage.compact(Math.max(applied - keep, node.storage.firstIndex() - 1) as LogIndex);
    this.stats.snapshotsTaken++;
  }

  // ------------------------------------------------------------------ network

  private send(m: Message): void {
    if (!this.nodes.has(m.to)) return;
    const f = this.chaos ? this.opts.faults : { ...this.opts.faults, drop: 0, duplicate: 0 };
    if (this.netRng.float() < f.drop) {
      this.stats.messagesDropped++;
      return;
    }
    // A duplicated forwarded proposal stands for a client re-sending a request (the real
    // transport sends each message once, over TCP): in event-store mode only with client
    // retries, which the store answers consistently since it remembers refused appends.
    // The draw is kept so that seeds replay the same way with and without this rule.
    const duplicated = this.netRng.float() < f.duplicate && !(this.opts.eventStore && !this.opts.clientRetries && m.type === 'Propose');
    const copies = duplicated ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.queue.push(this.now + 1 + this.netRng.int(f.maxDelay), { kind: 'Deliver', msg: m });
    }
  }

  private deliver(m: Message): void {
    const node = this.nodes.get(m.to);
    if (node?.raw === undefined || this.cut.has(`${m.from}>${m.to}`)) {
      this.stats.messagesDropped++;
      return;
    }
    this.stats.messagesDelivered++;
    node.raw.step(m);
    this.pump(node);
  }

  // ------------------------------------------------------------------ chaos

  private liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raw !== undefined);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.liveNodes()) {
      const raft = (n.raw as RawNode).raft;
      if (raft.role === 'Leader' && (best === undefined || raft.term > (best.raw as RawNode).raft.term)) best = n;
    }
    return best;
  }

  private chaosTick(): void {
    const f = this.opts.faults;
    const r = this.faultRng;
    const ids = [...this.nodes.keys()];

    if (r.float() < f.partition && ids.length > 1) {
      if (r.float() < 0.5) {
        // Symmetric: split into two sides.
        const side = new Set(ids.filter(() => r.float() < 0.5));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cut.add(`${a}>${b}`);
        this.log(`partition {${[...side].join(',')}} | rest`);
      } else {
        const a = ids[r.int(ids.length)] as NodeId;
        const b = ids[r.int(ids.length)] as NodeId;
        if (a !== b) this.cut.add(`${a}>${b}`);
        this.log(`cut ${a}>${b}`);
      }
      this.queue.push(this.now + TICK * (5 + r.int(60)), { kind: 'Heal' });
    }

    if (r.float() < f.crash) {
      const victim = this.liveNodes()[r.int(Math.max(1, this.liveNodes().length))];
      if (victim !== undefined) {
        this.crash(victim);
        this.queue.push(this.now + TICK * (1 + r.int(40)), { kind: 'Restart', node: victim.id });
      }
    }

    if (r.float() < f.crashAll) {
      this.log('crash all');
      for (const node of this.liveNodes()) {
        this.crash(node);
        this.queue.push(this.now + TICK * (1 + r.int(20)), { kind: 'Restart', node: node.id });
      }
    }

    if (r.float() < f.leaderCrash) {
      const leader = this.leader();
      if (leader !== undefined) {
        this.crash(leader);
        this.queue.push(this.now + TICK * (1 + r.int(40)), { kind: 'Restart', node: leader.id });
      }
    }

    const c = this.clientRng;
    if (c.float() < f.write) this.clientWrite();
    if (c.float() < f.read) this.clientRead();
    if (c.float() < f.confChange) this.changeMembership();
    if (c.float() < f.transfer) this.transfer();
    this.retireRemovedNodes();
  }

  private clientWrite(): void {
    if (this.opts.eventStore) {
      this.clientAppend();
      return;
    }
    const live = this.liveNodes().filter((n) => n.removedAt === undefined);
    const node = live[this.clientRng.int(Math.max(1, live.length))];
    if (node?.raw === undefined) return;
    const data = `w${++this.writeCounter}`;
    const batch = this.clientRng.float() < 0.2 ? 1 + this.clientRng.int(8) : 1;
    const payloads = [data];
    for (let i = 1; i < batch; i++) payloads.push(`${data}.${i}`);
    const result = node.raw.proposeBatch(payloads.map((p) => enc.encode(p)));
    if (result.ok) for (const p of payloads) node.writes.set(p, this.now);
    this.pump(node);
  }

  private clientRead(): void {
    const live = this.liveNodes();
    const node = live[this.clientRng.int(Math.max(1, live.length))];
    if (node?.raw === undefined) return;
    const requestId = `r${++this.readCounter}`;
    // Linearizability: the read must observe every write acknowledged before it started.
    const mustSee = this.ackedWriteIndex;
    if (node.raw.readIndex(requestId).ok) {
      node.reads.set(requestId, mustSee);
      if (this.opts.eventStore) this.pendingReads.set(requestId, { stream: STREAMS[this.clientRng.int(STREAMS.length)] as string, call: this.now });
    }
    this.pump(node);
  }

  private readAnswered(node: SimNode, requestId: string, index: number): void {
    const mustSee = node.reads.get(requestId);
    if (mustSee === undefined) return;
    node.reads.delete(requestId);
    if (index < mustSee) {
      throw this.violation(`Linearizability: ${node.id} read ${requestId} got index ${index} but a write at ${mustSee} was acknowledged before it started`);
    }
    node.servable.push({ requestId, index });
  }

  private serveReads(node: SimNode): void {
    for (let i = node.servable.length - 1; i >= 0; i--) {
      const read = node.servable[i] as { index: number; requestId: string };
      if (node.fsm.applied >= read.index) {
        node.servable.splice(i, 1);
        this.stats.readsServed++;
        this.answerRead(node, read.requestId);
      }
    }
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (leader?.raw === undefined) return;
    const m = leader.raw.raft.membership;
    const c = this.clientRng;
    const choice = c.int(3);
    if (choice === 0 && m.voters.length + m.learners.length < 9) {
      // A brand-new node (fresh id, empty disk) joins as a learner and waits to be fed.
      const id = `n${this.nextNodeNumber}` as NodeId;
      const res = leader.raw.proposeConfChange({ type: 'AddLearner', nodeId: id, address: `${id}:7000` });
      this.log(`propose AddLearner ${id} via ${leader.id}: ${res.ok ? 'ok' : res.reason}`);
      if (res.ok) {
        this.nextNodeNumber++;
        this.addNode(id);
        this.stats.confChanges++;
      }
    } else if (choice === 1 && m.learners.length > 0 && m.voters.length < 7) {
      const id = m.learners[c.int(m.learners.length)] as NodeId;
      const res = leader.raw.proposeConfChange({ type: 'PromoteLearner', nodeId: id });
      this.log(`propose PromoteLearner ${id} via ${leader.id}: ${res.ok ? 'ok' : res.reason}`);
      if (res.ok) this.stats.confChanges++;
    } else if (choice === 2 && m.voters.length > Math.max(1, this.opts.nodes - 2)) {
      const all = [...m.voters, ...m.learners];
      const id = all[c.int(all.length)] as NodeId;
      const res = leader.raw.proposeConfChange({ type: 'RemoveNode', nodeId: id });
      this.log(`propose RemoveNode ${id} via ${leader.id}: ${res.ok ? 'ok' : res.reason}`);
      if (res.ok) this.stats.confChanges++;
    }
    this.pump(leader);
  }

  /** Nodes the cluster removed keep running a while (they may try to disrupt), then are shut down. */
  private retireRemovedNodes(): void {
    const leader = this.leader();
    if (leader?.raw === undefined) return;
    const m = leader.raw.raft.membership;
    if (leader.raw.raft.log.committed < 2) return;
    for (const node of this.nodes.values()) {
      if (isMember(m, node.id)) {
        node.wasMember = true;
        node.removedAt = undefined;
        continue;
      }
      // Only a removal the leader committed retires a node. A joiner whose AddLearner has not
      // committed yet (maybe never will) stays: as an operator would, we do not delete it.
      if (!node.wasMember) continue;
      node.removedAt ??= this.now;
      if (this.now - node.removedAt > TICK * 300) {
        this.nodes.delete(node.id);
        this.log(`retire ${node.id}`);
      }
    }
  }

  private transfer(): void {
    const leader = this.leader();
    if (leader?.raw === undefined) return;
    const voters = leader.raw.raft.membership.voters.filter((id) => id !== leader.id);
    const to = voters[this.clientRng.int(Math.max(1, voters.length))];
    if (to === undefined) return;
    const res = leader.raw.transferLeadership(to);
    this.log(`transfer ${leader.id} -> ${to}: ${res.ok ? 'ok' : res.reason}`);
    if (res.ok) this.stats.transfers++;
    this.pump(leader);
  }

  private heal(): void {
    this.chaos = false;
    this.cut.clear();
    for (const node of this.nodes.values()) if (node.raw === undefined) this.restart(node.id);
    this.log('--- healed: no faults from here on');
  }

  // ------------------------------------------------------------------ invariants

  /** Checks on each Ready as it is taken: Log Matching over every entry that enters any log. */
  private checkReady(node: SimNode, rd: Ready): void {
    const raft = (node.raw as RawNode).raft;
    let prevTerm: number | undefined;
    const first = rd.entries[0];
    if (first !== undefined) prevTerm = raft.log.term((first.index - 1) as LogIndex);
    for (const e of rd.entries) {
      const key = `${e.index}:${e.term}`;
      const digest = entryDigest(e);
      const known = this.entryIdentity.get(key);
      if (known === undefined) {
        this.entryIdentity.set(key, { digest, prevTerm });
      } else {
        if (known.digest !== digest) throw this.violation(`Log Matching: two different entries at index ${e.index} term ${e.term} (${known.digest} vs ${digest} on ${node.id})`);
        if (known.prevTerm !== undefined && prevTerm !== undefined && known.prevTerm !== prevTerm) {
          throw this.violation(`Log Matching: entry ${key} on ${node.id} follows term ${prevTerm}, elsewhere term ${known.prevTerm}`);
        }
      }
      prevTerm = e.term;
    }
    if (rd.softState?.role === 'Leader') {
      this.stats.leadersElected++;
      this.log(`${node.id} leader term=${raft.term} last=${raft.log.lastIndex()} commit=${raft.log.committed}`);
    }
  }

  /** Registers indexes (commitSeen, commit] as committed, checking they never change. */
  private registerCommitted(node: SimNode, commit: number): void {
    if (commit <= node.commitSeen) return;
    const raft = (node.raw as RawNode).raft;
    for (let i = node.commitSeen + 1; i <= commit; i++) {
      const t = raft.log.term(i as LogIndex);
      if (t === undefined) continue; // covered by a snapshot
      const known = this.committedTerm.get(i);
      if (known !== undefined && known !== t) {
        throw this.violation(`committed entry ${i} changed term ${known} -> ${t} on ${node.id}`);
      }
      this.committedTerm.set(i, t);
    }
    node.commitSeen = commit;
    if (commit > this.maxCommitted) this.maxCommitted = commit;
    this.stats.commitIndex = this.maxCommitted;
  }

  /** After a restart, the durable log must still hold every entry it had committed. */
  private checkRestart(node: SimNode): void {
    const hs = node.storage.initialState().hardState;
    for (let i = node.storage.firstIndex(); i <= hs.commit; i++) {
      const known = this.committedTerm.get(i);
      const t = node.storage.term(i);
      if (known !== undefined && t !== known) throw this.violation(`${node.id} restarted without committed entry ${i} (term ${known}, has ${t})`);
    }
  }

  /** Checks after every event. */
  private checkGlobal(): void {
    for (const node of this.nodes.values()) {
      const raft = node.raw?.raft;
      if (raft === undefined) continue;
      if (raft.term > this.stats.maxTerm) this.stats.maxTerm = raft.term;
      if (raft.role === 'Leader') {
        // Election Safety (§5.2): at most one leader per term. A leader counts once its term and
        // self-vote are durable: before that nothing it does can leave the node (messages wait for
        // the fsync, it counts its own entries only after advance), and a crash erases it - a
        // single voter wins in the same step it campaigns and may lose that term to a crash.
        const hs = node.storage.initialState().hardState;
        if (hs.term === raft.term && hs.vote === node.id) {
          const known = this.leaderOfTerm.get(raft.term);
          if (known === undefined) {
            this.leaderOfTerm.set(raft.term, node.id);
            this.checkLeaderCompleteness(node);
          } else if (known !== node.id) {
            throw this.violation(`Election Safety: ${known} and ${node.id} both leaders in term ${raft.term}`);
          }
        }
      }
      // Our membership-safety argument: a node never holds two uncommitted configuration entries.
      if (raft.uncommittedConfChanges().length > 1) {
        throw this.violation(`${node.id} holds ${raft.uncommittedConfChanges().length} uncommitted configuration entries`);
      }
      if (raft.log.committed > raft.log.lastIndex()) throw this.violation(`${node.id} commit beyond its log`);
    }
  }

  /** Leader Completeness (§5.4): a new leader holds every entry committed so far. */
  private checkLeaderCompleteness(node: SimNode): void {
    const log = (node.raw as RawNode).raft.log;
    if (log.lastIndex() < this.maxCommitted) {
      throw this.violation(`Leader Completeness: ${node.id} leads with last index ${log.lastIndex()} < committed ${this.maxCommitted}`);
    }
    for (let i = log.firstIndex() - 1; i <= this.maxCommitted; i++) {
      const want = this.committedTerm.get(i);
      if (want === undefined || i === 0) continue;
      const t = log.term(i as LogIndex);
      if (t !== want) throw this.violation(`Leader Completeness: ${node.id} has term ${t} at committed index ${i}, expected ${want}`);
    }
  }

  /** After healing: a leader emerges and a fresh write commits within a bounded number of ticks. */
  private checkLiveness(): void {
    const deadline = this.now + this.opts.livenessTicks * TICK;
    let probe: { node: SimNode; data: string } | undefined;
    while (this.now < deadline) {
      const leader = this.leader();
      if (leader?.raw !== undefined && probe === undefined && leader.raw.raft.promotable()) {
        const data = `liveness-${this.seed}`;
        const res = leader.raw.propose(enc.encode(data));
        if (res.ok) {
          leader.writes.set(data, this.now);
          probe = { node: leader, data };
          this.pump(leader);
        }
      }
      if (probe !== undefined) {
        if (probe.node.raw !== undefined && !probe.node.writes.has(probe.data)) return; // applied on the proposer: committed
        // Leadership moved before it committed: the outcome is unknown, so probe again.
        if (probe.node.raw?.raft.role !== 'Leader') probe = undefined;
      }
      this.stepOnce();
    }
    const roles = [...this.nodes.values()]
      .map((n) => {
        const r = n.raw?.raft;
        if (r === undefined) return `${n.id}:down`;
        return `${n.id}:${r.role}@${r.term} last=${r.log.lastIndex()}/${r.log.lastTerm()} commit=${r.log.committed} voters=[${r.membership.voters.join(',')}] learners=[${r.membership.learners.join(',')}]`;
      })
      .join('; ');
    throw this.violation(`Liveness: no write committed within ${this.opts.livenessTicks} ticks after healing (${roles})`);
  }

  // ------------------------------------------------------------------ the event store

  /** A fresh store, restored from snapshot data when the snapshot is past 0. */
  private storeFrom(index: number, data: Uint8Array): EventStoreStateMachine {
    const store = new EventStoreStateMachine(new MemoryEventStorage());
    if (index > 0) {
      const fsm = JSON.parse(dec.decode(data)) as { store?: string };
      if (fsm.store === undefined) throw this.violation(`snapshot at ${index} carries no event store`);
      store.restore(index as LogIndex, enc.encode(fsm.store));
    }
    return store;
  }

  /** Applies an entry to the node's store; checks replicas agree on the store hash. */
  private applyToStore(node: SimNode, e: Entry): AppendOutcome | undefined {
    const store = node.events;
    if (store === undefined) return undefined;
    let outcome: AppendOutcome | undefined;
    if (e.type === 'Normal' && e.data.length > 0) {
      outcome = store.apply(e.index, `e${e.index}`, e.data);
      const op = this.appendCopies.get(dec.decode(e.data));
      if (op !== undefined) this.checkCopyOutcome(op, outcome, `applied at ${e.index}`);
    } else {
      store.skip(e.index);
    }
    const known = this.appliedStoreHash.get(e.index);
    if (known !== undefined && known !== store.stateHash) throw this.violation(`State Machine Safety: ${node.id} event store at ${e.index} has hash ${store.stateHash}, another node ${known}`);
    this.appliedStoreHash.set(e.index, store.stateHash);
    return outcome;
  }

  /** A client appends to a stream, expecting a version it may have seen, or none, or anything. */
  private clientAppend(): void {
    const live = this.liveNodes().filter((n) => n.removedAt === undefined);
    const node = live[this.clientRng.int(Math.max(1, live.length))];
    if (node?.raw === undefined) return;
    const stream = STREAMS[this.clientRng.int(STREAMS.length)] as string;
    const roll = this.clientRng.float();
    const seen = this.lastSeenVersion.get(stream) ?? -1;
    const expected: ExpectedVersion = roll < 0.4 ? seen === -1 ? 'no_stream' : seen : roll < 0.6 ? 'any' : roll < 0.7 ? 'exists' : roll < 0.8 ? 'no_stream' : this.clientRng.int(Math.max(1, seen + 3));
    const count = 1 + (this.clientRng.float() < 0.2 ? this.clientRng.int(3) : 0);
    const n = ++this.writeCounter;
    const command: AppendCommand = {
      type: 'Append',
      timestamp: this.now,
      appends: [{ stream, expectedVersion: expected, events: Array.from({ length: count }, (_, i) => ({ id: `ev${n}.${i}`, type: 'Happened', data: { n }, metadata: null, schemaVersion: 1 })) }],
    };
    const op: AppendOp = { stream, index: n, call: this.now, input: { kind: 'append', expected, count }, command, copies: 1, answer: undefined, effect: undefined };
    this.appendOps.set(n, op);
    this.submitAppend(node, op, command);
    if (this.opts.clientRetries) this.queue.push(this.now + RETRY_AFTER + this.retryRng.int(RETRY_SPREAD), { kind: 'ClientRetry', append: n });
  }

  /** The client had no answer yet: it sends the same append (same ids, a new timestamp) through another node. */
  private retryAppend(n: number): void {
    const op = this.appendOps.get(n);
    if (op === undefined || op.answer !== undefined || op.copies >= MAX_APPEND_COPIES) return;
    const live = this.liveNodes().filter((x) => x.removedAt === undefined);
    const node = live[this.retryRng.int(Math.max(1, live.length))];
    if (node?.raw !== undefined) {
      op.copies++;
      this.stats.appendRetries++;
      this.submitAppend(node, op, { ...op.command, timestamp: this.now });
    }
    this.queue.push(this.now + RETRY_AFTER + this.retryRng.int(RETRY_SPREAD), { kind: 'ClientRetry', append: n });
  }

  private submitAppend(node: SimNode, op: AppendOp, command: AppendCommand): void {
    const bytes = encodeCommand(command);
    // The HTTP route (event-routes.ts) answers an append that this node's state shows certain to
    // conflict without a log entry, after a ReadIndex round.
    if (this.routeRng.float() < this.opts.earlyConflictShare && node.events?.certainConflict(command) !== undefined) {
      const requestId = op.copies === 1 ? `c${op.index}` : `c${op.index}.${op.copies}`;
      this.pendingPrechecks.set(requestId, { op, command, bytes });
      this.awaitReadIndex(node, requestId);
    } else {
      this.proposeAppend(node, op, bytes);
    }
    this.pump(node);
  }

  private proposeAppend(node: SimNode, op: AppendOp, bytes: Uint8Array): void {
    if (node.raw?.propose(bytes).ok !== true) return;
    const data = dec.decode(bytes);
    node.writes.set(data, this.now);
    this.appendCopies.set(data, op);
  }

  /** Starts the ReadIndex round an early answer waits for; without one (no leader) it is dropped. */
  private awaitReadIndex(node: SimNode, requestId: string): void {
    if (node.raw?.readIndex(requestId).ok === true) node.reads.set(requestId, this.ackedWriteIndex);
    else this.pendingPrechecks.delete(requestId);
  }

  /** The ReadIndex round of an early answer is served: answer the conflict, or log the append after all. */
  private answerPrecheck(node: SimNode, requestId: string): void {
    const held = this.pendingPrechecks.get(requestId);
    if (held === undefined || node.events === undefined) return;
    this.pendingPrechecks.delete(requestId);
    const conflict = node.events.certainConflict(held.command);
    if (conflict === undefined) {
      this.proposeAppend(node, held.op, held.bytes);
      return;
    }
    this.stats.earlyConflicts++;
    this.checkCopyOutcome(held.op, conflict, 'answered early');
    this.answer(held.op, conflict);
  }

  private answerAppend(data: string, outcome: AppendOutcome): void {
    const op = this.appendCopies.get(data);
    if (op !== undefined) this.answer(op, outcome);
  }

  /** Tells the client `outcome`, unless another copy's answer came first (the two must agree). */
  private answer(op: AppendOp, outcome: AppendOutcome): void {
    const output = streamOutput(outcome);
    if (output === undefined) throw this.violation(`append ${op.index} was refused: ${outcome.ok ? 'no result' : outcome.error}`);
    if (op.answer !== undefined) {
      if (!sameAnswer(op.answer, output)) throw this.violation(`Exactly-once: copies of append ${op.index} were answered ${JSON.stringify(op.answer)} and ${JSON.stringify(output)}`);
      return;
    }
    op.answer = output;
    this.lastSeenVersion.set(op.stream, output.kind === 'appended' ? output.firstVersion + (op.input.kind === 'append' ? op.input.count : 1) - 1 : output.kind === 'conflict' ? output.actual : -1);
    this.record(op.stream, { call: op.call, ret: this.now, input: op.input, output });
  }

  /**
   * A copy of an append applied (or answered early): the first such outcome is the append's
   * effect, and every later copy must agree with it: appended at the same version (a duplicate),
   * or refused too. A refused copy followed by a stored one is the lost-answer bug that the
   * store's memory of refused appends prevents.
   */
  private checkCopyOutcome(op: AppendOp, outcome: AppendOutcome, how: string): void {
    if (op.effect === undefined) {
      op.effect = outcome;
      return;
    }
    const first = streamOutput(op.effect);
    const now = streamOutput(outcome);
    if (first !== undefined && now !== undefined && !sameAnswer(first, now)) {
      throw this.violation(`Exactly-once: a copy of append ${op.index} ${how} with ${JSON.stringify(now)}, an earlier copy had ${JSON.stringify(first)}`);
    }
  }

  private answerRead(node: SimNode, requestId: string): void {
    if (this.pendingPrechecks.has(requestId)) {
      this.answerPrecheck(node, requestId);
      return;
    }
    const read = this.pendingReads.get(requestId);
    if (read === undefined || node.events === undefined) return;
    this.pendingReads.delete(requestId);
    const version = node.events.reader.streamVersion(read.stream);
    this.record(read.stream, { call: read.call, ret: this.now, input: { kind: 'read' }, output: { kind: 'read', version } });
  }

  private record(stream: string, op: Operation<StreamInput, StreamOutput>): void {
    const ops = this.streamOps.get(stream) ?? [];
    ops.push(op);
    this.streamOps.set(stream, ops);
    this.stats.streamOperations++;
  }

  /**
   * Replicas at the same index hold the same remembered refusals (outside the store hash, which
   * covers events only): a table that differed would answer a later copy differently.
   */
  private checkStoresAgree(): void {
    const byIndex = new Map<number, { id: NodeId; table: string }>();
    let remembered = 0;
    for (const node of this.liveNodes()) {
      const store = node.events;
      if (store === undefined) continue;
      const table = JSON.stringify(store.refusedAppends());
      const other = byIndex.get(store.appliedIndex);
      if (other === undefined) byIndex.set(store.appliedIndex, { id: node.id, table });
      else if (other.table !== table) throw this.violation(`State Machine Safety: ${node.id} and ${other.id} at ${store.appliedIndex} remember different refused appends`);
      remembered = Math.max(remembered, store.refusedCount);
    }
    this.stats.refusalsRemembered += remembered;
  }

  /** Each stream's history, with unanswered appends open-ended, must be linearizable. */
  private checkStreamsLinearizable(): void {
    // An append never answered took effect when some node applied it (its outcome is known, its
    // answer time is not), or never. Only a successful one changed what others observe; one that
    // was refused, or never applied, is left out: with no answer time it could float anywhere
    // after its call, and a few such appends multiply the orders the search must try.
    for (const op of this.appendOps.values()) {
      const output = op.answer !== undefined || op.effect === undefined ? undefined : streamOutput(op.effect);
      if (output?.kind !== 'appended') continue;
      this.record(op.stream, { call: op.call, ret: Infinity, input: op.input, output });
    }
    this.appendOps.clear();
    for (const [stream, ops] of this.streamOps) {
      if (!isLinearizable(streamModel, ops)) {
        const lines = [...ops].sort((a, b) => a.call - b.call).map((o) => `  [${o.call}, ${o.ret}] ${JSON.stringify(o.input)} -> ${o.output === undefined ? 'unanswered' : JSON.stringify(o.output)}`);
        throw this.violation(`Linearizability: the history of stream ${stream} (${ops.length} operations) has no legal order:\n${lines.join('\n')}`);
      }
    }
  }

  // ------------------------------------------------------------------ reporting

  private log(line: string): void {
    this.trace.push(`t=${this.now} ${line}`);
    if (this.trace.length > this.opts.traceLength) this.trace.shift();
  }

  private violation(message: string): SimulationViolation {
    return new SimulationViolation(this.seed, message, [...this.trace]);
  }

  /** Read-only view for tests. */
  nodeIds(): NodeId[] {
    return [...this.nodes.keys()];
  }

  raftOf(id: NodeId): RawNode | undefined {
    return this.nodes.get(id)?.raw;
  }

  isVoterNow(id: NodeId): boolean {
    const leader = this.leader();
    return leader?.raw !== undefined && isVoter(leader.raw.raft.membership, id);
  }
}

function entryDigest(e: Entry): string {
  return e.type === 'Normal' ? `${e.term}/N/${dec.decode(e.data)}` : `${e.term}/C/${JSON.stringify(e.change)}`;
}

/** FNV-1a over the previous hash and the entry digest: equal hashes mean equal histories (whp). */
function mixHash(prev: number, digest: string): number {
  let h = (prev ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < digest.length; i++) {
    h ^= digest.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Two answers to one append agree: both appended at the same version, or both refused. */
function sameAnswer(a: StreamOutput, b: StreamOutput): boolean {
  if (a.kind === 'appended' && b.kind === 'appended') return a.firstVersion === b.firstVersion;
  return a.kind === b.kind;
}

/** An append's outcome as the stream model sees it (undefined: neither appended nor a conflict). */
function streamOutput(outcome: AppendOutcome): StreamOutput | undefined {
  if (outcome.ok) {
    const r = outcome.results[0];
    return r === undefined ? undefined : { kind: 'appended', firstVersion: r.firstVersion };
  }
  return outcome.error === 'WrongExpectedVersion' ? { kind: 'conflict', actual: outcome.actual } : undefined;
}

function encodeFsm(fsm: Fsm, store?: EventStoreStateMachine): Uint8Array {
  return enc.encode(JSON.stringify(store === undefined ? fsm : { ...fsm, store: dec.decode(store.snapshotBytes()) }));
}

function decodeFsm(data: Uint8Array): Fsm {
  return JSON.parse(dec.decode(data)) as Fsm;
}

/** The one-line command that replays a failing seed. */
export function reproduceCommand(seed: number, nodes: number, steps: number, eventStore = false): string {
  return `npm run sim -- --seed ${seed} --nodes ${nodes} --steps ${steps}${eventStore ? ' --event-store' : ''}`;
}

export type { Term };
