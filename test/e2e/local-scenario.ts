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
import { randomUUID } from 'node:crypto';
import { EventraftClient } from '../../node/client/index.ts';
import { quorum } from '../../operator/membership/plan.ts';
import { eventually, LocalKubernetes } from '../operator/harness/local-kubernetes.ts';
import type { RaftClusterObject } from '../operator/harness/local-kubernetes.ts';

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

interface NodeView {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly members: readonly { readonly id: string; readonly role: string }[];
}

const MAX_ORDINALS = 5;

export async function runLocalScenario(options: { networkPrefix: string; log?: (line: string) => void }): Promise<ScenarioReport> {
  const say = options.log ?? ((): void => undefined);
  const namespace = 'e2e';
  const name = 'orders';
  const k8s = await LocalKubernetes.start({ networkPrefix: options.networkPrefix, namespace });
  const steps: { step: string; seconds: number }[] = [];
  const statusMismatches: string[] = [];
  const quorumViolations: string[] = [];
  let quorumSamples = 0;
  // Fields, not locals: read by loops that outlive the statements that change them.
  const run = { stopped: false, writing: false, /** off for the delete step, where losing every node is the point */ watchingQuorum: true };
  const background: Promise<void>[] = [];
  const urls = Array.from({ length: MAX_ORDINALS }, (_, k) => k8s.standIn.httpUrl(k));

  const view = async (k: number): Promise<NodeView | undefined> => {
    try {
      const res = await fetch(`${urls[k] ?? ''}/v1/cluster`, { signal: AbortSignal.timeout(1_000) });
      return res.ok ? ((await res.json()) as NodeView) : undefined;
    } catch {
      return undefined;
    }
  };
  const views = async (): Promise<Map<string, NodeView>> => {
    const all = await Promise.all(urls.map((_, k) => view(k)));
    return new Map(all.filter((v) => v !== undefined).map((v) => [v.id, v]));
  };

  const step = async (label: string, run: () => Promise<void>): Promise<void> => {
    say(`- ${label}`);
    const started = Date.now();
    await run();
    steps.push({ step: label, seconds: Math.round((Date.now() - started) / 100) / 10 });
  };

  /** Waits until the status says Running with `replicas` healthy members, then checks it against the nodes. */
  const runningWith = async (replicas: number, extra: (c: RaftClusterObject) => boolean = () => true): Promise<RaftClusterObject> => {
    const c = await eventually(
      `Running with ${String(replicas)} healthy members`,
      async () => {
        const cur = await k8s.getCluster(namespace, name);
        const s = cur?.status;
        return cur !== undefined && s?.phase === 'Running' && s.observedGeneration === cur.metadata.generation && s.members?.length === replicas && s.members.every((m) => m.healthy) && extra(cur) ? cur : undefined;
      },
      120_000,
      async () => `status: ${JSON.stringify((await k8s.getCluster(namespace, name))?.status)}\n${k8s.standIn.dumpLogs(15)}\n---- operator\n${k8s.operatorLogs.slice(-40).join('\n')}`,
    );
    // The status is true: the nodes agree on that leader and that membership.
    const nodes = await views();
    const leaderView = nodes.get(c.status?.leader ?? '');
    if (leaderView?.role !== 'leader') statusMismatches.push(`status leader ${c.status?.leader ?? '-'} is not leading (${leaderView?.role ?? 'unreachable'})`);
    const reported = (c.status?.members ?? []).map((m) => m.name).sort().join(',');
    const actual = (leaderView?.members ?? []).map((m) => m.id).sort().join(',');
    if (leaderView !== undefined && reported !== actual) statusMismatches.push(`status members ${reported} but the leader has ${actual}`);
    return c;
  };

  // Quorum watch: whenever a leader is visible, a majority of its voters must be answering.
  background.push(
    (async () => {
      while (!run.stopped) {
        const nodes = await views();
        if (!run.watchingQuorum) break;
        const leader = [...nodes.values()].filter((v) => v.role === 'leader').sort((a, b) => b.term - a.term)[0];
        if (leader !== undefined) {
          quorumSamples++;
          const voters = leader.members.filter((m) => m.role === 'voter');
          const answering = voters.filter((m) => nodes.has(m.id)).length;
          if (answering < quorum(voters.length)) quorumViolations.push(`${new Date().toISOString()}: ${String(answering)} of ${String(voters.length)} voters answering (leader ${leader.id})`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })(),
  );

  // The writer: one append at a time with client-assigned event ids (retries are idempotent).
  const acknowledged = new Set<string>();
  let unacknowledged = 0;
  let lastAck = Date.now();
  let longestWriteStallMs = 0;
  const client = new EventraftClient({ endpoints: urls, timeoutMs: 3_000, retry: { maxAttempts: 12, baseDelayMs: 50, maxDelayMs: 1_000 } });
  const writer = async (): Promise<void> => {
    for (let n = 0; !run.stopped; n++) {
      if (!run.writing) {
        await new Promise((r) => setTimeout(r, 100));
        lastAck = Date.now();
        continue;
      }
      const id = randomUUID();
      try {
        await client.appendToStream(`e2e-${String(n % 10)}`, [{ id, type: 'Tick', data: { n } }]);
        acknowledged.add(id);
        longestWriteStallMs = Math.max(longestWriteStallMs, Date.now() - lastAck);
        lastAck = Date.now();
      } catch {
        unacknowledged++; // outcome unknown: it may or may not be stored; never counted as lost
      }
    }
  };

  try {
    await k8s.startOperatorProcess(namespace);
    await step('create 3 members', async () => {
      await k8s.createCluster(namespace, name, { replicas: 3, redis: { mode: 'disabled' }, raft: { heartbeatMs: 50, electionTimeoutMs: 500, snapshotThreshold: 500 } });
      await runningWith(3);
    });
    background.push(writer());
    run.writing = true;
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
    run.writing = false;
    // Give the writer's last attempt time to finish before reading.
    await new Promise((r) => setTimeout(r, 500));
    const { lost, duplicated } = await checkAcknowledged(client, acknowledged);
    run.watchingQuorum = false;
    await step('delete', async () => {
      await k8s.deleteCluster(namespace, name);
      await eventually('the RaftCluster gone and its nodes stopped', async () => ((await k8s.getCluster(namespace, name)) === undefined && k8s.standIn.processCount() === 0 ? true : undefined), 60_000);
    });
    return { acknowledged: acknowledged.size, unacknowledged, lost, duplicated, longestWriteStallMs, quorumSamples, quorumViolations, statusMismatches, steps };
  } finally {
    run.stopped = true;
    await Promise.all(background);
    await k8s.stop();
  }
}

async function podUids(k8s: LocalKubernetes, namespace: string): Promise<Map<string, string>> {
  const pods = await k8s.kube.core.listNamespacedPod({ namespace });
  return new Map(pods.items.map((p) => [p.metadata?.name ?? '', p.metadata?.uid ?? '']));
}

/** Reads the whole log (strong) and counts acknowledged ids missing, and ids stored twice. */
async function checkAcknowledged(client: EventraftClient, acknowledged: ReadonlySet<string>): Promise<{ lost: number; duplicated: number }> {
  const seen = new Map<string, number>();
  for (let from = 0; ; ) {
    const page = await client.readAll({ fromPosition: from, limit: 1_000, consistency: 'strong' });
    for (const e of page.events) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
    if (page.events.length === 0) break;
    from = (page.events.at(-1)?.position ?? from) + 1;
  }
  let lost = 0;
  for (const id of acknowledged) if (!seen.has(id)) lost++;
  const duplicated = [...seen.values()].filter((n) => n > 1).length;
  return { lost, duplicated };
}
