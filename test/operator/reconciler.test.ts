import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { EventraftClient } from '../../node/client/index.ts';
import type { Controller } from '../../operator/controller.ts';
import { eventually, LocalKubernetes } from './harness/local-kubernetes.ts';
import type { RaftClusterObject } from './harness/local-kubernetes.ts';

/**
 * The reconciler end to end against the in-memory API server and real node processes run by the
 * StatefulSet stand-in: creating a cluster, and what the operator owns and reports about it.
 */

jest.setTimeout(120_000);

const namespace = 'shop';
let k8s: LocalKubernetes;
let operator: Controller;

beforeAll(async () => {
  k8s = await LocalKubernetes.start({ networkPrefix: '127.1.1', namespace });
  operator = await k8s.startOperatorInProcess(namespace);
});
afterAll(async () => {
  await operator.stop();
  await k8s.stop();
});

const fastRaft = { heartbeatMs: 50, electionTimeoutMs: 500, snapshotThreshold: 1000 };

async function running(name: string, replicas: number): Promise<RaftClusterObject> {
  return eventually(
    `${name} Running with ${String(replicas)} healthy members`,
    async () => {
      const c = await k8s.getCluster(namespace, name);
      const s = c?.status;
      return s?.phase === 'Running' && s.members?.length === replicas && s.members.every((m) => m.healthy) ? c : undefined;
    },
    90_000,
    async () => `status: ${JSON.stringify((await k8s.getCluster(namespace, name))?.status)}\n${k8s.standIn.dumpLogs(10)}`,
  );
}

describe('creating a RaftCluster', () => {
  it('starts three founding members that elect a leader, and reports it in the status', async () => {
    await k8s.createCluster(namespace, 'orders', { replicas: 3, redis: { mode: 'disabled' }, raft: fastRaft });
    const c = await running('orders', 3);
    const s = c.status ?? {};
    expect(s.readyReplicas).toBe(3);
    expect(s.leader).toMatch(/^orders-[012]$/);
    expect(s.term).toBeGreaterThanOrEqual(1);
    expect(s.observedGeneration).toBe(c.metadata.generation);
    expect(s.members?.map((m) => m.name)).toEqual(['orders-0', 'orders-1', 'orders-2']);
    expect(s.members?.filter((m) => m.role === 'leader').map((m) => m.name)).toEqual([s.leader]);
    const conditions = Object.fromEntries((s.conditions ?? []).map((x) => [x.type, x.status]));
    expect(conditions).toEqual({ Available: 'True', QuorumHealthy: 'True', Progressing: 'False', Degraded: 'False' });
    expect(c.metadata.finalizers).toContain('eventraft.io/cleanup');

    // What the operator owns, all controlled by the RaftCluster (garbage-collected with it).
    const { core, apps } = k8s.kube;
    const owned = [
      await apps.readNamespacedStatefulSet({ namespace, name: 'orders' }),
      await core.readNamespacedService({ namespace, name: 'orders' }),
      await core.readNamespacedService({ namespace, name: 'orders-peers' }),
      await core.readNamespacedConfigMap({ namespace, name: 'orders-config' }),
      await core.readNamespacedSecret({ namespace, name: 'orders-admin-token' }),
    ];
    for (const o of owned) expect(o.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'RaftCluster', name: 'orders', uid: c.metadata.uid, controller: true });
    // Once the group has a leader, new pods join it instead of bootstrapping.
    const bootstrap = await core.readNamespacedConfigMap({ namespace, name: 'orders-bootstrap' });
    expect(bootstrap.data).toEqual({ EVENTRAFT_JOIN: 'true' });
    const events = await core.listNamespacedEvent({ namespace });
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['Created', 'Bootstrapped']));
  });
});

describe('what the operator refuses, and how it reports it', () => {
  it('reports an invalid spec as phase Invalid, a Degraded condition and a Warning event, and creates nothing', async () => {
    await k8s.createCluster(namespace, 'broken', { replicas: 4, redis: { mode: 'external' } });
    const c = await eventually('status Invalid', async () => {
      const cur = await k8s.getCluster(namespace, 'broken');
      return cur?.status?.phase === 'Invalid' ? cur : undefined;
    });
    const degraded = c.status?.conditions?.find((x) => x.type === 'Degraded');
    expect(degraded).toMatchObject({ status: 'True', reason: 'InvalidSpec', observedGeneration: c.metadata.generation });
    expect(degraded?.message).toMatch(/spec.replicas must be odd/);
    expect(degraded?.message).toMatch(/spec.redis.url is required/);
    const events = await k8s.kube.core.listNamespacedEvent({ namespace });
    expect(events.items.filter((e) => e.involvedObject.name === 'broken').map((e) => [e.type, e.reason])).toEqual([['Warning', 'InvalidSpec']]);
    await expect(k8s.kube.apps.readNamespacedStatefulSet({ namespace, name: 'broken' })).rejects.toMatchObject({ code: 404 });
    await k8s.deleteCluster(namespace, 'broken');
    await eventually('the invalid cluster deleted', async () => ((await k8s.getCluster(namespace, 'broken')) === undefined ? true : undefined));
  });

  it('refuses to shrink storage (the claim template keeps its size) and says so', async () => {
    await k8s.patchSpec(namespace, 'orders', { storage: { size: '1Gi' } });
    const c = await eventually('a StorageChangeRefused condition', async () => {
      const cur = await k8s.getCluster(namespace, 'orders');
      return cur?.status?.conditions?.some((x) => x.type === 'Degraded' && x.reason === 'StorageChangeRefused') === true ? cur : undefined;
    });
    expect(c.status?.conditions?.find((x) => x.reason === 'StorageChangeRefused')?.message).toMatch(/never shrink/);
    const sts = await k8s.kube.apps.readNamespacedStatefulSet({ namespace, name: 'orders' });
    expect(sts.spec?.volumeClaimTemplates?.[0]?.spec?.resources?.requests?.storage).toBe('10Gi');
    await k8s.patchSpec(namespace, 'orders', { storage: { size: '10Gi' } });
    expect(await k8s.waitForRunning(namespace, 'orders', 3)).toEqual([]);
  });

  it('changes nothing while paused, but keeps the status current', async () => {
    await k8s.patchSpec(namespace, 'orders', { paused: true, replicas: 5 });
    const c = await eventually('status Paused', async () => {
      const cur = await k8s.getCluster(namespace, 'orders');
      return cur?.status?.phase === 'Paused' && cur.status.observedGeneration === cur.metadata.generation ? cur : undefined;
    });
    expect(c.status?.members).toHaveLength(3);
    expect(c.status?.leader).toMatch(/^orders-/);
    // Several passes later (informer events from the nodes' pods keep it reconciling), still 3.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await k8s.kube.apps.readNamespacedStatefulSet({ namespace, name: 'orders' })).spec?.replicas).toBe(3);
    await k8s.patchSpec(namespace, 'orders', { paused: false, replicas: 3 });
    expect(await k8s.waitForRunning(namespace, 'orders', 3)).toEqual([]);
  });
});

describe('repairs', () => {
  it('recreates a StatefulSet deleted by hand; its pods rejoin with their data and nothing bootstraps again', async () => {
    const client = new EventraftClient({ endpoints: k8s.urls(3) });
    await client.appendToStream('repair-check', [{ id: randomUUID(), type: 'Noted', data: { n: 1 } }]);
    const before = await k8s.getCluster(namespace, 'orders');
    await k8s.kube.apps.deleteNamespacedStatefulSet({ namespace, name: 'orders' });
    await eventually('a new StatefulSet', async () => {
      const sts = await k8s.kube.apps.readNamespacedStatefulSet({ namespace, name: 'orders' }).catch(() => undefined);
      return sts?.metadata?.uid !== undefined ? sts : undefined;
    });
    expect(await k8s.waitForRunning(namespace, 'orders', 3)).toEqual([]);
    expect((await k8s.kube.core.readNamespacedConfigMap({ namespace, name: 'orders-bootstrap' })).data).toEqual({ EVENTRAFT_JOIN: 'true' });
    const after = await k8s.getCluster(namespace, 'orders');
    // The same group (the term only grows), and the event written before is still there.
    expect(after?.status?.term).toBeGreaterThanOrEqual(before?.status?.term ?? 0);
    expect((await client.readStream('repair-check')).events).toHaveLength(1);
  });
});

describe('deleting a RaftCluster', () => {
  it('stops the nodes, deletes the volumes when pvcRetention.whenDeleted is Delete, then lets the object go', async () => {
    await k8s.patchSpec(namespace, 'orders', { pvcRetention: { whenDeleted: 'Delete' } });
    await eventually('the spec change observed', async () => {
      const cur = await k8s.getCluster(namespace, 'orders');
      return cur?.status?.observedGeneration === cur?.metadata.generation ? true : undefined;
    });
    await k8s.deleteCluster(namespace, 'orders');
    await eventually('the RaftCluster gone', async () => ((await k8s.getCluster(namespace, 'orders')) === undefined ? true : undefined));
    // The finalizer held the object until the pods were gone and the claims deleted.
    expect((await k8s.kube.core.listNamespacedPod({ namespace })).items).toEqual([]);
    expect((await k8s.kube.core.listNamespacedPersistentVolumeClaim({ namespace })).items).toEqual([]);
    expect(k8s.standIn.processCount()).toBe(0);
    // Everything else it owned is garbage-collected through owner references.
    await eventually('owned objects collected', async () => ((await k8s.kube.core.listNamespacedConfigMap({ namespace })).items.length === 0 && (await k8s.kube.core.listNamespacedService({ namespace })).items.length === 0 ? true : undefined));
  });
});
