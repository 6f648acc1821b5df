import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
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
