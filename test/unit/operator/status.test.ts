import { describe, expect, it } from '@jest/globals';
import { rfc3339, statusChanged, withConditions } from '../../../operator/reconcile/status.ts';
import type { RaftClusterStatus } from '../../../operator/reconcile/status.ts';

describe('conditions', () => {
  const t0 = new Date('2026-12-01T10:00:00.123Z');
  const t1 = new Date('2026-12-01T10:05:00Z');

  it('keep lastTransitionTime while their status holds, and move it when the status changes', () => {
    const first = withConditions(undefined, [{ type: 'Available', status: 'True', reason: 'LeaderElected', message: 'a' }], 1, t0);
    expect(first).toEqual([{ type: 'Available', status: 'True', reason: 'LeaderElected', message: 'a', observedGeneration: 1, lastTransitionTime: '2026-12-01T10:00:00Z' }]);
    const same = withConditions(first, [{ type: 'Available', status: 'True', reason: 'LeaderElected', message: 'b' }], 2, t1);
    expect(same[0]).toMatchObject({ lastTransitionTime: '2026-12-01T10:00:00Z', message: 'b', observedGeneration: 2 });
    const changed = withConditions(same, [{ type: 'Available', status: 'False', reason: 'NoLeader', message: 'c' }], 2, t1);
    expect(changed[0]?.lastTransitionTime).toBe(rfc3339(t1));
  });
});

describe('statusChanged', () => {
  const status: RaftClusterStatus = { phase: 'Running', observedGeneration: 1, replicas: 3, readyReplicas: 3, selector: 'a=b', members: [], conditions: [] };
  it('ignores key order, and sees any value change', () => {
    const reordered = Object.fromEntries(Object.entries(status).reverse());
    expect(statusChanged(reordered, status)).toBe(false);
    expect(statusChanged({ ...status, readyReplicas: 2 }, status)).toBe(true);
    expect(statusChanged(undefined, status)).toBe(true);
  });
});
