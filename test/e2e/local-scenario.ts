/**
 * The operator's end-to-end scenario without Kubernetes (issue #6), shared by `npm run e2e:local`
 * and the test suite: the in-memory API server, the process-based StatefulSet stand-in running
 * real nodes, and the real `eventraft operator` process. With a client appending all along:
 * create 3 -> ready with a leader in status -> scale to 5 -> scale to 3 -> change the node config
 * (a rolling update) -> kill -9 the leader's process -> delete. Checked throughout: the status
 * tells the truth (its leader and members are what the nodes say), quorum is never lost (the
 * leader's voters that answer are always a majority); at the end, every acknowledged append is
 * in the log exactly once.
 */
import { QuorumWatch, Writer } from '../operator/harness/cluster-probes.ts';
import { eventually, LocalKubernetes } from '../operator/harness/local-kubernetes.ts';

export interface ScenarioReport {
  readonly acknowledged: number;
  readonly unacknowledged: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly longestWriteStallMs: number;
  readonly quorumSamples: number;
  readonly quorumViolations: readonly string[];
  readonly statusMismatches: readonly string[];
  readonly steps: readonly { readonly step: string; readonly seconds: number }[];
}

export async function runLocalScenario(options: { networkPrefix: string; log?: (line: string) => void }): Promise<ScenarioReport> {
  const say = options.log ?? ((): void => undefined);
  const namespace = 'e2e';
  const name = 'orders';
  const k8s = await LocalKubernetes.start({ networkPrefix: options.networkPrefix, namespace });
  const steps: { step: string; seconds: number }[] = [];
  const statusMismatches: string[] = [];
  const urls = k8s.urls(5);

  const step = async (label: string, run: () => Promise<void>): Promise<void> => {
    say(`- ${label}`);
    const started = Date.now();
    await run();
    steps.push({ step: label, seconds: Math.round((Date.now() - started) / 100) / 10 });
  };

  const runningWith = async (replicas: number): Promise<void> => {
    statusMismatches.push(...(await k8s.waitForRunning(namespace, name, replicas)));
  };

  const quorumWatch = new QuorumWatch(urls);
  let writer: Writer | undefined;

  try {
    await k8s.startOperatorProcess(namespace);
    await step('create 3 members', async () => {
      await k8s.createCluster(namespace, name, { replicas: 3, redis: { mode: 'disabled' }, raft: { heartbeatMs: 50, electionTimeoutMs: 500, snapshotThreshold: 500 } });
      await runningWith(3);
    });
    writer = new Writer(urls);
    await step('scale to 5', async () => {
      await k8s.patchSpec(namespace, name, { replicas: 5 });
      await runningWith(5);
    });
    await step('scale to 3', async () => {
      await k8s.patchSpec(namespace, name, { replicas: 3 });
      await runningWith(3);
      await eventually('the volumes of removed members deleted', async () => ((await k8s.kube.core.listNamespacedPersistentVolumeClaim({ namespace })).items.length === 3 ? true : undefined));
    });
    await step('change the node config (rolling update)', async () => {
      const before = await podUids(k8s, namespace);
      await k8s.patchSpec(namespace, name, { raft: { heartbeatMs: 50, electionTimeoutMs: 600, snapshotThreshold: 500 } });
      await runningWith(3);
      const after = await podUids(k8s, namespace);
      const replaced = [...before].filter(([pod, uid]) => after.get(pod) !== uid).length;
      if (replaced !== 3) statusMismatches.push(`rolling update replaced ${String(replaced)} of 3 pods before reporting Running`);
    });
    await step('kill -9 the leader', async () => {
      const leader = (await k8s.getCluster(namespace, name))?.status?.leader ?? '';
      k8s.standIn.killProcess(namespace, leader, 'SIGKILL');
      await eventually('a new leader', async () => ((await k8s.getCluster(namespace, name))?.status?.leader ?? leader) !== leader ? true : undefined);
      await runningWith(3);
    });
    const { lost, duplicated } = await writer.stopAndCheck();
    // Off for the delete step, where losing every node is the point.
    await quorumWatch.stop();
    await step('delete', async () => {
      await k8s.deleteCluster(namespace, name);
      await eventually('the RaftCluster gone and its nodes stopped', async () => ((await k8s.getCluster(namespace, name)) === undefined && k8s.standIn.processCount() === 0 ? true : undefined), 60_000);
    });
    return { acknowledged: writer.acknowledged.size, unacknowledged: writer.unacknowledged, lost, duplicated, longestWriteStallMs: writer.longestStallMs, quorumSamples: quorumWatch.samples, quorumViolations: quorumWatch.violations, statusMismatches, steps };
  } finally {
    await quorumWatch.stop();
    await writer?.stop();
    await k8s.stop();
  }
}

async function podUids(k8s: LocalKubernetes, namespace: string): Promise<Map<string, string>> {
  const pods = await k8s.kube.core.listNamespacedPod({ namespace });
  return new Map(pods.items.map((p) => [p.metadata?.name ?? '', p.metadata?.uid ?? '']));
}

