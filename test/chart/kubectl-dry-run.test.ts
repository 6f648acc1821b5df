import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { chartDir, exampleValuesFiles, helm, NAMESPACE } from '../../scripts/chart-check.ts';
import { ensureKubectl } from '../../scripts/fetch-helm.ts';
import { KubeApiServer } from '../operator/harness/kube-api-server.ts';

/**
 * `kubectl create --dry-run=client` on every manifest we ship or apply: the chart rendered with
 * each values file, the kind e2e's Job, the CRD samples. kubectl needs an API server's discovery
 * to map kinds, even for a client dry run; the in-memory API server provides it (schemas are
 * checked by chart:check; kubectl's own validation needs the server's OpenAPI, so it is off).
 */

jest.setTimeout(60_000);
const run = promisify(execFile);
const root = path.join(import.meta.dirname, '..', '..');
let api: KubeApiServer;
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  api = await KubeApiServer.start();
  dir = await mkdtemp(path.join(tmpdir(), 'eventraft-kubectl-'));
  kubeconfig = path.join(dir, 'kubeconfig');
  await writeFile(kubeconfig, api.kubeconfig(NAMESPACE));
});
afterAll(async () => {
  await api.stop();
  await rm(dir, { recursive: true, force: true });
});

/** kubectl's dry run of a manifest file: the "kind.group/name" of each object it would create. */
async function dryRun(file: string): Promise<string[]> {
  const { stdout } = await run(ensureKubectl(), ['--kubeconfig', kubeconfig, 'create', '--dry-run=client', '--validate=false', '-f', file, '-o', 'name'], { encoding: 'utf8', timeout: 30_000 });
  return stdout.split('\n').filter((l) => l !== '');
}

const objectCount = (yamlText: string): number => parseAllDocuments(yamlText).filter((d) => d.toJS() !== null).length;

it('maps every object of the chart, with the default values and each example values file', async () => {
  for (const values of [[], ...exampleValuesFiles().map((f) => [f]), [path.join(root, 'test', 'e2e', 'kind', 'values.yaml')]]) {
    const rendered = helm(['template', 'eventraft', chartDir, '--namespace', NAMESPACE, '--include-crds', ...values.flatMap((f) => ['--values', f])]);
    const file = path.join(dir, 'rendered.yaml');
    await writeFile(file, rendered);
    const names = await dryRun(file);
    expect([values.join(','), names.length]).toEqual([values.join(','), objectCount(rendered)]);
    expect(names).toContain('deployment.apps/eventraft');
  }
});

it('maps the kind e2e Job manifests and the CRD samples', async () => {
  expect(await dryRun(path.join(root, 'test', 'e2e', 'kind', 'scenario-job.yaml'))).toEqual(['namespace/e2e', 'serviceaccount/e2e-scenario', 'role.rbac.authorization.k8s.io/e2e-scenario', 'rolebinding.rbac.authorization.k8s.io/e2e-scenario', 'job.batch/e2e-scenario']);
  expect(await dryRun(path.join(root, 'crds', 'samples'))).toEqual(['raftcluster.eventraft.io/orders', 'raftcluster.eventraft.io/ledger']);
});
