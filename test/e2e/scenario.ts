/**
 * The operator's end-to-end scenario, whatever runs the pods: on this machine the in-memory API
 * server and the process-based StatefulSet stand-in (local-scenario.ts, `npm run e2e:local`, CI),
 * on a kind cluster real Kubernetes (kind/, run as a Job inside the cluster).
 *
 * With a client appending all along: create 3 -> Running with a leader in status -> scale to 5 ->
 * scale to 3 -> change the node config (a rolling update) -> kill the leader -> delete. Checked
 * throughout: the status tells the truth (its leader and members are what the nodes say), quorum
 * is never lost (the leader's voters that answer are always a majority); at the end, every
 * acknowledged append is in the log exactly once.
 */
import { eventually, nodeViews, QuorumWatch, Writer } from '../operator/harness/cluster-probes.ts';
import type { RaftClusterObject } from '../operator/harness/cluster-probes.ts';

/** What the scenario needs from where it runs. */
export interface ScenarioPlatform {
  readonly namespace: string;
  /** Merged into every spec the scenario writes (image pull policy, storage, resources...). */
  readonly baseSpec: Readonly<Record<string, unknown>>;
  /** How the leader is killed here, as the step's label (e.g. "kill -9 the leader"). */
  readonly killLeaderLabel: string;
  /** How long a step may take to converge (real pods start slower than processes). */
  readonly stepTimeoutMs: number;
  /** HTTP base URLs of the node pods of ordinals 0..n-1, as reachable from here. */
  nodeUrls(name: string, n: number): string[];
  createCluster(name: string, spec: Record<string, unknown>): Promise<void>;
  patchSpec(name: string, spec: Record<string, unknown>): Promise<void>;
  getCluster(name: string): Promise<RaftClusterObject | undefined>;
  deleteCluster(name: string): Promise<void>;
  /** Pod name -> uid of the cluster's node pods. */
  podUids(name: string): Promise<Map<string, string>>;
  /** The cluster's volume claims. */
  volumeCount(name: string): Promise<number>;
  /** Kills the pod abruptly: SIGKILL of its process, or a delete with no grace period. */
  killPod(name: string, pod: string): Promise<void>;
  /** True when no node of the cluster runs any more. */
  nodesGone(name: string): Promise<boolean>;
  /** Context for a timeout message: status, pods, operator logs. */
  describe(name: string): Promise<string>;
}

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

const RAFT = { heartbeatMs: 50, electionTimeoutMs: 500, snapshotThreshold: 500 };

/**
 * Waits until the status says Running, for the current generation, with `replicas` healthy
 * members; then checks that it tells the truth (the nodes agree on its leader and members).
 * Returns the disagreements found.
 */
export async function waitForRunning(p: ScenarioPlatform, name: string, replicas: number): Promise<string[]> {
  const c = await eventually(
    `${name} Running with ${String(replicas)} healthy members`,
    async () => {
      const cur = await p.getCluster(name);
      const s = cur?.status;
      return cur !== undefined && s?.phase === 'Running' && s.observedGeneration === cur.metadata.generation && s.members?.length === replicas && s.members.every((m) => m.healthy) ? cur : undefined;
    },
    p.stepTimeoutMs,
    () => p.describe(name),
  );
  const mismatches: string[] = [];
  const nodes = await nodeViews(p.nodeUrls(name, 5));
  const leaderView = nodes.get(c.status?.leader ?? '');
  if (leaderView?.role !== 'leader') mismatches.push(`status leader ${c.status?.leader ?? '-'} is not leading (${leaderView?.role ?? 'unreachable'})`);
  const reported = (c.status?.members ?? []).map((m) => m.name).sort().join(',');
  const actual = (leaderView?.members ?? []).map((m) => m.id).sort().join(',');
  if (leaderView !== undefined && reported !== actual) mismatches.push(`status members ${reported} but the leader has ${actual}`);
  return mismatches;
}

export async function runScenario(p: ScenarioPlatform, options: { name?: string; log?: (line: string) => void } = {}): Promise<ScenarioReport> {
  const say = options.log ?? ((): void => undefined);
  const name = options.name ?? 'orders';
  const steps: { step: string; seconds: number }[] = [];
  const statusMismatches: string[] = [];
  const urls = p.nodeUrls(name, 5);
  const spec = (extra: Record<string, unknown>): Record<string, unknown> => ({ ...p.baseSpec, ...extra });

  const step = async (label: string, run: () => Promise<void>): Promise<void> => {
    say(`- ${label}`);
    const started = Date.now();
    await run();
    steps.push({ step: label, seconds: Math.round((Date.now() - started) / 100) / 10 });
  };
  const runningWith = async (replicas: number): Promise<void> => {
    statusMismatches.push(...(await waitForRunning(p, name, replicas)));
  };

  const quorumWatch = new QuorumWatch(urls);
  let writer: Writer | undefined;
  try {
    await step('create 3 members', async () => {
      await p.createCluster(name, spec({ replicas: 3, redis: { mode: 'disabled' }, raft: RAFT }));
      await runningWith(3);
    });
    writer = new Writer(urls);
    await step('scale to 5', async () => {
      await p.patchSpec(name, { replicas: 5 });
      await runningWith(5);
    });
    await step('scale to 3', async () => {
      await p.patchSpec(name, { replicas: 3 });
      await runningWith(3);
      await eventually('the volumes of removed members deleted', async () => ((await p.volumeCount(name)) === 3 ? true : undefined), p.stepTimeoutMs, () => p.describe(name));
    });
    await step('change the node config (rolling update)', async () => {
      const before = await p.podUids(name);
      await p.patchSpec(name, { raft: { ...RAFT, electionTimeoutMs: 600 } });
      await runningWith(3);
      const after = await p.podUids(name);
      const replaced = [...before].filter(([pod, uid]) => after.get(pod) !== uid).length;
      if (replaced !== 3) statusMismatches.push(`rolling update replaced ${String(replaced)} of 3 pods before reporting Running`);
    });
    await step(p.killLeaderLabel, async () => {
      const leader = (await p.getCluster(name))?.status?.leader ?? '';
      await p.killPod(name, leader);
      await eventually('a new leader', async () => ((await p.getCluster(name))?.status?.leader ?? leader) !== leader ? true : undefined, p.stepTimeoutMs, () => p.describe(name));
      await runningWith(3);
    });
    const { lost, duplicated } = await writer.stopAndCheck();
    // Off for the delete step, where losing every node is the point.
    await quorumWatch.stop();
    await step('delete', async () => {
      await p.deleteCluster(name);
      await eventually('the RaftCluster gone and its nodes stopped', async () => ((await p.getCluster(name)) === undefined && (await p.nodesGone(name)) ? true : undefined), p.stepTimeoutMs, () => p.describe(name));
    });
    return { acknowledged: writer.acknowledged.size, unacknowledged: writer.unacknowledged, lost, duplicated, longestWriteStallMs: writer.longestStallMs, quorumSamples: quorumWatch.samples, quorumViolations: quorumWatch.violations, statusMismatches, steps };
  } finally {
    await quorumWatch.stop();
    await writer?.stop();
  }
}

/** Whether a report is a pass: nothing lost or duplicated, quorum kept, status truthful. */
export function scenarioPassed(r: ScenarioReport): boolean {
  return r.lost === 0 && r.duplicated === 0 && r.quorumViolations.length === 0 && r.statusMismatches.length === 0 && r.acknowledged > 0;
}
