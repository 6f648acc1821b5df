/**
 * A synchronous test network for the Raft core (like etcd/raft's raft_test.go `network`):
 * every node persists its Ready immediately, messages are delivered in rounds until the cluster is
 * quiet, and tests can cut links, drop or capture messages, and tick nodes one by one.
 */
import { MemoryStorage, RawNode, SeededRandom } from '../../../../../node/core/raft/index.ts';
import type { Entry, LogIndex, Message, NodeId, RaftOptions, ReadState } from '../../../../../node/core/raft/index.ts';

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export interface TestNode {
  readonly id: NodeId;
  raw: RawNode;
  readonly storage: MemoryStorage;
  /** Committed entries in apply order (reset on restart, then replayed from the snapshot). */
  applied: Entry[];
  readStates: ReadState[];
  abortedReads: string[];
  /** When true, this node's Readys are not processed (models a slow disk). */
  stalled: boolean;
}

export class TestNetwork {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Directed links that drop everything: `${from}>${to}`. */
  private readonly cut = new Set<string>();
  /** Messages delivered so far, in order (for tests that count or inspect traffic). */
  readonly delivered: Message[] = [];
  /** When set, messages it returns true for are dropped. */
  dropIf: ((m: Message) => boolean) | undefined;
  private readonly rng: SeededRandom;
  readonly options: Partial<RaftOptions>;

  constructor(ids: readonly string[], options: Partial<RaftOptions> = {}, seed = 1) {
    this.rng = new SeededRandom(seed);
    this.options = options;
    for (const id of ids) this.add(id as NodeId, ids as NodeId[]);
  }

  /** Adds a node; with `bootstrapVoters` it is a founding member, without it it waits to join. */
  add(id: NodeId, bootstrapVoters?: readonly NodeId[]): TestNode {
    const storage = new MemoryStorage();
    const raw = new RawNode({ id, storage, random: this.rng.fork(), options: this.options });
    if (bootstrapVoters) raw.bootstrap(bootstrapVoters);
    const node: TestNode = { id, raw, storage, applied: [], readStates: [], abortedReads: [], stalled: false };
    this.nodes.set(id, node);
    return node;
  }

  node(id: string): TestNode {
    const n = this.nodes.get(id as NodeId);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: string): RawNode['raft'] {
    return this.node(id).raw.raft;
  }

  /** Simulates a crash and restart: the core is rebuilt from what its storage made durable. */
  restart(id: string): TestNode {
    const old = this.node(id);
    const raw = new RawNode({ id: old.id, storage: old.storage, random: this.rng.fork(), options: this.options });
    const node: TestNode = { ...old, raw, applied: [], readStates: [], abortedReads: [], stalled: false };
    this.nodes.set(old.id, node);
    return node;
  }

  isolate(id: string): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  cutLink(from: string, to: string): void {
    this.cut.add(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Processes one Ready on `node` (persist, then hand back its messages). */
  private process(node: TestNode): Message[] {
    const rd = node.raw.ready();
    if (rd.snapshot) node.storage.applySnapshot(rd.snapshot);
    node.storage.append(rd.entries);
    if (rd.hardState) node.storage.setHardState(rd.hardState);
    if (rd.snapshot) node.applied = [];
    for (const e of rd.committed) node.applied.push(e);
    node.readStates.push(...rd.readStates);
    node.abortedReads.push(...rd.abortedReads);
    node.raw.advance(rd);
    return [...rd.messages];
  }

  /** Runs Ready cycles and delivers messages until nothing moves. Returns the messages delivered. */
  settle(maxRounds = 1000): Message[] {
    const out: Message[] = [];
    for (let round = 0; round < maxRounds; round++) {
      let inflight: Message[] = [];
      let busy = false;
      for (const node of this.nodes.values()) {
        if (!node.stalled && node.raw.hasReady()) {
          busy = true;
          inflight.push(...this.process(node));
        }
      }
      // advance() can create more work (a single voter commits on it): quiet means no Ready anywhere.
      if (!busy) return out;
      inflight = inflight.filter((m) => !this.cut.has(`${m.from}>${m.to}`) && !(this.dropIf?.(m) ?? false));
      for (const m of inflight) {
        const to = this.nodes.get(m.to);
        if (to === undefined) continue;
        this.delivered.push(m);
        out.push(m);
        to.raw.step(m);
      }
    }
    throw new Error(`network did not settle in ${maxRounds} rounds`);
  }

  /** Ticks one node `n` times, settling after each tick. */
  tick(id: string, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).raw.tick();
      this.settle();
    }
  }

  /** Ticks every node once (in id order), then settles. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.raw.tick();
      this.settle();
    }
  }

  /** Ticks `id` alone until it starts an election (at most 2x the election timeout), then settles. */
  campaign(id: string): void {
    const raft = this.raft(id);
    if (!raft.promotable()) throw new Error(`${id} cannot campaign`);
    const limit = 2 * raft.opts.electionTick + 1;
    const isFollower = (): boolean => raft.role === 'Follower';
    for (let i = 0; i < limit && isFollower(); i++) {
      this.node(id).raw.tick();
      this.settle();
    }
  }

  /** Ticks `id` alone (settling after each tick) until it leads; fails after `maxElections` timeouts. */
  campaignUntilLeader(id: string, maxElections = 5): void {
    const raft = this.raft(id);
    const limit = maxElections * 2 * raft.opts.electionTick;
    for (let i = 0; i < limit && raft.role !== 'Leader'; i++) {
      this.node(id).raw.tick();
      this.settle();
    }
    if (raft.role !== 'Leader') throw new Error(`${id} did not win an election in ${maxElections} attempts (role ${raft.role}, term ${raft.term})`);
  }

  leader(): TestNode | undefined {
    let best: TestNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.raw.raft.role === 'Leader' && (best === undefined || n.raw.raft.term > best.raw.raft.term)) best = n;
    }
    return best;
  }

  /** Proposes `data` on node `id` and settles. */
  propose(id: string, data: string): ReturnType<RawNode['propose']> {
    const res = this.node(id).raw.propose(enc.encode(data));
    this.settle();
    return res;
  }

  /** Payloads of the Normal non-empty entries `id` has applied. */
  appliedData(id: string): string[] {
    return this.node(id)
      .applied.filter((e) => e.type === 'Normal' && e.data.length > 0)
      .map((e) => dec.decode((e as Extract<Entry, { type: 'Normal' }>).data));
  }

  /** Terms of `id`'s log from its first index to its last. */
  logTerms(id: string): number[] {
    const log = this.raft(id).log;
    const out: number[] = [];
    for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push(log.term(i) as number);
    return out;
  }
}

/** The index a proposal was accepted at by a leader; throws for any other outcome. */
export function acceptedIndex(res: ReturnType<RawNode['propose']>): LogIndex {
  if (!res.ok || res.forwardedTo !== undefined) throw new Error(`proposal not accepted by a leader: ${JSON.stringify(res)}`);
  return res.index;
}

/** A single message addressed from -> to, for hand-driven tests. */
export function msg<T extends Message['type']>(type: T, fields: Omit<Extract<Message, { type: T }>, 'type'>): Message {
  return { type, ...fields } as unknown as Message;
}
