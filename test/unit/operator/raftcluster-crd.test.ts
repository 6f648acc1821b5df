import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { raftClusterCrd, raftClusterSchema } from '../../../operator/crd/raftcluster-crd.ts';
import type { Schema } from '../../../operator/crd/raftcluster-crd.ts';
import { checkSpec, checkTransition, mebibytes } from '../../../operator/spec/raftcluster-spec.ts';
import type { RaftClusterSpec } from '../../../operator/spec/raftcluster-spec.ts';
import { chartCrdPath, crdPath, renderCrd } from '../../../scripts/gen-crds.ts';

const samples = path.join(import.meta.dirname, '..', '..', '..', 'crds', 'samples');

/** Where a schema breaks the rules of Kubernetes structural schemas (the ones that apply here). */
function structuralProblems(schema: Schema, at = ''): string[] {
  const problems: string[] = [];
  const open = schema['x-kubernetes-preserve-unknown-fields'] === true || schema['x-kubernetes-int-or-string'] === true;
  if (schema.type === undefined && !open) problems.push(`${at || '/'}: no type`);
  if (schema.properties !== undefined && schema.additionalProperties !== undefined) problems.push(`${at}: properties and additionalProperties together`);
  for (const [name, sub] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) problems.push(...structuralProblems(sub, `${at}.${name}`));
  if (schema.items !== undefined) problems.push(...structuralProblems(schema.items as Schema, `${at}[]`));
  if (typeof schema.additionalProperties === 'object') problems.push(...structuralProblems(schema.additionalProperties as Schema, `${at}{}`));
  // Inside anyOf/allOf/oneOf, types may only repeat what the node itself says (int-or-string is the exception).
  if (schema.anyOf !== undefined && schema['x-kubernetes-int-or-string'] !== true) problems.push(`${at}: anyOf outside int-or-string`);
  for (const k of ['oneOf', 'allOf', 'not', '$ref', 'definitions']) if (schema[k] !== undefined) problems.push(`${at}: ${k} is not allowed`);
  return problems;
}

/** The spec fields a user sets, and whether each has a description. */
function undocumented(schema: Schema, at: string): string[] {
  const out: string[] = [];
  for (const [name, sub] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    if (typeof sub.description !== 'string' && at.split('.').length < 3) out.push(`${at}.${name}`);
    out.push(...undocumented(sub, `${at}.${name}`));
  }
  return out;
}

describe('the RaftCluster CRD', () => {
  it('is the file in crds/, generated from the schema (npm run crds)', async () => {
    expect(await readFile(crdPath, 'utf8')).toBe(renderCrd());
    expect(await readFile(chartCrdPath, 'utf8')).toBe(renderCrd());
    expect(parse(await readFile(crdPath, 'utf8'))).toEqual(raftClusterCrd());
  });

  it('has a structural schema with descriptions, status and scale subresources, and printer columns', () => {
    expect(structuralProblems(raftClusterSchema)).toEqual([]);
    const spec = (raftClusterSchema.properties as Record<string, Schema>).spec as Schema;
    expect(undocumented(spec, 'spec')).toEqual([]);
    const crd = raftClusterCrd() as { spec: { names: { shortNames: string[]; categories: string[] }; versions: { subresources: unknown; additionalPrinterColumns: { name: string }[] }[] } };
    expect(crd.spec.names).toMatchObject({ shortNames: ['rft'], categories: ['all', 'eventraft'] });
    const [v1alpha1] = crd.spec.versions;
    expect(v1alpha1?.subresources).toEqual({ status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' } });
    expect(v1alpha1?.additionalPrinterColumns.map((c) => c.name)).toEqual(['Replicas', 'Ready', 'Leader', 'Phase', 'Age']);
  });

  it('gives every CEL rule a message, and uses nothing newer than Kubernetes 1.28', () => {
    const rules: { rule: string; message?: string }[] = [];
    const walk = (s: Schema): void => {
      rules.push(...((s['x-kubernetes-validations'] ?? []) as { rule: string; message?: string }[]));
      for (const sub of Object.values((s.properties ?? {}) as Record<string, Schema>)) walk(sub);
    };
    walk(raftClusterSchema);
    expect(rules.length).toBeGreaterThanOrEqual(6);
    for (const r of rules) {
      expect(r.message).toEqual(expect.any(String));
      // quantity() and messageExpression-only rules need 1.29+.
      expect(r.rule).not.toMatch(/quantity\(|isQuantity|\.ip\(|cidr\(/);
    }
  });
});

describe('RaftCluster spec checks', () => {
  it('accepts both samples and fills in the defaults as the API server would', async () => {
    const managed = checkSpec((parse(await readFile(path.join(samples, 'raftcluster-3-managed-redis.yaml'), 'utf8')) as { spec: unknown }).spec);
    expect(managed).toMatchObject({
      ok: true,
      spec: { replicas: 3, storage: { size: '10Gi' }, redis: { mode: 'managed', ttlSeconds: 300 }, raft: { heartbeatMs: 100, electionTimeoutMs: 1000, snapshotThreshold: 10_000 }, pvcRetention: { whenScaled: 'Delete', whenDeleted: 'Retain' }, paused: false },
    });
    const external = checkSpec((parse(await readFile(path.join(samples, 'raftcluster-5-external-redis.yaml'), 'utf8')) as { spec: unknown }).spec);
    expect(external).toMatchObject({ ok: true, spec: { replicas: 5, redis: { mode: 'external', url: 'rediss://redis.cache.svc:6380', passwordSecretRef: { name: 'ledger-redis', key: 'password' } } } });
    expect(checkSpec({})).toMatchObject({ ok: true, spec: { replicas: 3, redis: { mode: 'managed' } } });
  });

  it('reports every schema problem at once', () => {
    const res = checkSpec({ replicas: 11, storage: { size: '10GB' }, redis: { mode: 'clustered', ttlSeconds: 0 }, raft: { heartbeatMs: 'fast' }, resources: { requests: { cpu: 'lots' } }, paused: 'no' });
    expect(res.ok).toBe(false);
    const problems = res.ok ? [] : res.problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        'spec.replicas must be <= 9',
        expect.stringMatching(/^spec\.storage\.size must match pattern/),
        'spec.redis.mode must be one of managed, external, disabled',
        'spec.redis.ttlSeconds must be >= 1',
        'spec.raft.heartbeatMs must be integer',
        expect.stringMatching(/^spec\.resources\.requests\.cpu must match pattern/),
        'spec.paused must be boolean',
      ]),
    );
  });

  it('checks what the CRD checks with CEL, every rule at once', () => {
    const res = checkSpec({ replicas: 4, redis: { mode: 'managed', url: 'redis://r:6379', passwordSecretRef: { name: 's', key: 'k' } }, raft: { heartbeatMs: 500, electionTimeoutMs: 600 } });
    expect(res).toEqual({
      ok: false,
      problems: [
        'spec.replicas must be odd (1, 3, 5, 7 or 9)',
        'spec.redis.url is required with mode external and only allowed with it',
        'spec.redis.passwordSecretRef is only allowed with mode external',
        'spec.raft.electionTimeoutMs must be at least twice spec.raft.heartbeatMs',
      ],
    });
    expect(checkSpec({ redis: { mode: 'external' } })).toEqual({ ok: false, problems: ['spec.redis.url is required with mode external and only allowed with it'] });
    // A URL with credentials in it is refused: they belong in the Secret.
    expect(checkSpec({ redis: { mode: 'external', url: 'redis://user:pw@r:6379' } }).ok).toBe(false);
  });

  it('lets storage grow but never shrink, and keeps the storage class', () => {
    const base = (size: string, storageClassName?: string): RaftClusterSpec => {
      const res = checkSpec({ storage: { size, ...(storageClassName === undefined ? {} : { storageClassName }) } });
      if (!res.ok) throw new Error(res.problems.join('; '));
      return res.spec;
    };
    expect(checkTransition(base('10Gi'), base('1Ti'))).toEqual([]);
    expect(checkTransition(base('10Gi'), base('10240Mi'))).toEqual([]);
    expect(checkTransition(base('10Gi'), base('9Gi'))).toEqual(['spec.storage.size may grow, never shrink (10Gi -> 9Gi)']);
    expect(checkTransition(base('10Gi', 'a'), base('10Gi', 'b'))).toEqual(['spec.storage.storageClassName is immutable']);
    expect(checkTransition(base('10Gi'), base('10Gi', 'b'))).toEqual(['spec.storage.storageClassName is immutable']);
    expect([mebibytes('512Mi'), mebibytes('2Gi'), mebibytes('1Ti')]).toEqual([512, 2048, 1_048_576]);
  });
});
