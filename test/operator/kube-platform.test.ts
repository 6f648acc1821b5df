import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { fromConfig } from '../../operator/runtime/kube.ts';
import type { Kube } from '../../operator/runtime/kube.ts';
import { kubePlatform } from '../e2e/kind/kube-platform.ts';
import { KubeApiServer } from './harness/kube-api-server.ts';
import { missingPermissions } from './harness/rbac.ts';
import type { PolicyRule } from './harness/rbac.ts';

/**
 * The kind e2e's platform (test/e2e/kind/kube-platform.ts) only runs for real on a cluster with
 * Docker; here its API calls run against the in-memory API server, so a wrong path, patch type
 * or selector shows up in CI.
 */

const namespace = 'e2e';
const SCENARIO_TOKEN = 'e2e-scenario';
let api: KubeApiServer;
/** The test's own client (setup), and the platform's (its requests are checked against the Job's Role). */
let kube: Kube;
let scenarioKube: Kube;

beforeAll(async () => {
  api = await KubeApiServer.start();
  const client = (token: string): Kube => {
    const config = new KubeConfig();
    config.loadFromString(api.kubeconfig(namespace, token));
    return fromConfig(config);
  };
  kube = client('test-setup');
  scenarioKube = client(SCENARIO_TOKEN);
});
afterAll(async () => {
  await api.stop();
});

it('creates, reads, patches and deletes RaftClusters, lists and kills node pods, counts volumes', async () => {
  const p = kubePlatform({ namespace, baseSpec: { imagePullPolicy: 'Never' }, stepTimeoutMs: 1_000, kube: scenarioKube });
  expect(p.nodeUrls('orders', 2)).toEqual(['http://orders-0.orders-peers.e2e.svc:8080', 'http://orders-1.orders-peers.e2e.svc:8080']);
  expect(await p.getCluster('orders')).toBeUndefined();

  await p.createCluster('orders', { replicas: 3 });
  const created = await p.getCluster('orders');
  expect(created?.spec).toEqual({ replicas: 3 });
  await p.patchSpec('orders', { replicas: 5 });
  const patched = await p.getCluster('orders');
  expect(patched?.spec.replicas).toBe(5);
  expect(patched?.metadata.generation).toBe((created?.metadata.generation ?? 0) + 1);

  const labels = (component: string, instance = 'orders'): Record<string, string> => ({ 'app.kubernetes.io/name': 'eventraft', 'app.kubernetes.io/instance': instance, 'app.kubernetes.io/component': component });
  for (const [name, component, instance] of [['orders-0', 'node', 'orders'], ['orders-1', 'node', 'orders'], ['orders-redis-x', 'redis', 'orders'], ['other-0', 'node', 'other']] as const) {
    await kube.core.createNamespacedPod({ namespace, body: { metadata: { name, labels: labels(component, instance) }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
  }
  await kube.core.createNamespacedPersistentVolumeClaim({ namespace, body: { metadata: { name: 'data-orders-0', labels: labels('node') }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } } });
  expect([...(await p.podUids('orders')).keys()].sort()).toEqual(['orders-0', 'orders-1']);
  expect(await p.volumeCount('orders')).toBe(1);

  await p.killPod('orders', 'orders-0');
  await p.killPod('orders', 'orders-1');
  expect(await p.nodesGone('orders')).toBe(true);
  expect(await p.describe('orders')).toContain('orders-redis-x');

  await p.deleteCluster('orders');
  expect(await p.getCluster('orders')).toBeUndefined();

  // The Role the kind e2e gives the scenario Job allows every call the platform made.
  const manifests = parseAllDocuments(await readFile(path.join(import.meta.dirname, '..', 'e2e', 'kind', 'scenario-job.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; rules?: PolicyRule[] });
  const rules = manifests.find((m) => m.kind === 'Role')?.rules ?? [];
  const calls = api.requests.filter((r) => r.token === SCENARIO_TOKEN);
  expect(calls.length).toBeGreaterThan(10);
  expect(missingPermissions(calls, rules)).toEqual([]);
});
