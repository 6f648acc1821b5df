import { describe, expect, it } from '@jest/globals';
import { SeededRandom, makeMembership, quorumSize } from '../../../../../node/core/raft/index.ts';
import type { LogIndex, NodeId } from '../../../../../node/core/raft/index.ts';
import { applyConfChange, quorumMatchIndex, voteResult } from '../../../../../node/core/raft/membership.ts';
import { Inflights, Progress } from '../../../../../node/core/raft/progress.ts';

const li = (n: number): LogIndex => n as LogIndex;
const ids = (...s: string[]): NodeId[] => s as NodeId[];

describe('Progress', () => {
  it('in Probe sends one append at a time; an answer unpauses it', () => {
    const pr = new Progress(li(10), 8, 0);
    expect(pr.isPaused()).toBe(false);
    pr.probeSent = true;
    expect(pr.isPaused()).toBe(true);
    expect(pr.maybeUpdate(li(9))).toBe(true);
    expect(pr.isPaused()).toBe(false);
  });

  it('maybeDecrTo ignores stale rejections and never goes below match + 1', () => {
    const pr = new Progress(li(10), 8, 0);
    pr.match = li(5);
    expect(pr.maybeDecrTo(li(7), li(2))).toBe(false); // not the probe we sent (next - 1 = 9)
    expect(pr.maybeDecrTo(li(9), li(2))).toBe(true);
    expect(pr.next).toBe(6);
    pr.becomeReplicate();
    expect(pr.maybeDecrTo(li(4), li(0))).toBe(false); // below match: stale in Replicate
  });

  it('resumes right after a snapshot when leaving the Snapshot state', () => {
    const pr = new Progress(li(3), 8, 0);
    pr.becomeSnapshot(li(50));
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(pr.next).toBe(51);
  });

  it('Inflights is full by count or by bytes, and frees acknowledged messages in order', () => {
    const inf = new Inflights(3, 1000);
    inf.add(li(5), 100);
    inf.add(li(8), 100);
    expect(inf.full()).toBe(false);
    inf.add(li(9), 900);
    expect(inf.full()).toBe(true);
    inf.freeLE(li(8));
    expect(inf.count).toBe(1);
    expect(inf.bytes).toBe(900);
    expect(inf.full()).toBe(false);
  });
});

describe('quorum', () => {
  it('§5.3 the committed index is the highest index stored on a majority of voters', () => {
    const m = makeMembership(ids('a', 'b', 'c', 'd', 'e'), ids('l'));
    const match: Record<string, number> = { a: 9, b: 7, c: 7, d: 3, e: 1, l: 100 };
    expect(quorumSize(m)).toBe(3);
    expect(quorumMatchIndex(m, (id) => li(match[id] ?? 0))).toBe(7); // the learner's 100 does not count
  });

  it('tallies votes among voters only', () => {
    const m = makeMembership(ids('a', 'b', 'c'), ids('l'));
    const votes = new Map<NodeId, boolean>([
      ['a' as NodeId, true],
      ['l' as NodeId, true],
    ]);
    expect(voteResult(m, votes)).toBe('Pending');
    votes.set('b' as NodeId, false);
    votes.set('c' as NodeId, false);
    expect(voteResult(m, votes)).toBe('Lost');
    votes.set('c' as NodeId, true);
    expect(voteResult(makeMembership(ids('a', 'b', 'c')), votes)).toBe('Won');
  });

  it('single-server changes alter the voter set by at most one member', () => {
    const m = makeMembership(ids('a', 'b', 'c'));
    const added = applyConfChange(m, { type: 'AddLearner', nodeId: 'd' as NodeId, address: 'x' });
    expect(added.ok && added.membership.voters).toEqual(['a', 'b', 'c']);
    if (!added.ok) throw new Error('unreachable');
    const promoted = applyConfChange(added.membership, { type: 'PromoteLearner', nodeId: 'd' as NodeId });
    expect(promoted.ok && promoted.membership.voters).toEqual(['a', 'b', 'c', 'd']);
    expect(applyConfChange(makeMembership(ids('a')), { type: 'RemoveNode', nodeId: 'a' as NodeId })).toEqual({ ok: false, detail: 'cannot remove the last voter' });
  });
});

describe('SeededRandom', () => {
  it('is reproducible from its seed and stays within bounds', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const xs = Array.from({ length: 1000 }, () => a.int(10));
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.int(10)));
    expect(Math.min(...xs)).toBe(0);
    expect(Math.max(...xs)).toBe(9);
    expect(new SeededRandom(43).int(1_000_000)).not.toBe(new SeededRandom(42).int(1_000_000));
    expect(() => a.int(0)).toThrow(RangeError);
  });
});
