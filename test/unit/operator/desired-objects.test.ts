import { afterAll, describe, expect, it } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parse } from 'yaml';
import { parseConfig } from '../../../node/config.ts';
import { clientService, httpAddress, names, nodeConfig, peerAddress, peerService, podDisruptionBudget, redisService } from '../../../operator/desired/index.ts';
import type { ClusterRef } from '../../../operator/desired/index.ts';
import { checkSpec } from '../../../operator/spec/raftcluster-spec.ts';
import { TempDirs } from '../../support/temp-dir.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());
const samples = path.join(import.meta.dirname, '..', '..', '..', 'crds', 'samples');

function cluster(spec: unknown, name = 'orders'): ClusterRef {
  const res = checkSpec(spec);
  if (!res.ok) throw new Error(res.problems.join('; '));
  return { name, namespace: 'shop', uid: '6f1c2b1e-0000-4000-8000-000000000001', spec: res.spec };
}

async function sample(file: string): Promise<ClusterRef> {
  const doc = parse(await readFile(path.join(samples, file), 'utf8')) as { metadata: { name: string }; spec: unknown };
  return cluster(doc.spec, doc.metadata.name);
}

describe('desired objects', () => {
  it('are valid Kubernetes objects for both samples and the edge cases', async () => {
    const clusters = [await sample('raftcluster-3-managed-redis.yaml'), await sample('raftcluster-5-external-redis.yaml'), cluster({ replicas: 1, redis: { mode: 'disabled' } })];
    for (const c of clusters) {
      // validate() throws with the schema's complaint.
      new ConfigMap(nodeConfig(c) as never).validate();
      new Service(peerService(c) as never).validate();
      new Service(clientService(c) as never).validate();
      new Service(redisService(c) as never).validate();
      const pdb = podDisruptionBudget(c);
      if (pdb !== undefined) new PodDisruptionBudget(pdb as never).validate();
    }
    // And validation does catch a broken object.
    expect(() => {
      new Service({ ...peerService(clusters[0] as ClusterRef), spec: { ports: [{ port: 'x' }] } } as never).validate();
    }).toThrow();
  });

  it('are owned by the RaftCluster, labelled, and selected by what they should select', () => {
    const c = cluster({});
    for (const o of [nodeConfig(c), peerService(c), clientService(c), podDisruptionBudget(c)]) {
      expect(o?.metadata?.ownerReferences).toEqual([{ apiVersion: 'eventraft.io/v1alpha1', kind: 'RaftCluster', name: 'orders', uid: c.uid, controller: true, blockOwnerDeletion: true }]);
      expect(o?.metadata?.labels).toMatchObject({ 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/managed-by': 'eventraft-operator' });
      expect(o?.metadata?.namespace).toBe('shop');
    }
    const nodePods = { 'app.kubernetes.io/name': 'eventraft', 'app.kubernetes.io/instance': 'orders', 'app.kubernetes.io/component': 'node' };
    expect(peerService(c).spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true, selector: nodePods });
    expect(clientService(c).spec?.selector).toEqual(nodePods);
    expect(clientService(c).spec?.publishNotReadyAddresses).toBeUndefined();
    expect(redisService(c).spec?.selector).toEqual({ ...nodePods, 'app.kubernetes.io/component': 'redis' });
    expect(peerAddress(c, 2)).toBe('orders-2.orders-peers.shop.svc:7000');
    expect(httpAddress(c, 2)).toBe('orders-2.orders-peers.shop.svc:8080');
    expect([names.statefulSet(c), names.peerService(c), names.config(c), names.redis(c)]).toEqual(['orders', 'orders-peers', 'orders-config', 'orders-redis']);
  });

  it('keeps a quorum through voluntary disruptions, and gives a single voter no budget', () => {
    const budget = (replicas: number): unknown => podDisruptionBudget(cluster({ replicas }))?.spec?.maxUnavailable;
    expect([1, 3, 5, 7, 9].map(budget)).toEqual([undefined, 1, 2, 3, 4]);
    expect(podDisruptionBudget(cluster({}))?.spec?.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
  });

  it('configures nodes with settings the node accepts', async () => {
    const passwordFile = path.join(await dirs.make(), 'password');
    await writeFile(passwordFile, 's3cret');
    for (const c of [await sample('raftcluster-3-managed-redis.yaml'), await sample('raftcluster-5-external-redis.yaml'), cluster({ redis: { mode: 'disabled' }, raft: { heartbeatMs: 50, electionTimeoutMs: 125 } })]) {
      const data = nodeConfig(c).data ?? {};
      // What the StatefulSet adds per pod (and the mounted password file, here a temp file).
      const env = {
        ...data,
        ...(data.EVENTRAFT_REDIS_PASSWORD_FILE === undefined ? {} : { EVENTRAFT_REDIS_PASSWORD_FILE: passwordFile }),
        EVENTRAFT_NODE_ID: names.pod(c, 0),
        EVENTRAFT_PEER_LISTEN: '0.0.0.0:7000',
        EVENTRAFT_PEER_ADVERTISE: peerAddress(c, 0),
        EVENTRAFT_HTTP_LISTEN: '0.0.0.0:8080',
        EVENTRAFT_HTTP_ADVERTISE: httpAddress(c, 0),
        EVENTRAFT_DATA_DIR: '/var/lib/eventraft',
        EVENTRAFT_JOIN: 'true',
      };
      const res = parseConfig(env);
      if (!res.ok) throw new Error(`${c.name}: ${res.problems.join('; ')}`);
      const { raft, redis } = c.spec;
      expect(res.config).toMatchObject({ clusterId: `shop.${c.name}`, tickMs: raft.heartbeatMs, heartbeatTicks: 1, snapshotThreshold: raft.snapshotThreshold });
      expect(res.config.electionTicks * res.config.tickMs).toBeLessThanOrEqual(raft.electionTimeoutMs);
      expect(res.config.electionTicks).toBeGreaterThanOrEqual(2);
      if (redis.mode === 'disabled') expect(res.config.redis).toBeUndefined();
      else expect(res.config.redis).toMatchObject({ url: redis.mode === 'managed' ? `redis://${c.name}-redis.shop.svc:6379` : redis.url, ttlMs: redis.ttlSeconds * 1000 });
    }
  });
});
