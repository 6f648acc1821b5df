/**
 * The end-to-end scenario's platform on a real Kubernetes cluster (kind in CI): RaftClusters
 * through the API, node pods reached by their stable DNS names, the leader killed by deleting
 * its pod with no grace period. Runs inside the cluster (see scenario-job.yaml), where pod DNS
 * names resolve.
 */
import { GROUP, PLURAL, VERSION } from '../../../operator/crd/raftcluster-crd.ts';
import { HTTP_PORT, names } from '../../../operator/desired/index.ts';
import { connect, isNotFound, mergePatch } from '../../../operator/runtime/kube.ts';
import type { Kube } from '../../../operator/runtime/kube.ts';
import type { RaftClusterObject } from '../../operator/harness/cluster-probes.ts';
import type { ScenarioPlatform } from '../scenario.ts';

export function kubePlatform(options: { namespace: string; baseSpec: Record<string, unknown>; stepTimeoutMs: number; kube?: Kube }): ScenarioPlatform {
  const { namespace } = options;
  const kube = options.kube ?? connect();
  const ref = { group: GROUP, version: VERSION, namespace, plural: PLURAL };
  const nodePods = async (name: string): Promise<Map<string, string>> => {
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/instance=${name},app.kubernetes.io/component=node` });
    return new Map(pods.items.map((p) => [p.metadata?.name ?? '', p.metadata?.uid ?? '']));
  };
  return {
    namespace,
    baseSpec: options.baseSpec,
    killLeaderLabel: 'kill the leader pod (delete, no grace period)',
    stepTimeoutMs: options.stepTimeoutMs,
    nodeUrls: (name, n) => Array.from({ length: n }, (_, k) => `http://${names.pod({ name }, k)}.${names.peerService({ name })}.${namespace}.svc:${String(HTTP_PORT)}`),
    createCluster: async (name, spec) => {
      await kube.custom.createNamespacedCustomObject({ ...ref, body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RaftCluster', metadata: { name, namespace }, spec } });
    },
    patchSpec: async (name, spec) => {
      await kube.custom.patchNamespacedCustomObject({ ...ref, name, body: { spec } }, mergePatch);
    },
    getCluster: async (name) => {
      try {
        return (await kube.custom.getNamespacedCustomObject({ ...ref, name })) as RaftClusterObject;
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    deleteCluster: async (name) => {
      await kube.custom.deleteNamespacedCustomObject({ ...ref, name });
    },
    podUids: nodePods,
    volumeCount: async (name) => (await kube.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: `app.kubernetes.io/instance=${name}` })).items.length,
    killPod: async (_name, pod) => {
      await kube.core.deleteNamespacedPod({ namespace, name: pod, gracePeriodSeconds: 0 });
    },
    nodesGone: async (name) => (await nodePods(name)).size === 0,
    describe: async (name) => {
      const cluster = (await kube.custom.getNamespacedCustomObject({ ...ref, name }).catch(() => undefined)) as RaftClusterObject | undefined;
      const pods = await kube.core.listNamespacedPod({ namespace });
      const podLines = pods.items.map((p) => `${p.metadata?.name ?? ''} ${p.status?.phase ?? ''} ready=${String(p.status?.conditions?.find((c) => c.type === 'Ready')?.status)}`);
      return `status: ${JSON.stringify(cluster?.status)}\npods:\n${podLines.join('\n')}`;
    },
  };
}
