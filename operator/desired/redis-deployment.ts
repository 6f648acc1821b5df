import type { V1Deployment } from '@kubernetes/client-node';
import type { ClusterRef } from './cluster-ref.ts';
import { names, ownedMetadata, REDIS_PORT, selectorLabels } from './cluster-ref.ts';

/** The official image's redis user. */
const REDIS_UID = 999;

/**
 * The managed Redis (redis.mode managed): one pod, a cache only. No persistence: after a restart
 * the nodes bump the cache epoch anyway, so nothing saved would be trusted. Eviction is
 * `volatile-lru`: only keys with a TTL (every cached value and tombstone) are evicted, never the
 * epoch counter, which has none. Evicting it would restart the epoch from zero and could make
 * values cached under an old epoch number trusted again.
 */
export function redisDeployment(c: ClusterRef, input: { readonly image: string; readonly maxMemoryMb?: number }): V1Deployment {
  const maxMemoryMb = input.maxMemoryMb ?? 256;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: ownedMetadata(c, names.redis(c), 'redis'),
    spec: {
      replicas: 1,
      // Never two at once: the nodes would split their fills and invalidations between them.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selectorLabels(c, 'redis') },
      template: {
        metadata: { labels: selectorLabels(c, 'redis') },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: REDIS_UID, runAsGroup: REDIS_UID, fsGroup: REDIS_UID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'redis',
              image: input.image,
              args: ['--save', '', '--appendonly', 'no', '--maxmemory', `${maxMemoryMb}mb`, '--maxmemory-policy', 'volatile-lru', '--protected-mode', 'no'],
              ports: [{ name: 'redis', containerPort: REDIS_PORT, protocol: 'TCP' }],
              readinessProbe: { tcpSocket: { port: 'redis' }, periodSeconds: 5 },
              livenessProbe: { tcpSocket: { port: 'redis' }, periodSeconds: 10, failureThreshold: 6 },
              // Room for Redis's own overhead above maxmemory.
              resources: { requests: { cpu: '100m', memory: `${maxMemoryMb + 64}Mi` }, limits: { memory: `${Math.ceil(maxMemoryMb * 1.5) + 64}Mi` } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: { sizeLimit: '64Mi' } }],
        },
      },
    },
  };
}
