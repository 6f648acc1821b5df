import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi, PatchStrategy, setHeaderOptions, Watch } from '@kubernetes/client-node';
import type { KubernetesObject, V1ConfigMap, V1StatefulSet } from '@kubernetes/client-node';
import { KubeApiServer } from './harness/kube-api-server.ts';
import { resourceType } from './harness/kube-store.ts';

/**
 * The in-memory API server is only useful if it behaves like Kubernetes where the operator
 * depends on it. These tests reach it the way the operator does: through @kubernetes/client-node.
 */

let api: KubeApiServer;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let custom: CustomObjectsApi;
let objects: KubernetesObjectApi;
let nsSeq = 0;
const freshNamespace = (): string => `ns-${++nsSeq}`;

beforeAll(async () => {
  api = await KubeApiServer.start({ bookmarkIntervalMs: 100 });
  kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  objects = KubernetesObjectApi.makeApiClient(kc);
});
afterAll(async () => {
  await api.stop();
});

async function failure(p: Promise<unknown>): Promise<{ code: number; reason: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: number; body: string };
    return { code: e.code, reason: (JSON.parse(e.body) as { reason: string }).reason };
  }
  throw new Error('expected the call to fail');
}

const raftCluster = (namespace: string, name: string, replicas = 3): KubernetesObject & { spec: unknown } => ({ apiVersion: 'eventraft.io/v1alpha1', kind: 'RaftCluster', metadata: { name, namespace }, spec: { replicas } });

describe('in-memory Kubernetes API server', () => {
  it('rejects an update carrying a stale resourceVersion with 409 Conflict', async () => {
    const namespace = freshNamespace();
    const created = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'c', labels: { app: 'x' } }, data: { a: '1' } } });
    const first = await core.replaceNamespacedConfigMap({ namespace, name: 'c', body: { ...created, data: { a: '2' } } });
    expect(Number(first.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    expect(await failure(core.replaceNamespacedConfigMap({ namespace, name: 'c', body: { ...created, data: { a: '3' } } }))).toEqual({ code: 409, reason: 'Conflict' });
    expect((await core.readNamespacedConfigMap({ namespace, name: 'c' })).data).toEqual({ a: '2' });
    expect(await failure(core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'c' } } }))).toEqual({ code: 409, reason: 'AlreadyExists' });
    expect(await failure(core.readNamespacedConfigMap({ namespace, name: 'missing' }))).toEqual({ code: 404, reason: 'NotFound' });
  });

  it('lists by label selector, within a namespace', async () => {
    const namespace = freshNamespace();
    for (const [name, tier] of [['a', 'web'], ['b', 'db'], ['c', 'web']] as const) await core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels: { tier } } } });
    await core.createNamespacedConfigMap({ namespace: freshNamespace(), body: { metadata: { name: 'elsewhere', labels: { tier: 'web' } } } });
    const web = await core.listNamespacedConfigMap({ namespace, labelSelector: 'tier=web' });
    expect(web.items.map((c) => c.metadata?.name)).toEqual(['a', 'c']);
    expect((await core.listNamespacedConfigMap({ namespace, labelSelector: 'tier in (db),!missing' })).items.map((c) => c.metadata?.name)).toEqual(['b']);
  });

  it('keeps status out of main-resource writes, spec out of status writes, and counts generations on spec changes only', async () => {
    const namespace = freshNamespace();
    const group = 'eventraft.io';
    const version = 'v1alpha1';
    const plural = 'raftclusters';
    const created = (await custom.createNamespacedCustomObject({ group, version, namespace, plural, body: { ...raftCluster(namespace, 'r'), status: { phase: 'Running' } } })) as KubernetesObject & { status?: unknown };
    expect(created.status).toBeUndefined();
    expect(created.metadata?.generation).toBe(1);

    const withStatus = (await custom.replaceNamespacedCustomObjectStatus({ group, version, namespace, plural, name: 'r', body: { ...created, spec: { replicas: 9 }, status: { phase: 'Creating' } } })) as { spec: unknown; status: unknown; metadata: { generation: number } };
    expect(withStatus).toMatchObject({ spec: { replicas: 3 }, status: { phase: 'Creating' }, metadata: { generation: 1 } });

    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const relabelled = (await custom.patchNamespacedCustomObject({ group, version, namespace, plural, name: 'r', body: { metadata: { labels: { a: 'b' } }, status: { phase: 'Running' } } }, merge)) as { status: unknown; metadata: { generation: number } };
    expect(relabelled).toMatchObject({ status: { phase: 'Creating' }, metadata: { generation: 1 } });

    const scaled = (await custom.patchNamespacedCustomObject({ group, version, namespace, plural, name: 'r', body: { spec: { replicas: 5 } } }, merge)) as { metadata: { generation: number } };
    expect(scaled.metadata.generation).toBe(2);

    // A pod template's metadata is spec: changing an annotation there is a new generation.
    const sts = (hash: string): KubernetesObject => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's', namespace }, spec: { replicas: 1, selector: { matchLabels: { a: 'b' } }, serviceName: 's', template: { metadata: { labels: { a: 'b' }, annotations: { hash } }, spec: { containers: [] } } } }) as KubernetesObject;
    expect((await objects.create(sts('1'))).metadata?.generation).toBe(1);
    const reannotated = await objects.patch(sts('2'), undefined, undefined, 'test', true, PatchStrategy.ServerSideApply);
    expect(reannotated.metadata?.generation).toBe(2);
  });

  it('serves the scale subresource of a RaftCluster', async () => {
    const namespace = freshNamespace();
    await objects.create(raftCluster(namespace, 'r'));
    const res = await fetch(`${api.url}/apis/eventraft.io/v1alpha1/namespaces/${namespace}/raftclusters/r/scale`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { replicas: 5 } }) });
    expect(await res.json()).toMatchObject({ kind: 'Scale', spec: { replicas: 5 } });
    expect(((await objects.read({ apiVersion: 'eventraft.io/v1alpha1', kind: 'RaftCluster', metadata: { name: 'r', namespace } })) as unknown as { spec: unknown }).spec).toEqual({ replicas: 5 });
  });

  it('server-side apply creates, updates, and removes the fields a manager stops applying, keeping other managers\' fields', async () => {
    const namespace = freshNamespace();
    const apply = (cm: V1ConfigMap, manager = 'op'): Promise<V1ConfigMap> => objects.patch({ apiVersion: 'v1', kind: 'ConfigMap', ...cm }, undefined, undefined, manager, true, PatchStrategy.ServerSideApply);
    await apply({ metadata: { name: 'c', namespace, labels: { a: '1' } }, data: { x: '1', y: '2' } });
    await core.patchNamespacedConfigMap({ namespace, name: 'c', body: { metadata: { annotations: { human: 'yes' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const before = await core.readNamespacedConfigMap({ namespace, name: 'c' });
    const again = await apply({ metadata: { name: 'c', namespace, labels: { a: '1' } }, data: { x: '1', y: '2' } });
    expect(again.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion); // a no-op apply writes nothing
    const after = await apply({ metadata: { name: 'c', namespace, labels: { a: '1' } }, data: { x: '3' } });
    expect(after.data).toEqual({ x: '3' });
    expect(after.metadata?.annotations).toEqual({ human: 'yes' });
  });

  it('refuses changes to the immutable fields of a StatefulSet, as the real API server does', async () => {
    const namespace = freshNamespace();
    const sts: V1StatefulSet = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 's', namespace },
      spec: { serviceName: 's', replicas: 1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
    };
    const apply = (o: V1StatefulSet): Promise<V1StatefulSet> => objects.patch(o, undefined, undefined, 'op', true, PatchStrategy.ServerSideApply);
    await apply(sts);
    expect((await apply({ ...sts, spec: { ...(sts.spec as NonNullable<V1StatefulSet['spec']>), replicas: 3 } })).spec?.replicas).toBe(3);
    expect(await failure(apply({ ...sts, spec: { ...(sts.spec as NonNullable<V1StatefulSet['spec']>), serviceName: 'other' } }))).toEqual({ code: 422, reason: 'Invalid' });
    expect((await apps.readNamespacedStatefulSet({ namespace, name: 's' })).spec?.serviceName).toBe('s');
  });

  it('collects dependents once their owner is gone, honours finalizers, and orphans on request', async () => {
    const namespace = freshNamespace();
    const owner = await objects.create(raftCluster(namespace, 'r'));
    const ownerRef = { apiVersion: 'eventraft.io/v1alpha1', kind: 'RaftCluster', name: 'r', uid: owner.metadata?.uid as string, controller: true };
    const cm = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'child', ownerReferences: [ownerRef] } } });
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'grandchild', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'child', uid: cm.metadata?.uid as string }] } } });

    await objects.patch({ ...raftClusterRef(namespace), metadata: { name: 'r', namespace, finalizers: ['eventraft.io/cleanup'] } }, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
    await objects.delete(raftClusterRef(namespace));
    const deleting = await objects.read(raftClusterRef(namespace));
    expect(deleting.metadata?.deletionTimestamp).toBeDefined();
    await settle();
    expect((await core.listNamespacedConfigMap({ namespace })).items).toHaveLength(2); // the owner still exists

    await objects.patch({ ...raftClusterRef(namespace), metadata: { name: 'r', namespace, finalizers: null as unknown as string[] } }, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);
    await settle();
    expect(await failure(objects.read(raftClusterRef(namespace)))).toEqual({ code: 404, reason: 'NotFound' });
    expect((await core.listNamespacedConfigMap({ namespace })).items).toEqual([]);

    // Orphan: the dependent stays and loses its owner reference.
    const owner2 = await objects.create(raftCluster(namespace, 'r'));
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'kept', ownerReferences: [{ ...ownerRef, uid: owner2.metadata?.uid as string }] } } });
    await objects.delete(raftClusterRef(namespace), undefined, undefined, undefined, undefined, 'Orphan');
    await settle();
    const kept = await core.readNamespacedConfigMap({ namespace, name: 'kept' });
    expect(kept.metadata?.ownerReferences ?? []).toEqual([]);
  });

  it('keeps a deleted pod that is bound to a node until its kubelet confirms termination', async () => {
    const namespace = freshNamespace();
    await core.createNamespacedPod({ namespace, body: { metadata: { name: 'p' }, spec: { nodeName: 'local', containers: [{ name: 'c', image: 'i' }] } } });
    await core.deleteNamespacedPod({ namespace, name: 'p' });
    expect((await core.readNamespacedPod({ namespace, name: 'p' })).metadata?.deletionTimestamp).toBeDefined();
    api.store.confirmTermination(resourceType('Pod'), namespace, 'p');
    expect(await failure(core.readNamespacedPod({ namespace, name: 'p' }))).toEqual({ code: 404, reason: 'NotFound' });
  });

  it('watches: replays from a resourceVersion, sends bookmarks, turns label changes into ADDED/DELETED, and answers 410 after compaction', async () => {
    const namespace = freshNamespace();
    const start = await core.listNamespacedConfigMap({ namespace });
    const rv = start.metadata?.resourceVersion as string;
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'w', labels: { watched: 'yes' } } } });

    const seen: string[] = [];
    const watch = new Watch(kc);
    const done = new Promise<unknown>((resolve) => {
      void watch
        .watch(`/api/v1/namespaces/${namespace}/configmaps`, { resourceVersion: rv, allowWatchBookmarks: true, labelSelector: 'watched=yes' }, (type, obj: V1ConfigMap) => {
          seen.push(type === 'BOOKMARK' ? type : `${type} ${obj.metadata?.name ?? ''}`);
        }, resolve)
        .then((controller) => {
          aborts.push(controller);
        });
    });
    const aborts: AbortController[] = [];
    await until(() => seen.includes('ADDED w'));
    await core.patchNamespacedConfigMap({ namespace, name: 'w', body: { metadata: { labels: { watched: 'no' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await until(() => seen.includes('DELETED w'));
    await until(() => seen.includes('BOOKMARK'));
    expect(seen.filter((s) => s !== 'BOOKMARK')).toEqual(['ADDED w', 'DELETED w']);
    api.dropWatches();
    await done;

    api.compact();
    const gone: unknown[] = [];
    await new Promise<void>((resolve) => {
      void watch.watch(`/api/v1/namespaces/${namespace}/configmaps`, { resourceVersion: rv }, (type, obj: { code?: number }) => gone.push([type, obj.code]), () => {
        resolve();
      });
    });
    expect(gone).toEqual([['ERROR', 410]]);
    for (const a of aborts) a.abort();
  });
});

function raftClusterRef(namespace: string): KubernetesObject & { metadata: { name: string; namespace: string } } {
  return { apiVersion: 'eventraft.io/v1alpha1', kind: 'RaftCluster', metadata: { name: 'r', namespace } };
}

/** The garbage collector runs after the write that triggers it (setImmediate). */
function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 20));
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
