/**
 * Kubernetes without Kubernetes, for the operator's tests and `npm run e2e:local`: the in-memory
 * API server, the process-based StatefulSet stand-in running real nodes on a loopback pod
 * network, and the operator either in this process or as a real child process (the way it runs
 * in a pod: `eventraft operator`, configured by environment, killable with SIGKILL).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { GROUP, PLURAL, VERSION } from '../../../operator/crd/raftcluster-crd.ts';
import { Controller } from '../../../operator/controller.ts';
import { NodeAdmin } from '../../../operator/reconcile/node-admin.ts';
import { loopbackNetwork } from '../../../operator/reconcile/pod-network.ts';
import { Reconciler } from '../../../operator/reconcile/reconciler.ts';
import { EventRecorder } from '../../../operator/runtime/events.ts';
import { Failpoints } from '../../../operator/runtime/failpoints.ts';
import { fromConfig, mergePatch } from '../../../operator/runtime/kube.ts';
import type { Kube } from '../../../operator/runtime/kube.ts';
import { OperatorMetrics } from '../../../operator/runtime/metrics.ts';
import { waitForRunning } from '../../e2e/scenario.ts';
import type { ScenarioPlatform } from '../../e2e/scenario.ts';
import type { RaftClusterObject } from './cluster-probes.ts';
import { KubeApiServer } from './kube-api-server.ts';
import { StatefulSetStandIn } from './statefulset-standin.ts';

export { eventually } from './cluster-probes.ts';
export type { RaftClusterObject } from './cluster-probes.ts';

/** The operator process's bearer token: its requests in `api.requests` carry it. */
export const OPERATOR_TOKEN = 'eventraft-operator';

const cli = path.resolve(import.meta.dirname, '../../../node/cli.ts');

export class LocalKubernetes {
  readonly api: KubeApiServer;
  readonly standIn: StatefulSetStandIn;
  readonly root: string;
  readonly networkPrefix: string;
  readonly kube: Kube;
  private readonly operators = new Set<ChildProcess>();
  readonly operatorLogs: string[] = [];

  private constructor(api: KubeApiServer, standIn: StatefulSetStandIn, root: string, networkPrefix: string, namespace: string) {
    this.api = api;
    this.standIn = standIn;
    this.root = root;
    this.networkPrefix = networkPrefix;
    const config = new KubeConfig();
    config.loadFromString(api.kubeconfig(namespace));
    this.kube = fromConfig(config);
  }

  /** `networkPrefix`: 127.a.b, distinct per concurrently running harness. */
  static async start(options: { networkPrefix: string; namespace?: string }): Promise<LocalKubernetes> {
    const root = await mkdtemp(path.join(tmpdir(), 'eventraft-k8s-'));
    const api = await KubeApiServer.start({ bookmarkIntervalMs: 1_000 });
    const standIn = new StatefulSetStandIn({ store: api.store, root, networkPrefix: options.networkPrefix });
    standIn.start();
    return new LocalKubernetes(api, standIn, root, options.networkPrefix, options.namespace ?? 'default');
  }

  /** The operator's pieces in this process (fast to start; for tests that need no kill -9). */
  async startOperatorInProcess(namespace: string, log: Logger = pino({ level: 'silent' })): Promise<Controller> {
    const metrics = new OperatorMetrics();
    const reconciler = new Reconciler({
      kube: this.kube,
      network: loopbackNetwork(this.networkPrefix),
      admin: new NodeAdmin(),
      events: new EventRecorder(this.kube.core, 'eventraft-operator', log),
      failpoints: new Failpoints(undefined),
      log,
      defaultImage: 'eventraft:local',
      redisImage: 'redis:local',
    });
    const controller = new Controller({ kube: this.kube, reconciler, log, metrics, namespace, relistMs: 10_000, watchdogMs: 10_000 });
    await controller.start();
    return controller;
  }

  /** The operator as `eventraft operator`, a child process with its own kubeconfig. */
  async startOperatorProcess(namespace: string, env: Record<string, string> = {}): Promise<ChildProcess> {
    const kubeconfig = path.join(this.root, `kubeconfig-${namespace}`);
    await this.api.writeKubeconfig(kubeconfig, namespace, OPERATOR_TOKEN);
    const child = spawn(process.execPath, [cli, 'operator'], {
      env: {
        PATH: process.env.PATH ?? '',
        EVENTRAFT_OPERATOR_KUBECONFIG: kubeconfig,
        EVENTRAFT_OPERATOR_WATCH_NAMESPACE: namespace,
        EVENTRAFT_OPERATOR_LEASE_NAMESPACE: namespace,
        EVENTRAFT_OPERATOR_POD_NETWORK: `loopback:${this.networkPrefix}`,
        EVENTRAFT_OPERATOR_HTTP_LISTEN: '127.0.0.1:0',
        EVENTRAFT_OPERATOR_LEASE_DURATION_MS: '3000',
        EVENTRAFT_OPERATOR_RENEW_DEADLINE_MS: '2000',
        EVENTRAFT_OPERATOR_RETRY_PERIOD_MS: '500',
        EVENTRAFT_OPERATOR_NODE_IMAGE: 'eventraft:local',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer): void => {
      this.operatorLogs.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      if (this.operatorLogs.length > 2_000) this.operatorLogs.splice(0, this.operatorLogs.length - 2_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.operators.add(child);
    child.once('exit', () => this.operators.delete(child));
    return child;
  }

  async createCluster(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
    await this.kube.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RaftCluster', metadata: { name, namespace }, spec } });
  }

  async getCluster(namespace: string, name: string): Promise<RaftClusterObject | undefined> {
    try {
      return (await this.kube.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as RaftClusterObject;
    } catch {
      return undefined;
    }
  }

  /** Changes the spec as `kubectl apply` would (a merge patch of the spec). */
  async patchSpec(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
    await this.kube.custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { spec } }, mergePatch);
  }

  async deleteCluster(namespace: string, name: string): Promise<void> {
    await this.kube.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name });
  }

  /** Node URLs of ordinals 0..n-1 on the pod network. */
  urls(n = 5): string[] {
    return Array.from({ length: n }, (_, k) => this.standIn.httpUrl(k));
  }

  /**
   * Waits until the status says Running, for the current generation, with `replicas` healthy
   * members; then checks that it tells the truth. Returns the disagreements found.
   */
  async waitForRunning(namespace: string, name: string, replicas: number, timeoutMs = 120_000): Promise<string[]> {
    return waitForRunning(this.platform(namespace, timeoutMs), name, replicas);
  }

  /** This harness as the end-to-end scenario's platform (test/e2e/scenario.ts). */
  platform(namespace: string, stepTimeoutMs = 120_000): ScenarioPlatform {
    return {
      namespace,
      baseSpec: {},
      killLeaderLabel: 'kill -9 the leader',
      stepTimeoutMs,
      nodeUrls: (_name, n) => this.urls(n),
      createCluster: (name, spec) => this.createCluster(namespace, name, spec),
      patchSpec: (name, spec) => this.patchSpec(namespace, name, spec),
      getCluster: (name) => this.getCluster(namespace, name),
      deleteCluster: (name) => this.deleteCluster(namespace, name),
      podUids: async () => {
        const pods = await this.kube.core.listNamespacedPod({ namespace });
        return new Map(pods.items.map((p) => [p.metadata?.name ?? '', p.metadata?.uid ?? '']));
      },
      volumeCount: async () => (await this.kube.core.listNamespacedPersistentVolumeClaim({ namespace })).items.length,
      killPod: (_name, pod) => {
        this.standIn.killProcess(namespace, pod, 'SIGKILL');
        return Promise.resolve();
      },
      nodesGone: () => Promise.resolve(this.standIn.processCount() === 0),
      describe: async (name) => `status: ${JSON.stringify((await this.getCluster(namespace, name))?.status)}\n${this.standIn.dumpLogs(15)}\n---- operator\n${this.operatorLogs.slice(-40).join('\n')}`,
    };
  }

  async stop(): Promise<void> {
    for (const child of this.operators) child.kill('SIGKILL');
    await this.standIn.stop();
    await this.api.stop();
    await rm(this.root, { recursive: true, force: true });
  }
}

