import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { GROUP, KIND, VERSION } from '../crd/raftcluster-crd.ts';
import type { RaftClusterSpec } from '../spec/raftcluster-spec.ts';

/** The RaftCluster being reconciled: what every desired-object builder starts from. */
export interface ClusterRef {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly spec: RaftClusterSpec;
}

/** Container ports of a node (fixed: pods have their own IPs). */
export const PEER_PORT = 7000;
export const HTTP_PORT = 8080;
export const REDIS_PORT = 6379;

/** What a name or a selector depends on: the cluster's name only. */
type Named = Pick<ClusterRef, 'name'>;

/** Names of the objects the operator owns for cluster `name`. */
export const names = {
  statefulSet: (c: Named): string => c.name,
  /** Headless: gives each pod the stable DNS name peers dial. */
  peerService: (c: Named): string => `${c.name}-peers`,
  /** What clients use: ready nodes only. */
  clientService: (c: Named): string => c.name,
  config: (c: Named): string => `${c.name}-config`,
  pdb: (c: Named): string => c.name,
  redis: (c: Named): string => `${c.name}-redis`,
  /** How pods start (bootstrap members, then join): changes once, must not roll the pods. */
  bootstrap: (c: Named): string => `${c.name}-bootstrap`,
  /** The admin API token the operator uses, generated once. */
  adminToken: (c: Named): string => `${c.name}-admin-token`,
  pod: (c: Named, ordinal: number): string => `${c.name}-${ordinal}`,
};

/** A pod's stable DNS name, through the headless peer service. */
function podHost(c: ClusterRef, ordinal: number): string {
  return `${names.pod(c, ordinal)}.${names.peerService(c)}.${c.namespace}.svc`;
}

/** A pod's peer address, stable across restarts: <pod>.<peer service>.<namespace>.svc:7000. */
export function peerAddress(c: ClusterRef, ordinal: number): string {
  return `${podHost(c, ordinal)}:${PEER_PORT}`;
}

/** A pod's HTTP address (the operator's admin calls, and forwarded clients): <pod host>:8080. */
export function httpAddress(c: ClusterRef, ordinal: number): string {
  return `${podHost(c, ordinal)}:${HTTP_PORT}`;
}

export type Component = 'node' | 'redis';

/** The labels selecting a component's pods; never change them (selectors are immutable). */
export function selectorLabels(c: Named, component: Component): Record<string, string> {
  return { 'app.kubernetes.io/name': 'eventraft', 'app.kubernetes.io/instance': c.name, 'app.kubernetes.io/component': component };
}

/** Metadata of an owned object: labels, and the RaftCluster as controlling owner (GC on delete). */
export function ownedMetadata(c: ClusterRef, name: string, component: Component): V1ObjectMeta {
  const owner: V1OwnerReference = { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, name: c.name, uid: c.uid, controller: true, blockOwnerDeletion: true };
  return { name, namespace: c.namespace, labels: { ...selectorLabels(c, component), 'app.kubernetes.io/managed-by': 'eventraft-operator' }, ownerReferences: [owner] };
}
