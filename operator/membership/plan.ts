/**
 * The membership planner: from what the operator observes of a cluster, the one next step that
 * moves its Raft membership and its StatefulSet towards `spec.replicas` (ARCHITECTURE §8). Pure,
 * so that every rule below is tested on its own and under random states.
 *
 * Rules:
 * - nothing changes membership without a known leader (the leader's view is the truth);
 * - scale-out, one member at a time: add the lowest missing ordinal as a learner, grow the
 *   StatefulSet to run its pod, promote it once it has caught up;
 * - scale-in, from the highest ordinal: move leadership off the victim first, remove it from the
 *   Raft group, then shrink the StatefulSet by its pod; once the group has its size, delete the
 *   volumes of removed members (per retention);
 * - a member whose pod is missing is repaired (the StatefulSet recreates the pod), never removed;
 * - never a step after which the healthy voters would not be a quorum of the voters;
 * - one step per pass: the reconciler applies it, observes again, and asks again.
 */

/** A Raft member as the leader reports it, with what the operator knows of its pod. */
export interface ObservedMember {
  readonly ordinal: number;
  readonly role: 'voter' | 'learner';
  /** Entries behind the leader's commit index (undefined: unknown). */
  readonly lag: number | undefined;
  /** Its pod exists and is ready. */
  readonly healthy: boolean;
}

export interface Observed {
  /** spec.replicas. */
  readonly desired: number;
  /** The StatefulSet's spec.replicas (pods for ordinals 0..n-1). */
  readonly statefulSetReplicas: number;
  /** Undefined when no node reports a leader. */
  readonly leader: number | undefined;
  readonly members: readonly ObservedMember[];
  /** Ordinals that have a data volume (PVC). */
  readonly volumes: readonly number[];
  /** spec.pvcRetention.whenScaled. */
  readonly deleteVolumesWhenScaled: boolean;
  /** A learner this close to the leader's commit index may be promoted. */
  readonly maxPromoteLag: number;
}

export type Step =
  | { readonly kind: 'converged' }
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'addLearner'; readonly ordinal: number }
  | { readonly kind: 'scaleStatefulSet'; readonly replicas: number }
  | { readonly kind: 'promote'; readonly ordinal: number }
  | { readonly kind: 'transferLeadership'; readonly to: number }
  | { readonly kind: 'removeMember'; readonly ordinal: number }
  | { readonly kind: 'deleteVolume'; readonly ordinal: number };

export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export function planMembership(o: Observed): Step {
  if (o.leader === undefined) return { kind: 'wait', reason: 'no leader: membership changes wait for one' };
  const voters = o.members.filter((m) => m.role === 'voter');
  const learners = o.members.filter((m) => m.role === 'learner');
  const healthyVoters = voters.filter((m) => m.healthy).length;
  const member = (ordinal: number): ObservedMember | undefined => o.members.find((m) => m.ordinal === ordinal);
  const highestMember = Math.max(-1, ...o.members.map((m) => m.ordinal));

  // A learner beyond the desired size (a scale-out that was called off) goes first: learners do
  // not count towards quorum, so removing one is always safe.
  const strayLearner = learners.filter((m) => m.ordinal >= o.desired).sort((a, b) => b.ordinal - a.ordinal)[0];
  if (strayLearner !== undefined) return { kind: 'removeMember', ordinal: strayLearner.ordinal };

  // Pods for every member: a member without its pod is repaired, whatever else is going on.
  if (o.statefulSetReplicas <= highestMember) return { kind: 'scaleStatefulSet', replicas: highestMember + 1 };

  // Scale-out step 3: promote a learner that has caught up.
  const learner = learners.sort((a, b) => a.ordinal - b.ordinal)[0];
  if (learner !== undefined) {
    if (!learner.healthy || learner.lag === undefined || learner.lag > o.maxPromoteLag) return { kind: 'wait', reason: `learner ${learner.ordinal} is catching up` };
    // Safe for quorum: with h >= quorum(v) healthy voters, h + 1 >= quorum(v) + 1 >= quorum(v + 1).
    return { kind: 'promote', ordinal: learner.ordinal };
  }

  // Pods of members removed by a scale-in go next, one removal at a time (a removed member keeps
  // running until then, harmlessly: PreVote keeps it from disrupting the group).
  if (o.statefulSetReplicas > highestMember + 1) return { kind: 'scaleStatefulSet', replicas: highestMember + 1 };

  if (voters.length < o.desired) {
    // Scale-out step 1: the lowest ordinal that is not a member joins as a learner. Do not grow
    // while the group is unhealthy: a new member needs the leader's attention to catch up.
    if (healthyVoters < voters.length) return { kind: 'wait', reason: 'a voter is unhealthy: repair before growing' };
    let ordinal = 0;
    while (member(ordinal) !== undefined) ordinal++;
    return { kind: 'addLearner', ordinal };
  }

  if (voters.length > o.desired) {
    // Scale-in, from the highest ordinal.
    const victim = voters.sort((a, b) => b.ordinal - a.ordinal)[0] as ObservedMember;
    if (victim.ordinal === o.leader) {
      const to = voters.filter((m) => m.ordinal < o.desired && m.healthy && m.lag !== undefined && m.lag <= o.maxPromoteLag).sort((a, b) => (a.lag ?? 0) - (b.lag ?? 0) || a.ordinal - b.ordinal)[0];
      return to === undefined ? { kind: 'wait', reason: 'no caught-up voter to hand leadership to' } : { kind: 'transferLeadership', to: to.ordinal };
    }
    const healthyAfter = healthyVoters - (victim.healthy ? 1 : 0);
    if (healthyAfter < quorum(voters.length - 1)) return { kind: 'wait', reason: `removing ${victim.ordinal} would leave no healthy quorum` };
    return { kind: 'removeMember', ordinal: victim.ordinal };
  }

  // Membership is as desired: tidy the volumes of removed members.
  if (o.deleteVolumesWhenScaled) {
    const orphan = o.volumes.filter((v) => v >= o.statefulSetReplicas && member(v) === undefined).sort((a, b) => b - a)[0];
    if (orphan !== undefined) return { kind: 'deleteVolume', ordinal: orphan };
  }
  if (healthyVoters < voters.length) return { kind: 'wait', reason: 'a voter is unhealthy: the StatefulSet is recreating its pod' };
  return { kind: 'converged' };
}
