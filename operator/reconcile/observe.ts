import type { V1Pod } from '@kubernetes/client-node';
import type { ClusterRef } from '../desired/index.ts';
import { names } from '../desired/index.ts';
import type { ObservedMember } from '../membership/plan.ts';
import type { MemberStatus } from './status.ts';
import type { NodeAdmin, NodeClusterView } from './node-admin.ts';
import type { PodNetwork } from './pod-network.ts';

/** The pods of a cluster and what its nodes say, gathered once per reconcile pass. */
export interface ClusterObservation {
  /** Pods by ordinal (pods of other names are ignored). */
  readonly pods: ReadonlyMap<number, V1Pod>;
  /** The leader's ordinal and its view (the truth about membership); undefined without one. */
  readonly leader: { readonly ordinal: number; readonly view: NodeClusterView } | undefined;
  /** Members as the leader reports them, with what the operator sees of their pods. */
  readonly members: readonly ObservedMember[];
  /** For the status: role as each member reports it. */
  readonly memberStatus: readonly MemberStatus[];
}

export const CONTROLLER_REVISION_LABEL = 'controller-revision-hash';

/** The ordinal of a pod or member named `<cluster>-<ordinal>`; undefined for any other name. */
export function ordinalOf(c: ClusterRef, name: string): number | undefined {
  const prefix = `${names.statefulSet(c)}-`;
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return /^(0|[1-9][0-9]{0,3})$/.test(rest) ? Number(rest) : undefined;
}

export function isPodReady(pod: V1Pod | undefined): boolean {
  if (pod === undefined || pod.metadata?.deletionTimestamp !== undefined) return false;
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export async function observeCluster(c: ClusterRef, podList: readonly V1Pod[], network: PodNetwork, admin: NodeAdmin): Promise<ClusterObservation> {
  const pods = new Map<number, V1Pod>();
  for (const pod of podList) {
    const ordinal = ordinalOf(c, pod.metadata?.name ?? '');
    if (ordinal !== undefined) pods.set(ordinal, pod);
  }
  // Ask every pod: the leader may be any of them; a pod that is down answers nothing.
  const views = new Map<number, NodeClusterView>();
  await Promise.all(
    [...pods.keys()].map(async (ordinal) => {
      const view = await admin.status(network.httpAddress(c, ordinal));
      if (view !== undefined) views.set(ordinal, view);
    }),
  );
  // Of nodes that say they lead, the one of the highest term (a deposed leader may not know yet).
  let leader: { ordinal: number; view: NodeClusterView } | undefined;
  for (const [ordinal, view] of views) {
    if (view.role === 'leader' && (leader === undefined || view.term > leader.view.term)) leader = { ordinal, view };
  }
  if (leader === undefined) return { pods, leader: undefined, members: [], memberStatus: [] };

  const members: ObservedMember[] = [];
  const memberStatus: MemberStatus[] = [];
  for (const m of leader.view.members) {
    const ordinal = ordinalOf(c, m.id);
    if (ordinal === undefined) continue;
    const healthy = isPodReady(pods.get(ordinal)) && views.has(ordinal);
    const lag = ordinal === leader.ordinal ? 0 : m.match === null ? undefined : Math.max(0, leader.view.commitIndex - m.match);
    members.push({ ordinal, role: m.role, lag, healthy });
    const own = views.get(ordinal)?.role;
    const role: MemberStatus['role'] =
      ordinal === leader.ordinal ? 'leader' : m.role === 'learner' ? 'learner' : own === 'follower' ? 'follower' : own === 'candidate' || own === 'precandidate' ? 'candidate' : 'unknown';
    memberStatus.push({ name: m.id, role, healthy, ...(lag === undefined ? {} : { lag }) });
  }
  memberStatus.sort((a, b) => (ordinalOf(c, a.name) ?? 0) - (ordinalOf(c, b.name) ?? 0));
  return { pods, leader, members, memberStatus };
}
