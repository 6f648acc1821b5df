import { createHash } from 'node:crypto';
import type { V1Affinity, V1StatefulSet, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { ClusterRef } from './cluster-ref.ts';
import { HTTP_PORT, names, ownedMetadata, PEER_PORT, selectorLabels } from './cluster-ref.ts';
import { nodeConfig, REDIS_PASSWORD_FILE } from './config-map.ts';

/** The pod template annotation that changes whenever the shared node settings change. */
export const CONFIG_HASH_ANNOTATION = 'eventraft.io/config-hash';
export const DATA_MOUNT = '/var/lib/eventraft';
export const ADMIN_TOKEN_FILE = '/etc/eventraft/admin/token';
/** The image's non-root user (see the Dockerfile). */
export const NODE_UID = 10001;

export interface StatefulSetInput {
  /** The StatefulSet's replicas: the reconciler moves it one member at a time, not to spec.replicas at once. */
  readonly replicas: number;
  /** spec.image, or the operator's own image. */
  readonly image: string;
}

/** A digest of the shared node settings: in the pod template, so that a change makes a new revision. */
export function configHash(c: ClusterRef): string {
  const data = nodeConfig(c).data ?? {};
  const canonical = JSON.stringify(Object.keys(data).sort().map((k) => [k, data[k]]));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * The node StatefulSet. Choices that keep Raft safe:
 * - podManagementPolicy Parallel: the founding members must start together (a lone first pod
 *   can never become ready: readiness needs a leader, which needs a quorum), and the operator
 *   sequences scaling itself, one member at a time;
 * - updateStrategy OnDelete: the operator replaces pods itself, one at a time, the leader last
 *   after a leadership transfer, each step gated on Raft catch-up, which no built-in strategy does;
 * - PVCs are kept on scale-in (whenScaled Retain): the operator deletes a removed member's volume
 *   itself, after the member is out of the Raft group, per spec.pvcRetention;
 * - a startup probe lets a node replay a long log without being killed; liveness is only "the
 *   process answers"; readiness is /readyz (a member with a known leader, caught up).
 */
export function statefulSet(c: ClusterRef, input: StatefulSetInput): V1StatefulSet {
  const { spec } = c;
  const podHost = `$(POD_NAME).${names.peerService(c)}.${c.namespace}.svc`;
  const mounts: V1VolumeMount[] = [
    { name: 'data', mountPath: DATA_MOUNT },
    // The root filesystem is read-only; Node and lmdb may want a scratch directory.
    { name: 'tmp', mountPath: '/tmp' },
    { name: 'admin-token', mountPath: '/etc/eventraft/admin', readOnly: true },
  ];
  const volumes: V1Volume[] = [
    { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
    { name: 'admin-token', secret: { secretName: names.adminToken(c), defaultMode: 0o440 } },
  ];
  const password = spec.redis.mode === 'external' ? spec.redis.passwordSecretRef : undefined;
  if (password !== undefined) {
    mounts.push({ name: 'redis-password', mountPath: '/etc/eventraft/redis', readOnly: true });
    volumes.push({ name: 'redis-password', secret: { secretName: password.name, items: [{ key: password.key, path: REDIS_PASSWORD_FILE.split('/').at(-1) as string }], defaultMode: 0o440 } });
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: ownedMetadata(c, names.statefulSet(c), 'node'),
    spec: {
      serviceName: names.peerService(c),
      replicas: input.replicas,
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Retain', whenDeleted: spec.pvcRetention.whenDeleted },
      selector: { matchLabels: selectorLabels(c, 'node') },
      template: {
        metadata: { labels: selectorLabels(c, 'node'), annotations: { [CONFIG_HASH_ANNOTATION]: configHash(c) } },
        spec: {
          // Nodes never call the Kubernetes API.
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // SIGTERM: a leader hands over leadership, then the node flushes and exits (within 10 s).
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: NODE_UID, runAsGroup: NODE_UID, fsGroup: NODE_UID, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } },
          affinity: (spec.affinity) ?? defaultAffinity(c),
          ...(spec.topologySpreadConstraints === undefined ? {} : { topologySpreadConstraints: spec.topologySpreadConstraints as never }),
          containers: [
            {
              name: 'node',
              image: input.image,
              ...(spec.imagePullPolicy === undefined ? {} : { imagePullPolicy: spec.imagePullPolicy }),
              args: ['node'],
              ports: [
                { name: 'peer', containerPort: PEER_PORT, protocol: 'TCP' },
                { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
              ],
              envFrom: [{ configMapRef: { name: names.config(c) } }, { configMapRef: { name: names.bootstrap(c), optional: true } }],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'EVENTRAFT_NODE_ID', value: '$(POD_NAME)' },
                { name: 'EVENTRAFT_PEER_LISTEN', value: `0.0.0.0:${PEER_PORT}` },
                { name: 'EVENTRAFT_PEER_ADVERTISE', value: `${podHost}:${PEER_PORT}` },
                { name: 'EVENTRAFT_HTTP_LISTEN', value: `0.0.0.0:${HTTP_PORT}` },
                { name: 'EVENTRAFT_HTTP_ADVERTISE', value: `${podHost}:${HTTP_PORT}` },
                { name: 'EVENTRAFT_DATA_DIR', value: `${DATA_MOUNT}/data` },
                { name: 'EVENTRAFT_ADMIN_TOKEN_FILE', value: ADMIN_TOKEN_FILE },
              ],
              ...(spec.resources === undefined ? {} : { resources: spec.resources as never }),
              startupProbe: { httpGet: { path: '/livez', port: 'http' }, periodSeconds: 5, failureThreshold: 120 },
              livenessProbe: { httpGet: { path: '/livez', port: 'http' }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data', labels: selectorLabels(c, 'node') },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: spec.storage.size } },
            ...(spec.storage.storageClassName === undefined ? {} : { storageClassName: spec.storage.storageClassName }),
          },
        },
      ],
    },
  };
}

/** Nodes preferably on different hosts: one host failing should take one member, not a quorum. */
function defaultAffinity(c: ClusterRef): V1Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorLabels(c, 'node') } } }],
    },
  };
}
