import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { ClusterRef } from './cluster-ref.ts';
import { names, ownedMetadata, selectorLabels } from './cluster-ref.ts';

/**
 * A PodDisruptionBudget that keeps a Raft quorum through voluntary disruptions (node drains):
 * of n voters, at most n - (floor(n/2) + 1) = floor((n - 1) / 2) may be evicted at once. A single
 * voter has no redundancy to protect: it gets no budget (undefined), rather than one that blocks
 * every drain forever. Pods that are not ready may always be evicted (they count for nothing).
 */
export function podDisruptionBudget(c: ClusterRef): V1PodDisruptionBudget | undefined {
  const replicas = c.spec.replicas;
  if (replicas < 3) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: ownedMetadata(c, names.pdb(c), 'node'),
    spec: {
      maxUnavailable: Math.floor((replicas - 1) / 2),
      selector: { matchLabels: selectorLabels(c, 'node') },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}
