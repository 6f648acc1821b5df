/**
 * The RaftCluster custom resource definition (ARCHITECTURE §8), written once here: the CRD file in
 * `crds/` is generated from it (`npm run crds`, checked by a test), and the operator validates
 * specs with ajv against the same schema. Only API features of Kubernetes 1.28 are used: CEL rules
 * (`x-kubernetes-validations`, beta and on by default since 1.25) with `rule` and `message`, and
 * the strings library for sizes (no `quantity()`, which needs 1.29).
 */

export const GROUP = 'eventraft.io';
export const VERSION = 'v1alpha1';
export const KIND = 'RaftCluster';
export const PLURAL = 'raftclusters';
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** A JSON Schema (OpenAPI v3 subset of Kubernetes structural schemas). */
export type Schema = Readonly<Record<string, unknown>>;

/** Sizes are whole Mi, Gi or Ti, so that CEL on Kubernetes 1.28 can compare them. */
export const SIZE_PATTERN = '^[1-9][0-9]{0,5}(Mi|Gi|Ti)$';
/** A size in Mi, in CEL (`s` is a string matching SIZE_PATTERN). */
const mebibytes = (s: string): string => `(${s}.endsWith('Ti') ? 1048576 : ${s}.endsWith('Gi') ? 1024 : 1) * int(${s}.substring(0, size(${s}) - 2))`;

const quantity: Schema = {
  'x-kubernetes-int-or-string': true,
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
};

const resources: Schema = {
  type: 'object',
  description: 'CPU and memory for each node container, as in a Pod spec.',
  properties: {
    requests: { type: 'object', additionalProperties: quantity, description: 'Resources the scheduler reserves, e.g. cpu: 500m, memory: 512Mi.' },
    limits: { type: 'object', additionalProperties: quantity, description: 'Upper bounds, e.g. memory: 1Gi.' },
  },
};

const spec: Schema = {
  type: 'object',
  description: 'The desired cluster.',
  properties: {
    replicas: {
      type: 'integer',
      minimum: 1,
      maximum: 9,
      default: 3,
      description: 'Raft voters: 1, 3, 5, 7 or 9 (an odd number, so that quorum is a strict majority). Scaling adds or removes one member at a time.',
      'x-kubernetes-validations': [{ rule: 'self % 2 == 1', message: 'replicas must be odd (1, 3, 5, 7 or 9)' }],
    },
    image: { type: 'string', minLength: 1, maxLength: 1024, description: "The node image. Defaults to the operator's own image; a change rolls the nodes one at a time, leader last." },
    imagePullPolicy: { type: 'string', enum: ['Always', 'IfNotPresent', 'Never'], description: 'As in a Pod spec.' },
    resources,
    storage: {
      type: 'object',
      description: 'The data volume of each node (Raft log, snapshots, event store).',
      default: {},
      properties: {
        size: { type: 'string', pattern: SIZE_PATTERN, maxLength: 8, default: '10Gi', description: 'Whole Mi, Gi or Ti. May grow (if the storage class allows expansion), never shrink.' },
        storageClassName: { type: 'string', maxLength: 253, description: "The storage class; the cluster's default when unset. Immutable." },
      },
      'x-kubernetes-validations': [
        { rule: `${mebibytes('self.size')} >= ${mebibytes('oldSelf.size')}`, message: 'storage.size may grow, never shrink' },
        { rule: 'has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)', message: 'storage.storageClassName is immutable' },
      ],
    },
    redis: {
      type: 'object',
      description: 'The Redis cache in front of aggregate and projection reads.',
      default: {},
      properties: {
        mode: { type: 'string', enum: ['managed', 'external', 'disabled'], default: 'managed', description: 'managed: the operator runs a Redis Deployment for this cluster; external: use `url`; disabled: no cache.' },
        url: { type: 'string', maxLength: 2048, pattern: '^rediss?://[^/@\\s]+(:[0-9]+)?(/[0-9]+)?$', description: 'redis:// or rediss:// (TLS) URL of an external Redis, without credentials.' },
        passwordSecretRef: {
          type: 'object',
          description: 'A Secret key holding the Redis password (external mode).',
          required: ['name', 'key'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 253 }, key: { type: 'string', minLength: 1, maxLength: 253 } },
        },
        ttlSeconds: { type: 'integer', minimum: 1, maximum: 86_400, default: 300, description: 'TTL of cached values.' },
      },
      'x-kubernetes-validations': [
        { rule: "self.mode == 'external' ? has(self.url) : !has(self.url)", message: 'redis.url is required with mode external and only allowed with it' },
        { rule: "self.mode == 'external' || !has(self.passwordSecretRef)", message: 'redis.passwordSecretRef is only allowed with mode external' },
      ],
    },
    raft: {
      type: 'object',
      description: 'Raft timing and snapshots.',
      default: {},
      properties: {
        heartbeatMs: { type: 'integer', minimum: 10, maximum: 10_000, default: 100, description: 'Leader heartbeat interval (the Raft tick).' },
        electionTimeoutMs: { type: 'integer', minimum: 50, maximum: 60_000, default: 1000, description: 'Followers campaign after this long without a leader (randomised up to twice it).' },
        snapshotThreshold: { type: 'integer', minimum: 100, default: 10_000, description: 'Entries applied between snapshots.' },
      },
      'x-kubernetes-validations': [{ rule: 'self.electionTimeoutMs >= 2 * self.heartbeatMs', message: 'raft.electionTimeoutMs must be at least twice raft.heartbeatMs' }],
    },
    pvcRetention: {
      type: 'object',
      description: 'What happens to data volumes of removed members.',
      default: {},
      properties: {
        whenScaled: { type: 'string', enum: ['Delete', 'Retain'], default: 'Delete', description: 'On scale-in. A member added again later starts with empty data either way.' },
        whenDeleted: { type: 'string', enum: ['Delete', 'Retain'], default: 'Retain', description: 'When the RaftCluster is deleted.' },
      },
    },
    affinity: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description: 'Pod affinity, as in a Pod spec. Default: nodes preferably on different hosts.' },
    topologySpreadConstraints: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, description: 'As in a Pod spec.' },
    paused: { type: 'boolean', default: false, description: 'Stops every change to the cluster (status is still reported).' },
  },
};

const condition: Schema = {
  type: 'object',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: { type: 'string' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', minimum: 0 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    reason: { type: 'string' },
    message: { type: 'string' },
  },
};

const status: Schema = {
  type: 'object',
  description: 'What the operator observed.',
  properties: {
    phase: { type: 'string', enum: ['Pending', 'Creating', 'Running', 'Scaling', 'Upgrading', 'Degraded', 'Paused', 'Invalid', 'Deleting'] },
    observedGeneration: { type: 'integer' },
    replicas: { type: 'integer', description: 'Members of the Raft group.' },
    readyReplicas: { type: 'integer', description: 'Members that are ready (caught up, with a leader).' },
    selector: { type: 'string', description: 'Label selector of the node pods (for the scale subresource).' },
    leader: { type: 'string' },
    term: { type: 'integer' },
    commitIndex: { type: 'integer' },
    members: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'role'],
        properties: {
          name: { type: 'string' },
          role: { type: 'string', enum: ['leader', 'follower', 'learner', 'candidate', 'unknown'] },
          healthy: { type: 'boolean' },
          lag: { type: 'integer', description: 'Entries behind the leader.' },
        },
      },
    },
    conditions: { type: 'array', items: condition, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
  },
};

/** The schema of a whole RaftCluster object (the CRD's openAPIV3Schema). */
export const raftClusterSchema: Schema = {
  type: 'object',
  description: 'A Raft-replicated eventraft event store: a StatefulSet of nodes, its services, and optionally Redis.',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec,
    status,
  },
  required: ['spec'],
};

/** The spec's schema alone, for the operator's own validation. */
export const raftClusterSpecSchema: Schema = spec;

export function raftClusterCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME, labels: { 'app.kubernetes.io/name': 'eventraft', 'app.kubernetes.io/component': 'crd' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: 'raftcluster', shortNames: ['rft'], categories: ['all', 'eventraft'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: raftClusterSchema },
          subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' } },
          additionalPrinterColumns: [
            { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', description: 'Desired members' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready members' },
            { name: 'Leader', type: 'string', jsonPath: '.status.leader', description: 'The Raft leader' },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}
