import { describe, expect, it } from '@jest/globals';
import { MemoryStorage, RawNode, SeededRandom } from '../../../../../node/core/raft/index.ts';
import type { LogIndex, Message, NodeId, Term } from '../../../../../node/core/raft/index.ts';
import { TestNetwork, msg } from './harness.ts';

const n = (s: string): NodeId => s as NodeId;
const t = (x: number): Term => x as Term;
const i = (x: number): LogIndex => x as LogIndex;

describe('§5.2 leader election', () => {
  it('elects exactly one leader that every follower recognises', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    expect(net.raft('a').role).toBe('Leader');
    expect(net.raft('a').term).toBe(2);
    for (const id of ['b', 'c']) {
      expect(net.raft(id).role).toBe('Follower');
      expect(net.raft(id).leaderId).toBe('a');
      expect(net.raft(id).term).toBe(2);
    }
  });

  it('draws election timeouts in [electionTick, 2*electionTick) from the injected seeded rng', () => {
    const timeoutOf = (seed: number): number => {
      const storage = new MemoryStorage();
      const raw = new RawNode({ id: n('a'), storage, random: new SeededRandom(seed), options: { electionTick: 10, preVote: false } });
      raw.bootstrap([n('a'), n('b'), n('c')]);
      let ticks = 0;
      while (raw.raft.role === 'Follower') {
        raw.tick();
        ticks++;
      }
      return ticks;
    };
    const timeouts = Array.from({ length: 40 }, (_, s) => timeoutOf(s));
    for (const x of timeouts) {
      expect(x).toBeGreaterThanOrEqual(10);
      expect(x).toBeLessThan(20);
    }
    expect(new Set(timeouts).size).toBeGreaterThan(3); // actually randomised
    expect(timeoutOf(7)).toBe(timeoutOf(7)); // and reproducible from the seed
  });

  it('grants at most one vote per term, first come first served', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: false });
    const c = net.raft('c');
    const vote = (from: string): Message => msg('RequestVote', { from: n(from), to: n('c'), term: t(5), lastLogIndex: i(1), lastLogTerm: t(1), leadershipTransfer: false });
    c.step(vote('a'));
    c.step(vote('b'));
    c.step(vote('a')); // a retried request gets the same answer
    const answers = c.msgs.filter((m) => m.type === 'RequestVoteResponse').map((m) => [m.to, (m).reject]);
    expect(answers).toEqual([
      ['a', false],
      ['b', true],
      ['a', false],
    ]);
    expect(c.vote).toBe('a');
  });

  it('a candidate that loses the vote returns to follower', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: false });
    net.propose('a', 'x'); // no leader yet: NoLeader, nothing appended
    net.campaign('a');
    net.propose('a', 'x');
    // c is behind (b and a have the entry); make c campaign with its stale log... by cutting it off first.
    net.isolate('c');
    net.propose('a', 'y');
    net.heal();
    net.isolate('a');
    const c = net.raft('c');
    net.campaign('c');
    // b has a longer log than c: §5.4.1 rejects; with a unreachable, c cannot win.
    expect(c.role).not.toBe('Leader');
  });
});

describe('§5.1 terms', () => {
  it('a leader steps down when any message carries a higher term', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    const a = net.raft('a');
    a.step(msg('AppendEntriesResponse', { from: n('b'), to: n('a'), term: t(9), reject: false, index: i(0), rejectHint: i(0), rejectHintTerm: t(0) }));
    expect(a.role).toBe('Follower');
    expect(a.term).toBe(9);
    expect(a.vote).toBe('');
  });

  it('ignores messages from an older term (answering a stale leader so it learns the new term)', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.campaign('b'); // b leads term 3 now... after a's lease lapses
    const b = net.raft('b');
    const before = b.log.lastIndex();
    b.step(msg('AppendEntries', { from: n('a'), to: n('b'), term: t(2), prevLogIndex: i(0), prevLogTerm: t(0), entries: [], leaderCommit: i(0) }));
    expect(b.log.lastIndex()).toBe(before);
    const reply = b.msgs.at(-1);
    expect(reply?.type).toBe('AppendEntriesResponse');
    expect(reply?.term).toBe(b.term);
  });
});

describe('votes and stale configurations', () => {
  it('grants a vote to an up-to-date candidate it does not know as a voter (its own configuration may be stale)', () => {
    // Sim seed 203152: a voter restored from an old snapshot held a configuration that predated
    // both its own promotion and the candidate's; refusing unknown candidates deadlocked the cluster.
    const storage = new MemoryStorage();
    const x = new RawNode({ id: n('x'), storage, random: new SeededRandom(1), options: { preVote: false } });
    x.bootstrap([n('a'), n('x')]);
    x.raft.step(msg('RequestVote', { from: n('b'), to: n('x'), term: t(5), lastLogIndex: i(1), lastLogTerm: t(1), leadershipTransfer: false }));
    const reply = x.raft.msgs.at(-1) as Extract<Message, { type: 'RequestVoteResponse' }>;
    expect(reply.type).toBe('RequestVoteResponse');
    expect(reply.reject).toBe(false);
  });
});

describe('§5.4.1 election restriction', () => {
  it('a voter rejects a candidate whose log is less up-to-date', () => {
    // No CheckQuorum: otherwise b's leader lease would make it ignore the request altogether.
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    net.campaign('a');
    net.propose('a', 'x');
    const b = net.raft('b');
    // A candidate in a higher term whose last entry is older than b's.
    b.step(msg('RequestVote', { from: n('c'), to: n('b'), term: t(10), lastLogIndex: i(1), lastLogTerm: t(1), leadershipTransfer: false }));
    const reply = b.msgs.at(-1) as Extract<Message, { type: 'RequestVoteResponse' }>;
    expect(reply.type).toBe('RequestVoteResponse');
    expect(reply.reject).toBe(true);
    expect(b.term).toBe(10); // the higher term is still adopted (§5.1)
  });

  it('a node whose log is behind cannot become leader', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('c');
    for (let k = 0; k < 5; k++) net.propose('a', `e${k}`);
    net.heal();
    net.isolate('a');
    // Let leases lapse on b, then c asks for votes with its stale log.
    net.tick('b', 1);
    net.campaign('c');
    expect(net.raft('c').role).not.toBe('Leader');
    net.campaign('b');
    expect(net.raft('b').role).toBe('Leader');
    expect(net.appliedData('b')).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
  });
});

describe('thesis §9.6 PreVote', () => {
  it('a partitioned node does not inflate its term, so rejoining does not depose the leader', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    const term = net.raft('a').term;
    net.isolate('c');
    net.tick('c', 100); // many election timeouts alone
    expect(net.raft('c').term).toBe(term);
    expect(net.raft('c').role).toBe('PreCandidate');
    net.heal();
    net.tickAll(3);
    expect(net.raft('a').role).toBe('Leader');
    expect(net.raft('a').term).toBe(term);
    expect(net.raft('c').leaderId).toBe('a');
  });

  it('without PreVote the same partition would have forced a new election on rejoin', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: false, checkQuorum: false });
    net.campaign('a');
    const term = net.raft('a').term;
    net.isolate('c');
    net.tick('c', 100);
    expect(net.raft('c').term).toBeGreaterThan(term + 3);
    net.heal();
    net.tickAll(25);
    expect(net.raft('a').term).toBeGreaterThan(term); // the disruption PreVote prevents
  });
});

describe('thesis §6.2 CheckQuorum and §4.2.3 leader lease', () => {
  it('a leader that cannot hear from a quorum steps down within two election timeouts', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('a');
    const a = net.raft('a');
    // The check runs every election timeout over the answers received since the previous one; the
    // answers from just before the isolation still count once.
    let ticks = 0;
    while (a.role === 'Leader' && ticks < 3 * a.opts.electionTick) {
      net.tick('a');
      ticks++;
    }
    expect(a.role).toBe('Follower');
    expect(ticks).toBeLessThanOrEqual(2 * a.opts.electionTick);
    expect(ticks).toBeGreaterThan(a.opts.electionTick - 1);
  });

  it('without CheckQuorum the isolated leader would keep believing it leads', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { checkQuorum: false });
    net.campaign('a');
    net.isolate('a');
    net.tick('a', 50);
    expect(net.raft('a').role).toBe('Leader');
  });

  it('followers that hear from a leader ignore vote requests from a disruptive node', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: false });
    net.campaign('a');
    const b = net.raft('b');
    const term = b.term;
    b.step(msg('RequestVote', { from: n('c'), to: n('b'), term: t(term + 5), lastLogIndex: i(99), lastLogTerm: t(term), leadershipTransfer: false }));
    expect(b.term).toBe(term);
    expect(b.msgs).toEqual([]);
    // ...unless it is a leadership transfer (thesis §3.10), which must bypass the lease.
    b.step(msg('RequestVote', { from: n('c'), to: n('b'), term: t(term + 1), lastLogIndex: i(99), lastLogTerm: t(term), leadershipTransfer: true }));
    expect(b.term).toBe(term + 1);
  });
});

describe('persistence (Figure 2)', () => {
  it('a restarted node keeps its term and vote, so it cannot vote twice in a term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { preVote: false });
    const c = net.raft('c');
    c.step(msg('RequestVote', { from: n('a'), to: n('c'), term: t(4), lastLogIndex: i(1), lastLogTerm: t(1), leadershipTransfer: false }));
    net.settle(); // persists term 4, vote a
    const restarted = net.restart('c').raw.raft;
    expect(restarted.term).toBe(4);
    expect(restarted.vote).toBe('a');
    restarted.step(msg('RequestVote', { from: n('b'), to: n('c'), term: t(4), lastLogIndex: i(1), lastLogTerm: t(1), leadershipTransfer: false }));
    const reply = restarted.msgs.at(-1) as Extract<Message, { type: 'RequestVoteResponse' }>;
    expect(reply.reject).toBe(true);
  });
});
