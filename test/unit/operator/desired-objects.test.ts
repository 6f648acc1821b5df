import { afterAll, describe, expect, it } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parse } from 'yaml';
import { parseConfig } from '../../../node/config.ts';
import { ADMIN_TOKEN_FILE, clientService, configHash, httpAddress, names, nodeConfig, peerAddress, peerService, podDisruptionBudget, REDIS_PASSWORD_FILE, redisDeployment, redisService, statefulSet } from '../../../operator/desired/index.ts';
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
      new Deployment(redisDeployment(c, { image: 'redis:7.4' }) as never).validate();
      new StatefulSet(statefulSet(c, { replicas: c.spec.replicas, image: 'eventraft:test' }) as never).validate();
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

  it('runs nodes as a StatefulSet the operator sequences: parallel start, replaced on delete, volumes kept until it removes them', async () => {
    const c = await sample('raftcluster-5-external-redis.yaml');
    const sts = statefulSet(c, { replicas: 3, image: 'registry.example/eventraft:1.2.3' });
    expect(sts.spec).toMatchObject({
      replicas: 3, // what the reconciler asked for, not spec.replicas (5)
      serviceName: 'ledger-peers',
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Retain', whenDeleted: 'Retain' },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'fast-ssd', resources: { requests: { storage: '50Gi' } } } }],
    });
    const pod = sts.spec?.template.spec;
    const node = pod?.containers[0];
    expect(pod).toMatchObject({ automountServiceAccountToken: false, securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } } });
    expect(pod?.topologySpreadConstraints).toEqual([expect.objectContaining({ topologyKey: 'topology.kubernetes.io/zone' })]);
    expect(node).toMatchObject({
      image: 'registry.example/eventraft:1.2.3',
      args: ['node'],
      securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      readinessProbe: { httpGet: { path: '/readyz', port: 'http' } },
      livenessProbe: { httpGet: { path: '/livez', port: 'http' } },
      startupProbe: { httpGet: { path: '/livez', port: 'http' } },
      resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } },
    });
    // Every file a setting names is mounted where the setting says.
    const mountOf = (file: string): string | undefined => node?.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`))?.name;
    expect(mountOf(ADMIN_TOKEN_FILE)).toBe('admin-token');
    expect(mountOf(REDIS_PASSWORD_FILE)).toBe('redis-password');
    expect(pod?.volumes?.find((v) => v.name === 'redis-password')?.secret).toMatchObject({ secretName: 'ledger-redis', items: [{ key: 'password', path: 'password' }] });
    expect(mountOf(`${String(node?.env?.find((e) => e.name === 'EVENTRAFT_DATA_DIR')?.value)}/x`)).toBe('data');
    // Default placement: preferably one node per host.
    expect(statefulSet(cluster({}), { replicas: 3, image: 'x' }).spec?.template.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
  });

  it('gives every pod settings the node accepts, once Kubernetes expands $(POD_NAME)', () => {
    const c = cluster({ redis: { mode: 'disabled' } });
    const node = statefulSet(c, { replicas: 3, image: 'x' }).spec?.template.spec?.containers[0];
    const podName = names.pod(c, 1);
    const env: Record<string, string> = { ...nodeConfig(c).data, EVENTRAFT_JOIN: 'true' };
    for (const e of node?.env ?? []) env[e.name] = e.valueFrom?.fieldRef?.fieldPath === 'metadata.name' ? podName : (e.value ?? '').replaceAll('$(POD_NAME)', podName);
    delete env.EVENTRAFT_ADMIN_TOKEN_FILE; // a mounted Secret in the pod
    const res = parseConfig(env);
    if (!res.ok) throw new Error(res.problems.join('; '));
    expect(res.config).toMatchObject({ nodeId: 'orders-1', dataDir: '/var/lib/eventraft/data' });
    expect(env.EVENTRAFT_PEER_ADVERTISE).toBe(peerAddress(c, 1));
    expect(env.EVENTRAFT_HTTP_ADVERTISE).toBe(httpAddress(c, 1));
    expect(node?.envFrom).toEqual([{ configMapRef: { name: 'orders-config' } }, { configMapRef: { name: 'orders-bootstrap', optional: true } }]);
  });

  it('changes the pod template when, and only when, the shared node settings change', () => {
    const hash = (spec: unknown): string => {
      const c = cluster(spec);
      const annotation = statefulSet(c, { replicas: 3, image: 'x' }).spec?.template.metadata?.annotations?.['eventraft.io/config-hash'];
      expect(annotation).toBe(configHash(c));
      return annotation as string;
    };
    const base = hash({});
    expect(hash({ replicas: 5, storage: { size: '20Gi' }, paused: true })).toBe(base);
    expect(hash({ raft: { heartbeatMs: 50 } })).not.toBe(base);
    expect(hash({ redis: { mode: 'managed', ttlSeconds: 60 } })).not.toBe(base);
  });

  it('runs the managed Redis as a cache that can never evict the epoch counter', () => {
    const c = cluster({});
    const d = redisDeployment(c, { image: 'redis:7.4', maxMemoryMb: 512 });
    expect(d.spec).toMatchObject({ replicas: 1, strategy: { type: 'Recreate' }, selector: { matchLabels: redisService(c).spec?.selector } });
    const args = d.spec?.template.spec?.containers[0]?.args ?? [];
    const arg = (flag: string): string | undefined => args[args.indexOf(flag) + 1];
    // volatile-*: only keys with a TTL are evicted; the epoch has none (docs/cache.md).
    expect([arg('--maxmemory-policy'), arg('--maxmemory'), arg('--appendonly'), arg('--save')]).toEqual(['volatile-lru', '512mb', 'no', '']);
    expect(d.spec?.template.spec?.containers[0]?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });
});
