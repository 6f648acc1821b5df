import { describe, expect, it } from '@jest/globals';
import { TestNetwork } from './harness.ts';

describe('thesis §6.4 ReadIndex', () => {
  it('answers a read on the leader with its commit index once a quorum confirms it still leads', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    const a = net.node('a');
    expect(a.raw.readIndex('r1')).toEqual({ ok: true });
    net.settle();
    expect(a.readStates).toEqual([{ requestId: 'r1', index: net.raft('a').log.committed }]);
  });

  it('confirms leadership with a heartbeat round: no answer while the followers are unreachable', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { checkQuorum: false });
    net.campaign('a');
    net.isolate('a');
    net.node('a').raw.readIndex('r1');
    net.tick('a', 5);
    expect(net.node('a').readStates).toEqual([]);
    net.heal();
    net.tick('a', 1);
    expect(net.node('a').readStates.map((r) => r.requestId)).toEqual(['r1']);
  });

  it('a new leader answers no read before it commits an entry of its term', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    // a hands over to b; b wins term 3, but its no-op cannot reach anyone yet.
    net.dropIf = (m) => m.from === 'b' && m.type === 'AppendEntries';
    net.node('a').raw.transferLeadership('b' as never);
    net.settle();
    expect(net.raft('b').role).toBe('Leader');
    const b = net.node('b');
    expect(b.raw.readIndex('early').ok).toBe(true);
    net.tick('b', 3); // heartbeats flow, but the term-3 no-op is not committed
    expect(b.readStates).toEqual([]);
    net.dropIf = undefined;
    net.tick('b', 2);
    expect(b.readStates.map((r) => r.requestId)).toEqual(['early']);
    // The answer covers the no-op of its term, hence everything committed before.
    expect(b.readStates[0]?.index).toBe(net.raft('b').log.committed);
  });

  it('a deposed leader never confirms a read: it aborts it when it learns of the new term', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { checkQuorum: false, preVote: false });
    net.campaign('a');
    net.isolate('a');
    net.node('a').raw.readIndex('stale');
    net.campaignUntilLeader('b');
    net.propose('b', 'after');
    net.heal();
    net.tickAll(3);
    expect(net.node('a').readStates).toEqual([]);
    expect(net.node('a').abortedReads).toEqual(['stale']);
    expect(net.raft('a').role).toBe('Follower');
  });

  it('a follower forwards the read to the leader and gets the index back', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    const b = net.node('b');
    expect(b.raw.readIndex('rb')).toEqual({ ok: true, forwardedTo: 'a' });
    net.settle();
    expect(b.readStates).toEqual([{ requestId: 'rb', index: net.raft('a').log.committed }]);
  });

  it('a forwarded read lost on the way is answered when the follower asks again', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    const b = net.node('b');
    net.dropIf = (m) => m.type === 'ReadIndex';
    b.raw.readIndex('rb');
    net.settle();
    expect(b.readStates).toEqual([]);
    net.dropIf = undefined;
    expect(b.raw.readIndex('rb')).toEqual({ ok: true, forwardedTo: 'a' });
    net.settle();
    expect(b.readStates).toEqual([{ requestId: 'rb', index: net.raft('a').log.committed }]);
  });

  it('a retry of a read the leader is still confirming starts no second heartbeat round', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    let heartbeats = 0;
    net.dropIf = (m) => m.from === 'a' && m.type === 'Heartbeat' && ++heartbeats > 0;
    const a = net.node('a');
    a.raw.readIndex('r');
    net.settle();
    const first = heartbeats;
    a.raw.readIndex('r');
    net.settle();
    expect([first, heartbeats]).toEqual([2, 2]);
    net.dropIf = undefined;
    net.tick('a', 1);
    expect(a.readStates.map((r) => r.requestId)).toEqual(['r']);
  });

  it('a node that knows no leader says so instead of queueing the read', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    expect(net.node('b').raw.readIndex('r')).toEqual({ ok: false, reason: 'NoLeader' });
  });

  it('a single voter answers at once once it committed in its term', () => {
    const net = new TestNetwork(['solo']);
    net.campaignUntilLeader('solo');
    net.settle();
    net.node('solo').raw.readIndex('r');
    net.settle();
    expect(net.node('solo').readStates).toEqual([{ requestId: 'r', index: net.raft('solo').log.committed }]);
  });
});
