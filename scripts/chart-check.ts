/**
 * `npm run chart:check`: lints the Helm chart and renders it with the default values and with
 * each example values file (charts/eventraft/examples/*.yaml), then validates every rendered
 * object: Kubernetes kinds against the Kubernetes OpenAPI schemas (kubernetes-models),
 * prometheus-operator kinds against theirs (@kubernetes-models/prometheus-operator), RaftClusters
 * against the CRD schema and the operator's own checks, dashboard ConfigMaps as Grafana JSON.
 * The schemas check types, required fields and enums but, like Kubernetes' OpenAPI, not unknown
 * fields: the kind e2e applies with --validate=strict, where the API server rejects those.
 * Exit 1 listing every problem. The test suite runs the same checks (test/chart/).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { checkSpec } from '../operator/spec/raftcluster-spec.ts';
import { ensureHelm, helmEnv } from './fetch-helm.ts';

export const chartDir = path.join(import.meta.dirname, '..', 'charts', 'eventraft');
export const examplesDir = path.join(chartDir, 'examples');
export const RELEASE = 'eventraft';
export const NAMESPACE = 'eventraft-system';

export interface RenderedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [key: string]: unknown;
}

/** Runs helm with its state kept in .cache/; throws with helm's stderr on failure. */
export function helm(args: readonly string[]): string {
  try {
    return execFileSync(ensureHelm(), args, { env: helmEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed:\n${err.stderr ?? ''}${err.stdout ?? ''}`.trim(), { cause: e });
  }
}

export function exampleValuesFiles(): string[] {
  return readdirSync(examplesDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => path.join(examplesDir, f));
}

/** `helm template` with the CRDs and the test hooks included, parsed into objects. */
export function renderChart(valuesFiles: readonly string[] = [], set: readonly string[] = []): RenderedObject[] {
  const out = helm(['template', RELEASE, chartDir, '--namespace', NAMESPACE, '--include-crds', ...valuesFiles.flatMap((f) => ['--values', f]), ...set.flatMap((s) => ['--set', s])]);
  return parseAllDocuments(out)
    .map((d) => d.toJS() as RenderedObject | null)
    .filter((o): o is RenderedObject => o !== null);
}

/**
 * The API versions a chart object may use: the served, non-deprecated ones of Kubernetes 1.28+
 * (kubernetes-models also holds removed versions such as policy/v1beta1, which would pass).
 */
const SERVED_API_VERSIONS = new Set(['v1', 'apps/v1', 'rbac.authorization.k8s.io/v1', 'policy/v1', 'apiextensions.k8s.io/v1', 'coordination.k8s.io/v1', 'batch/v1', 'monitoring.coreos.com/v1', 'eventraft.io/v1alpha1']);

type Validatable = new (data: never) => { validate(): void };

async function modelClass(apiVersion: string, kind: string): Promise<Validatable | undefined> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const module: unknown =
    group === 'monitoring.coreos.com'
      ? await import(`@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version ?? ''}`).catch(() => undefined)
      : await import(group === '' ? `kubernetes-models/${version ?? ''}` : `kubernetes-models/${group ?? ''}/${version ?? ''}`).catch(() => undefined);
  return (module as Record<string, Validatable> | undefined)?.[kind];
}

/** Every problem of one rendered object, as "<Kind>/<name>: <problem>" lines. */
export async function validateObject(o: RenderedObject): Promise<string[]> {
  const where = `${o.kind}/${o.metadata.name}`;
  if (!SERVED_API_VERSIONS.has(o.apiVersion)) return [`${where}: apiVersion ${o.apiVersion} is not one the chart may use (${[...SERVED_API_VERSIONS].join(', ')})`];
  if (o.apiVersion === 'eventraft.io/v1alpha1' && o.kind === 'RaftCluster') {
    const res = checkSpec(o.spec);
    return res.ok ? [] : res.problems.map((p) => `${where}: ${p}`);
  }
  const Model = await modelClass(o.apiVersion, o.kind);
  if (Model === undefined) return [`${where}: no schema for ${o.apiVersion} ${o.kind}`];
  const problems: string[] = [];
  try {
    new Model(o as never).validate();
  } catch (e) {
    problems.push(`${where}: ${(e as Error).message}`);
  }
  if (o.kind === 'ConfigMap' && o.metadata.name.includes('-dashboard-')) {
    for (const [key, text] of Object.entries((o.data ?? {}) as Record<string, string>)) {
      try {
        const d = JSON.parse(text) as { uid?: unknown; panels?: unknown };
        if (typeof d.uid !== 'string' || !Array.isArray(d.panels)) problems.push(`${where}: ${key} is not a Grafana dashboard`);
      } catch (e) {
        problems.push(`${where}: ${key} is not JSON: ${(e as Error).message}`);
      }
    }
  }
  return problems;
}

/** Lints and renders with the default values and every example file; returns every problem. */
export async function checkChart(log: (line: string) => void = () => undefined): Promise<string[]> {
  const problems: string[] = [];
  const variants: { label: string; files: string[] }[] = [{ label: 'default values', files: [] }, ...exampleValuesFiles().map((f) => ({ label: path.relative(chartDir, f), files: [f] }))];
  for (const v of variants) {
    try {
      helm(['lint', '--strict', chartDir, '--namespace', NAMESPACE, ...v.files.flatMap((f) => ['--values', f])]);
      const objects = renderChart(v.files);
      const found = (await Promise.all(objects.map(validateObject))).flat();
      problems.push(...found.map((p) => `${v.label}: ${p}`));
      log(`${v.label}: lint ok, ${String(objects.length)} objects rendered, ${found.length === 0 ? 'all valid' : `${String(found.length)} problem(s)`}`);
    } catch (e) {
      problems.push(`${v.label}: ${(e as Error).message}`);
    }
  }
  return problems;
}

if (process.argv[1] === import.meta.filename) {
  const problems = await checkChart((line) => process.stdout.write(`${line}\n`));
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n`);
    process.exitCode = 1;
  }
}
