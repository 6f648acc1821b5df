import { describe, expect, it } from '@jest/globals';
import type { LogIndex, NodeId } from '../../../../../node/core/raft/index.ts';
import { TestNetwork, enc } from './harness.ts';

/** Snapshots `id` at its applied index with `state` as data and compacts its log behind it. */
function snapshotAndCompact(net: TestNetwork, id: string, keep = 0): LogIndex {
  const node = net.node(id);
  const applied = node.raw.raft.log.applied;
  node.storage.createSnapshot(applied, node.raw.membershipAt(applied), enc.encode(`state@${applied}`));
  node.storage.compact(Math.max(applied - keep, 0) as LogIndex);
  return applied;
}

describe('§7 log compaction and snapshots', () => {
  it('sends InstallSnapshot to a follower whose next entry was compacted away; it restores and catches up', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('c');
    for (let k = 0; k < 20; k++) net.propose('a', `e${k}`);
    const at = snapshotAndCompact(net, 'a');
    net.propose('a', 'after-snapshot');
    net.heal();
    net.tickAll(3);
    const install = net.delivered.find((m) => m.type === 'InstallSnapshot' && m.to === 'c');
    expect(install).toBeDefined();
    const c = net.raft('c');
    expect(net.node('c').storage.snapshot().metadata.index).toBe(at);
    expect(c.log.committed).toBe(net.raft('a').log.committed);
    // After the snapshot, c applies only what came after it.
    expect(net.appliedData('c')).toEqual(['after-snapshot']);
    expect(c.membership.voters).toEqual(['a', 'b', 'c']);
  });

  it('a follower only slightly behind gets entries from the kept tail, not a snapshot', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    for (let k = 0; k < 10; k++) net.propose('a', `e${k}`);
    net.isolate('c');
    net.propose('a', 'missed');
    snapshotAndCompact(net, 'a', 5);
    net.heal();
    net.tickAll(3);
    expect(net.delivered.some((m) => m.type === 'InstallSnapshot')).toBe(false);
    expect(net.appliedData('c').at(-1)).toBe('missed');
  });

  it('restarts from snapshot plus log tail: same term, configuration and commit; re-applies only the tail', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    for (let k = 0; k < 6; k++) net.propose('a', `e${k}`);
    const at = snapshotAndCompact(net, 'b', 2);
    net.propose('a', 'tail-1');
    net.propose('a', 'tail-2');
    net.tickAll(1);
    const before = net.raft('b');
    const [term, commit] = [before.term, before.log.committed];
    const b = net.restart('b');
    expect(b.raw.raft.term).toBe(term);
    expect(b.raw.raft.log.committed).toBe(commit);
    expect(b.raw.raft.membership.voters).toEqual(['a', 'b', 'c']);
    expect(b.raw.raft.log.applied).toBe(at);
    net.settle();
    expect(net.appliedData('b')).toEqual(['tail-1', 'tail-2']);
  });

  it('ignores a snapshot that is not newer than what it has committed', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    const b = net.raft('b');
    const old = net.node('a').storage.snapshot();
    expect(b.restore(old)).toBe(false);
    expect(b.log.committed).toBeGreaterThan(0);
  });

  it('still answers membershipAt below a snapshot it restored while older entries await apply (sim seeds 1975, 1105, 1386)', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('c');
    for (let k = 0; k < 5; k++) net.propose('a', `e${k}`);
    snapshotAndCompact(net, 'a');
    const c = net.node('c');
    const appliedBefore = c.raw.raft.log.applied;
    // The snapshot reaches c's core while c's application has only applied up to appliedBefore.
    const snapshot = net.node('a').storage.snapshot();
    c.raw.step({ type: 'InstallSnapshot', from: 'a' as NodeId, to: 'c' as NodeId, term: net.raft('a').term, snapshot });
    expect(c.raw.raft.log.unstable.snapshot?.metadata.index).toBe(snapshot.metadata.index);
    expect(appliedBefore).toBeLessThan(snapshot.metadata.index);
    // The application finishing an older Ready may still snapshot at its applied index.
    expect(c.raw.membershipAt(appliedBefore).voters).toEqual(['a', 'b', 'c']);
  });

  it('answers membershipAt for every committed index from the latest snapshot on', () => {
    const net = new TestNetwork(['a', 'b', 'c']);
    net.campaign('a');
    net.add('d' as NodeId);
    net.node('a').raw.proposeConfChange({ type: 'AddLearner', nodeId: 'd' as NodeId, address: 'd:1' });
    net.settle();
    net.propose('a', 'x');
    const a = net.node('a').raw;
    expect(a.membershipAt(1 as LogIndex).learners).toEqual([]);
    expect(a.membershipAt(a.raft.log.applied).learners).toEqual(['d']);
  });
});
