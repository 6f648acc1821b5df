import { Ajv } from 'ajv';
import type { ErrorObject } from 'ajv';
import { raftClusterSpecSchema, SIZE_PATTERN } from '../crd/raftcluster-crd.ts';

/** A RaftCluster spec with every default applied (what the API server stores). */
export interface RaftClusterSpec {
  readonly replicas: number;
  readonly image?: string;
  readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  readonly resources?: { readonly requests?: Readonly<Record<string, string | number>>; readonly limits?: Readonly<Record<string, string | number>> };
  readonly storage: { readonly size: string; readonly storageClassName?: string };
  readonly redis: {
    readonly mode: 'managed' | 'external' | 'disabled';
    readonly url?: string;
    readonly passwordSecretRef?: { readonly name: string; readonly key: string };
    readonly ttlSeconds: number;
  };
  readonly raft: { readonly heartbeatMs: number; readonly electionTimeoutMs: number; readonly snapshotThreshold: number };
  readonly pvcRetention: { readonly whenScaled: 'Delete' | 'Retain'; readonly whenDeleted: 'Delete' | 'Retain' };
  readonly affinity?: Readonly<Record<string, unknown>>;
  readonly topologySpreadConstraints?: readonly Readonly<Record<string, unknown>>[];
  readonly paused: boolean;
}

export type SpecCheck = { readonly ok: true; readonly spec: RaftClusterSpec } | { readonly ok: false; readonly problems: readonly string[] };

// strict: false lets ajv pass over the x-kubernetes-* keywords; useDefaults fills defaults the way
// the API server does, so that the operator sees the same spec whether or not it came through one.
const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
const validateSchema = ajv.compile(raftClusterSpecSchema);

/**
 * Checks a spec as the API server would (schema, defaults, and the CEL rules that do not compare
 * with the previous object), reporting every problem at once. The operator runs it on every
 * reconcile: a RaftCluster that reached it without the API server's checks (an older CRD, a
 * test) is reported as Invalid, never acted on.
 */
export function checkSpec(raw: unknown): SpecCheck {
  const spec = structuredClone(raw ?? {}) as Record<string, unknown>;
  if (!validateSchema(spec)) return { ok: false, problems: (validateSchema.errors ?? []).map(describe) };
  const s = spec as unknown as RaftClusterSpec;
  const problems: string[] = [];
  // The CRD's CEL rules, one for one.
  if (s.replicas % 2 !== 1) problems.push('spec.replicas must be odd (1, 3, 5, 7 or 9)');
  if ((s.redis.mode === 'external') !== (s.redis.url !== undefined)) problems.push('spec.redis.url is required with mode external and only allowed with it');
  if (s.redis.mode !== 'external' && s.redis.passwordSecretRef !== undefined) problems.push('spec.redis.passwordSecretRef is only allowed with mode external');
  if (s.raft.electionTimeoutMs < 2 * s.raft.heartbeatMs) problems.push('spec.raft.electionTimeoutMs must be at least twice spec.raft.heartbeatMs');
  return problems.length > 0 ? { ok: false, problems } : { ok: true, spec: s };
}

/** The CRD's transition rules: what may not change from `previous` to `next`. */
export function checkTransition(previous: RaftClusterSpec, next: RaftClusterSpec): string[] {
  const problems: string[] = [];
  if (mebibytes(next.storage.size) < mebibytes(previous.storage.size)) problems.push(`spec.storage.size may grow, never shrink (${previous.storage.size} -> ${next.storage.size})`);
  if (next.storage.storageClassName !== previous.storage.storageClassName) problems.push('spec.storage.storageClassName is immutable');
  return problems;
}

/** A size matching SIZE_PATTERN, in Mi. */
export function mebibytes(size: string): number {
  if (!new RegExp(SIZE_PATTERN).test(size)) throw new Error(`not a size: ${size}`);
  const unit = size.slice(-2);
  return Number(size.slice(0, -2)) * (unit === 'Ti' ? 1_048_576 : unit === 'Gi' ? 1024 : 1);
}

function describe(e: ErrorObject): string {
  const at = `spec${e.instancePath.replaceAll('/', '.')}`;
  if (e.keyword === 'enum') return `${at} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  return `${at} ${e.message ?? 'is invalid'}`;
}
