import type { ObservedMember } from './plan.ts';
import { quorum } from './plan.ts';

/**
 * The rolling-update planner: which pod to replace next when the pod template changed (image or
 * node config), with the StatefulSet on OnDelete so that nothing rolls unless this says so.
 * Pure, like the membership planner, and run only once membership has converged.
 *
 * Rules:
 * - one pod at a time: nothing is replaced unless every member is healthy and caught up, so
 *   the pod replaced last has rejoined and caught up before the next goes (Raft catch-up, not
 *   only pod readiness);
 * - never a replacement that would leave the voters without a healthy quorum (a one-voter
 *   cluster is the exception: it has no other way to change, and is unavailable meanwhile);
 * - followers first, from the highest ordinal; the leader last, after its leadership has been
 *   handed to a caught-up voter, so that the cluster has one election's worth of unavailability
 *   at most, never one per pod.
 */

export interface RollingPod {
  readonly ordinal: number;
  /** Its controller-revision-hash label. */
  readonly revision: string | undefined;
}

export interface RollingObserved {
  readonly leader: number | undefined;
  readonly members: readonly ObservedMember[];
  readonly pods: readonly RollingPod[];
  /** The StatefulSet's status.updateRevision (current for its generation). */
  readonly updateRevision: string;
  readonly maxLag: number;
}

export type RollingStep =
  | { readonly kind: 'converged' }
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'transferLeadership'; readonly to: number }
  | { readonly kind: 'replacePod'; readonly ordinal: number };

export function planRollingUpdate(o: RollingObserved): RollingStep {
  const outdated = o.pods.filter((p) => p.revision !== o.updateRevision).map((p) => p.ordinal);
  if (outdated.length === 0) return { kind: 'converged' };
  if (o.leader === undefined) return { kind: 'wait', reason: 'no leader: the roll waits for one' };
  const lagging = o.members.find((m) => !m.healthy || m.lag === undefined || m.lag > o.maxLag);
  if (lagging !== undefined) return { kind: 'wait', reason: `member ${lagging.ordinal} is not healthy and caught up yet` };
  const voters = o.members.filter((m) => m.role === 'voter');
  if (voters.length > 1 && voters.length - 1 < quorum(voters.length)) return { kind: 'wait', reason: 'replacing a pod would leave no quorum' };

  const follower = outdated.filter((ordinal) => ordinal !== o.leader).sort((a, b) => b - a)[0];
  if (follower !== undefined) return { kind: 'replacePod', ordinal: follower };
  // Only the leader is left.
  if (voters.length === 1) return { kind: 'replacePod', ordinal: o.leader };
  const to = voters.filter((m) => m.ordinal !== o.leader).sort((a, b) => (a.lag ?? 0) - (b.lag ?? 0) || a.ordinal - b.ordinal)[0] as ObservedMember;
  return { kind: 'transferLeadership', to: to.ordinal };
}
