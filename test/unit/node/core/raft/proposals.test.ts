import { describe, expect, it } from '@jest/globals';
import { TestNetwork, enc } from './harness.ts';

describe('proposals', () => {
  it('a follower forwards proposals to its leader', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    expect(net.node('b').raw.propose(enc.encode('via-b'))).toEqual({ ok: true, forwardedTo: 'a' });
    net.settle();
    net.tickAll(1);
    for (const id of ['a', 'b', 'c']) expect(net.appliedData(id)).toEqual(['via-b']);
  });

  it('with forwarding disabled a follower answers NotLeader with a hint', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { disableProposalForwarding: true });
    net.campaign('a');
    expect(net.node('b').raw.propose(enc.encode('x'))).toEqual({ ok: false, reason: 'NotLeader', leaderHint: 'a' });
  });

  it('with no leader known a proposal gets a typed NoLeader result, never an exception', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    expect(net.node('a').raw.propose(enc.encode('x'))).toEqual({ ok: false, reason: 'NoLeader' });
    net.isolate('a');
    net.tick('a', 25); // campaigning alone
    expect(net.raft('a').role).toBe('PreCandidate');
    expect(net.node('a').raw.propose(enc.encode('x'))).toEqual({ ok: false, reason: 'NoLeader' });
  });

  it('a batch lands consecutively from the returned index', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    const res = net.node('a').raw.proposeBatch(['p', 'q', 'r'].map((s) => enc.encode(s)));
    expect(res.ok && res.forwardedTo === undefined && res.index).toBe(net.raft('a').log.lastIndex() - 2);
    net.settle();
    expect(net.appliedData('c')).toEqual(['p', 'q', 'r']);
    // One AppendEntries per follower carried the whole batch.
    const appends = net.delivered.filter((m) => m.type === 'AppendEntries' && m.to === 'c' && m.entries.length === 3);
    expect(appends).toHaveLength(1);
  });

  it('a leader that lost its quorum leaves the outcome of its proposal unknown until it is applied or replaced', () => {
    const net = new TestNetwork(['a', 'b', 'c'], { checkQuorum: false, preVote: false });
    net.campaign('a');
    net.isolate('a');
    const res = net.node('a').raw.propose(enc.encode('maybe'));
    expect(res.ok).toBe(true);
    net.campaignUntilLeader('b');
    net.propose('b', 'winner');
    net.heal();
    net.tickAll(3);
    // The entry a accepted at (index, term) was replaced by another term's entry: it was lost.
    const index = res.ok && res.forwardedTo === undefined ? res.index : 0;
    expect(net.raft('a').log.term(index as never)).not.toBe(res.ok && res.forwardedTo === undefined ? res.term : -1);
    expect(net.appliedData('a')).toEqual(['winner']);
  });
});
