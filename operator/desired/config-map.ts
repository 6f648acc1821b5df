import type { V1ConfigMap } from '@kubernetes/client-node';
import type { ClusterRef } from './cluster-ref.ts';
import { names, ownedMetadata, REDIS_PORT } from './cluster-ref.ts';

/** Where the StatefulSet mounts the external Redis password (passwordSecretRef). */
export const REDIS_PASSWORD_FILE = '/etc/eventraft/redis/password';

/**
 * The node settings shared by every pod of the cluster (environment variables of node/config.ts).
 * Per-pod settings (node id, advertised addresses) come from the pod itself; how a pod starts
 * (bootstrap or join) is not here, because it changes once the cluster has formed and must not
 * roll the pods. A change here rolls the nodes (the StatefulSet carries a hash of this data).
 */
export function nodeConfig(c: ClusterRef): V1ConfigMap {
  const { raft, redis } = c.spec;
  const data: Record<string, string> = {
    EVENTRAFT_CLUSTER_ID: `${c.namespace}.${c.name}`,
    // The Raft tick is the heartbeat; the election timeout is a whole number of ticks (>= 2, by
    // the CRD's rule electionTimeoutMs >= 2 x heartbeatMs).
    EVENTRAFT_TICK_MS: String(raft.heartbeatMs),
    EVENTRAFT_HEARTBEAT_TICKS: '1',
    EVENTRAFT_ELECTION_TICKS: String(Math.floor(raft.electionTimeoutMs / raft.heartbeatMs)),
    EVENTRAFT_SNAPSHOT_THRESHOLD: String(raft.snapshotThreshold),
    EVENTRAFT_LOG_LEVEL: 'info',
  };
  if (redis.mode !== 'disabled') {
    data.EVENTRAFT_REDIS_URL = redis.mode === 'managed' ? `redis://${names.redis(c)}.${c.namespace}.svc:${REDIS_PORT}` : (redis.url as string);
    data.EVENTRAFT_CACHE_TTL_MS = String(redis.ttlSeconds * 1000);
    if (redis.passwordSecretRef !== undefined) data.EVENTRAFT_REDIS_PASSWORD_FILE = REDIS_PASSWORD_FILE;
  }
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: ownedMetadata(c, names.config(c), 'node'), data };
}
