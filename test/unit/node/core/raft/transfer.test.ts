import { describe, expect, it } from '@jest/globals';
import type { NodeId } from '../../../../../node/core/raft/index.ts';
import { TestNetwork, enc } from './harness.ts';

const id = (s: string): NodeId => s as NodeId;

describe('thesis §3.10 leadership transfer', () => {
  it('hands leadership to an up-to-date follower with TimeoutNow', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    const term = net.raft('a').term;
    expect(net.node('a').raw.transferLeadership(id('c'))).toEqual({ ok: true });
    net.settle();
    expect(net.raft('c').role).toBe('Leader');
    expect(net.raft('c').term).toBe(term + 1);
    expect(net.raft('a').role).toBe('Follower');
    expect(net.delivered.some((m) => m.type === 'TimeoutNow' && m.to === 'c')).toBe(true);
  });

  it('brings a lagging transferee up to date before telling it to campaign', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('c');
    for (let k = 0; k < 10; k++) net.propose('a', `e${k}`);
    net.heal();
    net.node('a').raw.transferLeadership(id('c'));
    net.settle();
    expect(net.raft('c').role).toBe('Leader');
    // c could only win because it caught up first: it has every entry.
    net.propose('c', 'after');
    expect(net.appliedData('c')).toEqual([...Array.from({ length: 10 }, (_, k) => `e${k}`), 'after']);
  });

  it('refuses proposals while a transfer is in progress, and gives up after an election timeout', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('c');
    net.node('a').raw.transferLeadership(id('c'));
    net.settle();
    expect(net.node('a').raw.propose(enc.encode('x'))).toEqual({ ok: false, reason: 'TransferInProgress' });
    net.tick('a', net.raft('a').opts.electionTick);
    expect(net.raft('a').role).toBe('Leader');
    expect(net.raft('a').leadTransferee).toBe('');
    expect(net.node('a').raw.propose(enc.encode('x')).ok).toBe(true);
  });

  it('refuses to transfer to a learner or a non-member', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    expect(net.node('a').raw.transferLeadership(id('zz'))).toMatchObject({ ok: false, reason: 'InvalidTransferee' });
  });

  it('a follower forwards the request to its leader', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    expect(net.node('b').raw.transferLeadership(id('b'))).toEqual({ ok: true, forwardedTo: 'a' });
    net.settle();
    expect(net.raft('b').role).toBe('Leader');
  });

  it('a node that knows no leader answers NoLeader', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    expect(net.node('a').raw.transferLeadership(id('b'))).toEqual({ ok: false, reason: 'NoLeader' });
  });
});
