import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { quorum } from '../../../operator/membership/plan.ts';
import type { ObservedMember } from '../../../operator/membership/plan.ts';
import { planRollingUpdate } from '../../../operator/membership/rolling-update.ts';
import type { RollingObserved, RollingStep } from '../../../operator/membership/rolling-update.ts';

const voters = (n: number, over: Partial<Record<number, Partial<ObservedMember>>> = {}): ObservedMember[] =>
  Array.from({ length: n }, (_, ordinal) => ({ ordinal, role: 'voter' as const, lag: 0, healthy: true, ...over[ordinal] }));

function observed(n: number, leader: number | undefined, outdated: readonly number[], over: Partial<Record<number, Partial<ObservedMember>>> = {}): RollingObserved {
  return {
    leader,
    members: voters(n, over),
    pods: Array.from({ length: n }, (_, ordinal) => ({ ordinal, revision: outdated.includes(ordinal) ? 'old' : 'new' })),
    updateRevision: 'new',
    maxLag: 10,
  };
}

describe('planRollingUpdate', () => {
  it('is converged when every pod runs the update revision', () => {
    expect(planRollingUpdate(observed(3, 0, []))).toEqual({ kind: 'converged' });
  });

  it('replaces followers first, from the highest ordinal, and the leader last after handing leadership over', () => {
    expect(planRollingUpdate(observed(3, 2, [0, 1, 2]))).toEqual({ kind: 'replacePod', ordinal: 1 });
    expect(planRollingUpdate(observed(3, 2, [0, 2]))).toEqual({ kind: 'replacePod', ordinal: 0 });
    expect(planRollingUpdate(observed(3, 2, [2], { 0: { lag: 3 }, 1: { lag: 1 } }))).toEqual({ kind: 'transferLeadership', to: 1 });
  });

  it('waits while any member is unhealthy or behind: the pod replaced last must have caught up first', () => {
    expect(planRollingUpdate(observed(3, 0, [1, 2], { 2: { healthy: false } })).kind).toBe('wait');
    expect(planRollingUpdate(observed(3, 0, [1], { 2: { lag: 11 } })).kind).toBe('wait');
    expect(planRollingUpdate(observed(3, 0, [1], { 2: { lag: undefined } })).kind).toBe('wait');
    expect(planRollingUpdate(observed(3, undefined, [1])).kind).toBe('wait');
  });

  it('replaces the only voter of a one-member cluster (it has no other way to change)', () => {
    expect(planRollingUpdate(observed(1, 0, [0]))).toEqual({ kind: 'replacePod', ordinal: 0 });
  });

  it('property: never takes down a pod unless the others keep a healthy quorum, and never the leader while it leads a group', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 3, 5, 7), fc.nat(6), fc.array(fc.nat(6)), fc.array(fc.tuple(fc.nat(6), fc.boolean(), fc.option(fc.nat(20), { nil: undefined }))), (n, leaderSeed, outdatedSeed, memberSeed) => {
        const over: Partial<Record<number, Partial<ObservedMember>>> = {};
        for (const [o, healthy, lag] of memberSeed) over[o % n] = { healthy, lag };
        const o = observed(n, leaderSeed % n, outdatedSeed.map((x) => x % n), over);
        const step: RollingStep = planRollingUpdate(o);
        if (step.kind === 'replacePod') {
          const others = o.members.filter((m) => m.ordinal !== step.ordinal && m.healthy).length;
          if (n > 1) {
            expect(others).toBeGreaterThanOrEqual(quorum(n));
            expect(step.ordinal).not.toBe(o.leader);
          }
          expect(o.pods.find((p) => p.ordinal === step.ordinal)?.revision).toBe('old');
        }
        if (step.kind === 'transferLeadership') {
          const to = o.members.find((m) => m.ordinal === step.to);
          expect(to?.healthy).toBe(true);
          expect(to?.lag).toBeLessThanOrEqual(o.maxLag);
        }
      }),
    );
  });
});
