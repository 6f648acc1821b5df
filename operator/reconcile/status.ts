/**
 * The RaftCluster's status, computed from one pass's observations (pure). Conditions keep their
 * lastTransitionTime while their status does not change, so that a status written only when it
 * changed (the reconciler compares) is not rewritten every pass by a ticking clock.
 */

export type Phase = 'Pending' | 'Creating' | 'Running' | 'Scaling' | 'Upgrading' | 'Degraded' | 'Paused' | 'Invalid' | 'Deleting';

export interface Condition {
  readonly type: 'Available' | 'Progressing' | 'Degraded' | 'QuorumHealthy';
  readonly status: 'True' | 'False' | 'Unknown';
  readonly observedGeneration: number;
  readonly lastTransitionTime: string;
  readonly reason: string;
  readonly message: string;
}

export interface MemberStatus {
  readonly name: string;
  readonly role: 'leader' | 'follower' | 'learner' | 'candidate' | 'unknown';
  readonly healthy: boolean;
  readonly lag?: number;
}

export interface RaftClusterStatus {
  readonly phase: Phase;
  readonly observedGeneration: number;
  readonly replicas: number;
  readonly readyReplicas: number;
  readonly selector: string;
  readonly leader?: string;
  readonly term?: number;
  readonly commitIndex?: number;
  readonly members: readonly MemberStatus[];
  readonly conditions: readonly Condition[];
}

type ConditionInput = Omit<Condition, 'observedGeneration' | 'lastTransitionTime'>;

/** Sets each condition, keeping the previous lastTransitionTime when its status is the same. */
export function withConditions(previous: readonly Condition[] | undefined, next: readonly ConditionInput[], generation: number, now: Date): Condition[] {
  return next.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime = before?.status === c.status ? before.lastTransitionTime : rfc3339(now);
    return { ...c, observedGeneration: generation, lastTransitionTime };
  });
}

/** Kubernetes times are RFC 3339 to the second. */
export function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** Whether two statuses differ in anything but key order (the test for writing it). */
export function statusChanged(current: unknown, next: RaftClusterStatus): boolean {
  return canonical(current ?? {}) !== canonical(next);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
}
