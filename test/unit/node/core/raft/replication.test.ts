import { describe, expect, it } from '@jest/globals';
import { MemoryStorage, RawNode, SeededRandom, entrySize } from '../../../../../node/core/raft/index.ts';
import type { LogIndex, Message, NodeId } from '../../../../../node/core/raft/index.ts';
import { TestNetwork, acceptedIndex, enc } from './harness.ts';

type AppendEntries = Extract<Message, { type: 'AppendEntries' }>;
const isAppendWith = (m: Message, index: number): boolean => m.type === 'AppendEntries' && m.entries.some((e) => e.index === index);

describe('§5.3 log replication', () => {
  it('replicates entries and commits them once a majority stores them; followers learn the commit', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    for (const x of ['x', 'y', 'z']) net.propose('a', x);
    net.tickAll(1); // a heartbeat carries the latest commit index
    for (const id of ['a', 'b', 'c']) expect(net.appliedData(id)).toEqual(['x', 'y', 'z']);
  });

  it('commits with a majority even when a minority is unreachable', () => {
    const net = new TestNetwork(['a', 'b', 'c', 'd', 'e']);
    net.campaign('a');
    net.isolate('d');
    net.isolate('e');
    net.propose('a', 'x');
    expect(net.appliedData('a')).toEqual(['x']);
    expect(net.appliedData('d')).toEqual([]);
  });

  it('does not commit without a majority', () => {
    const net = new TestNetwork(['a', 'b', 'c', 'd', 'e'], { checkQuorum: false });
    net.campaign('a');
    for (const id of ['c', 'd', 'e']) net.isolate(id);
    net.propose('a', 'x');
    expect(net.appliedData('a')).toEqual([]);
    expect(net.raft('a').log.lastIndex()).toBeGreaterThan(net.raft('a').log.committed);
  });

  it('fast backtracking by term: a diverged follower is repaired in one rejected round trip', () => {
    const net = new TestNetwork(['a', 'b', 'c', 'd', 'e'], { preVote: false, checkQuorum: false });
    net.campaign('a');
    // a and b form a minority and append 30 entries that never commit.
    for (const id of ['c', 'd', 'e']) {
      net.cutLink('a', id);
      net.cutLink(id, 'a');
      net.cutLink('b', id);
      net.cutLink(id, 'b');
    }
    for (let k = 0; k < 30; k++) net.propose('a', `lost-${k}`);
    // The majority side elects c and commits 30 other entries.
    net.campaign('c');
    expect(net.raft('c').role).toBe('Leader');
    for (let k = 0; k < 30; k++) net.propose('c', `kept-${k}`);
    net.heal();
    net.isolate('a');
    const before = net.delivered.length;
    net.tick('c', 2);
    const rejections = net.delivered.slice(before).filter((m) => m.type === 'AppendEntriesResponse' && m.from === 'b' && (m).reject);
    // Without the hint the leader would walk back one entry per round trip (30 of them).
    expect(rejections.length).toBeLessThanOrEqual(1);
    expect(net.appliedData('b')).toEqual(Array.from({ length: 30 }, (_, k) => `kept-${k}`));
    expect(net.logTerms('b')).toEqual(net.logTerms('c'));
  });

  it('probes one message at a time, then streams within the in-flight window', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { maxInflightMsgs: 4 });
    net.campaign('a');
    // From here on b acknowledges nothing: the leader may have at most 4 appends outstanding to it.
    net.dropIf = (m) => m.from === 'b';
    const before = net.delivered.length;
    for (let k = 0; k < 20; k++) net.propose('a', `e${k}`);
    const toB = net.delivered.slice(before).filter((m) => m.type === 'AppendEntries' && m.to === 'b' && m.entries.length > 0);
    expect(toB).toHaveLength(4);
    expect(net.raft('a').progress.get('b' as NodeId)?.state).toBe('Replicate');
    // Entries still commit through c.
    expect(net.appliedData('a')).toHaveLength(20);
  });

  it('never sends more than maxMsgBytes of entries in one AppendEntries (but always at least one)', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { maxMsgBytes: 1000 });
    net.campaign('a');
    net.isolate('c');
    for (let k = 0; k < 40; k++) net.node('a').raw.propose(new Uint8Array(100).fill(k));
    net.settle();
    net.node('a').raw.propose(new Uint8Array(5000)); // larger than the limit on its own
    net.settle();
    net.heal();
    const before = net.delivered.length;
    net.tickAll(3);
    const appends = net.delivered.slice(before).filter((m): m is AppendEntries => m.type === 'AppendEntries' && m.to === 'c' && m.entries.length > 0);
    expect(appends.length).toBeGreaterThan(4);
    for (const m of appends) {
      const bytes = m.entries.reduce((sum, e) => sum + entrySize(e), 0);
      expect(m.entries.length === 1 || bytes <= 1000).toBe(true);
    }
    expect(net.appliedData('c')).toHaveLength(41);
  });

  it('refuses proposals beyond the uncommitted-bytes cap with Overloaded, and accepts again once they commit', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { maxUncommittedBytes: 2000, checkQuorum: false });
    net.campaign('a');
    net.isolate('a');
    const results = Array.from({ length: 30 }, () => net.node('a').raw.propose(new Uint8Array(100)));
    const overloaded = results.filter((r) => !r.ok && r.reason === 'Overloaded');
    expect(overloaded.length).toBeGreaterThan(0);
    expect(results.filter((r) => r.ok).length).toBeLessThan(30);
    net.heal();
    net.tickAll(3);
    expect(net.node('a').raw.propose(new Uint8Array(100)).ok).toBe(true);
  });
});

describe('§5.4.2 committing entries from previous terms', () => {
  /**
   * Figure 8 of the paper, on five servers. (a) s1 leads term 2 and replicates an entry at index 3
   * to s2 only. (b) s1 crashes; s5 is elected for term 3 and appends a different index 3. (c) s5
   * crashes; s1 is elected for term 4 and replicates its old term-2 entry to s3, so a majority
   * stores it. It must not count as committed: (d) s1 crashes, s5 wins term 5 with votes from
   * s2, s3 and s4 and overwrites index 3.
   */
  function figure8(): TestNetwork {
    const net = new TestNetwork(['s1', 's2', 's3', 's4', 's5'], { preVote: false, checkQuorum: false, maxMsgBytes: 1 });
    net.campaign('s1'); // term 2; its no-op at index 2 commits everywhere
    for (const id of ['s3', 's4', 's5']) net.isolate(id);
    net.propose('s1', 'from-term-2'); // index 3, on s1 and s2 only
    net.heal();
    // (b) s1 crashes; s5 wins term 3 with s3 and s4 and appends index 3 locally only.
    net.isolate('s1');
    net.dropIf = (m) => m.from === 's5' && m.type === 'AppendEntries';
    net.campaign('s5');
    expect(net.raft('s5').role).toBe('Leader');
    expect(net.raft('s5').term).toBe(3);
    net.dropIf = undefined;
    // (c) s5 crashes; s1 restarts and wins term 4 (its bid for term 3 fails: s3 and s4 voted for s5).
    // Its term-4 no-op (index 4) is kept from everyone.
    net.heal();
    net.isolate('s5');
    net.restart('s1');
    net.dropIf = (m) => isAppendWith(m, 4);
    net.campaignUntilLeader('s1');
    expect(net.raft('s1').term).toBe(4);
    // s1 replicates the term-2 entry at index 3 to s2 and s3 (as in the figure), and they ack it.
    const s1 = net.raft('s1');
    const entries = s1.log.slice(3 as LogIndex, 4 as LogIndex, Infinity);
    for (const to of ['s2', 's3']) {
      net.raft(to).step({ type: 'AppendEntries', from: 's1' as NodeId, to: to as NodeId, term: s1.term, prevLogIndex: 2 as LogIndex, prevLogTerm: s1.log.term(2 as LogIndex) ?? (0 as never), entries, leaderCommit: s1.log.committed });
    }
    net.settle();
    return net;
  }


  it('a leader never commits an older-term entry by counting replicas (Figure 8 c-d)', () => {
    const net = figure8();
    // s1, s2 and s3 now store the term-2 entry at index 3: a majority.
    for (const id of ['s1', 's2', 's3']) expect(net.raft(id).log.term(3 as LogIndex)).toBe(2);
    expect(net.raft('s1').log.committed).toBe(2);
    // (d) s1 crashes; s5 restarts: its last term 3 beats the last term 2 of s2, s3 and s4.
    net.dropIf = undefined;
    net.heal();
    net.isolate('s1');
    net.restart('s5');
    net.campaignUntilLeader('s5');
    net.tick('s5', 2);
    for (const id of ['s2', 's3', 's4']) expect(net.raft(id).log.term(3 as LogIndex)).toBe(3);
    // The overwritten entry was never applied anywhere: nothing committed was lost.
    for (const id of ['s1', 's2', 's3', 's4', 's5']) expect(net.appliedData(id)).not.toContain('from-term-2');
  });

  it('once an entry of the current term commits, the older entries below it commit too (Figure 8 e)', () => {
    const net = figure8();
    net.dropIf = undefined;
    net.tick('s1', 2); // the term-4 no-op reaches a majority
    expect(net.raft('s1').log.committed).toBeGreaterThanOrEqual(4);
    expect(net.appliedData('s1')).toEqual(['from-term-2']);
    // s5 can no longer win: a majority has a term-4 entry, more up-to-date than its term 3.
    net.heal();
    net.isolate('s1');
    net.restart('s5');
    expect(() => {
      net.campaignUntilLeader('s5');
    }).toThrow(/did not win/);
  });
});

describe('§8 / thesis §10.2.1 the leader', () => {
  it('appends a no-op of its own term on election', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    const log = net.raft('a').log;
    const [last] = log.slice(log.lastIndex(), (log.lastIndex() + 1) as LogIndex, Infinity);
    expect(last).toMatchObject({ type: 'Normal', term: net.raft('a').term });
    expect(last?.type === 'Normal' && last.data.length).toBe(0);
  });

  it('counts its own copy of an entry only after the driver made it durable (advance)', () => {
    const storage = new MemoryStorage();
    const raw = new RawNode({ id: 'solo' as NodeId, storage, random: new SeededRandom(1) });
    raw.bootstrap(['solo' as NodeId]);
    const cycle = (): void => {
      const rd = raw.ready();
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      raw.advance(rd);
    };
    cycle();
    while (raw.raft.role !== 'Leader') raw.tick();
    while (raw.hasReady()) cycle();
    const res = raw.propose(enc.encode('x'));
    expect(res.ok).toBe(true);
    const rd = raw.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([acceptedIndex(res)]);
    // Not durable yet, so not committed, although this single voter is the whole quorum.
    expect(raw.raft.log.committed).toBeLessThan(rd.entries[0]?.index ?? 0);
    storage.append(rd.entries);
    raw.advance(rd);
    expect(raw.raft.log.committed).toBe(rd.entries[0]?.index);
  });
});
