import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, PLURAL, VERSION } from './crd/raftcluster-crd.ts';
import type { Reconciler } from './reconcile/reconciler.ts';
import { Informer } from './runtime/informer.ts';
import { describeApiError } from './runtime/kube.ts';
import type { Kube } from './runtime/kube.ts';
import type { OperatorMetrics } from './runtime/metrics.ts';
import { WorkQueue } from './runtime/work-queue.ts';

/**
 * The controller: informers on RaftClusters and the objects the operator owns, which only turn
 * changes into keys (`namespace/name` of the RaftCluster); a work queue that hands each key to
 * one worker at a time; workers that run the reconciler and requeue as it asks, or with per-key
 * backoff when it fails. Started when this replica wins leader election, stopped when it loses.
 */

export interface ControllerOptions {
  readonly kube: Kube;
  readonly reconciler: Reconciler;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  /** Watch one namespace; undefined: all namespaces. */
  readonly namespace: string | undefined;
  readonly workers?: number;
  readonly relistMs?: number;
  readonly watchdogMs?: number;
}

/** Owned objects carry these labels (operator/desired): the instance label names the RaftCluster. */
const PART_OF = 'app.kubernetes.io/name=eventraft';
const INSTANCE_LABEL = 'app.kubernetes.io/instance';

export class Controller {
  private readonly o: ControllerOptions;
  private readonly queue = new WorkQueue();
  private readonly informers: Informer<KubernetesObject>[] = [];
  private workers: Promise<void>[] = [];
  private running = false;

  constructor(o: ControllerOptions) {
    this.o = o;
    o.metrics.watchInformers(() => this.informers.map((i) => ({ informer: i.name, stats: { ...i.stats } })));
  }

  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const { kube, namespace } = this.o;
    const ns = namespace === undefined ? '' : `/namespaces/${namespace}`;
    const clusterKey = (o: KubernetesObject): string | undefined => (o.metadata?.name === undefined ? undefined : `${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    const ownerKey = (o: KubernetesObject): string | undefined => {
      const instance = o.metadata?.labels?.[INSTANCE_LABEL];
      return instance === undefined ? undefined : `${o.metadata?.namespace ?? ''}/${instance}`;
    };
    this.informers.length = 0;
    this.informers.push(
      this.informer('raftclusters', `/apis/${GROUP}/${VERSION}${ns}/${PLURAL}`, undefined, clusterKey, () =>
        (namespace === undefined ? kube.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) : kube.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL })) as Promise<KubernetesListObject<KubernetesObject>>,
      ),
      this.informer('statefulsets', `/apis/apps/v1${ns}/statefulsets`, PART_OF, ownerKey, () =>
        namespace === undefined ? kube.apps.listStatefulSetForAllNamespaces({ labelSelector: PART_OF }) : kube.apps.listNamespacedStatefulSet({ namespace, labelSelector: PART_OF }),
      ),
      this.informer('pods', `/api/v1${ns}/pods`, PART_OF, ownerKey, () =>
        namespace === undefined ? kube.core.listPodForAllNamespaces({ labelSelector: PART_OF }) : kube.core.listNamespacedPod({ namespace, labelSelector: PART_OF }),
      ),
      this.informer('persistentvolumeclaims', `/api/v1${ns}/persistentvolumeclaims`, PART_OF, ownerKey, () =>
        namespace === undefined ? kube.core.listPersistentVolumeClaimForAllNamespaces({ labelSelector: PART_OF }) : kube.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: PART_OF }),
      ),
    );
    await Promise.all(this.informers.map((i) => i.start()));
    this.workers = Array.from({ length: this.o.workers ?? 2 }, () => this.work());
    this.o.log.info({ namespace: namespace ?? '(all)', clusters: this.informers[0]?.list().length ?? 0 }, 'controller started');
  }

  /** Stops watching, lets reconciles in flight finish, and returns. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.queue.shutDown();
    await Promise.all(this.workers);
    this.o.log.info('controller stopped');
  }

  private informer(name: string, path: string, labelSelector: string | undefined, keyOf: (o: KubernetesObject) => string | undefined, list: () => Promise<KubernetesListObject<KubernetesObject>>): Informer<KubernetesObject> {
    const enqueue = (o: KubernetesObject): void => {
      const key = keyOf(o);
      if (key !== undefined) this.queue.add(key);
      this.o.metrics.queueDepth.set(this.queue.length);
    };
    return new Informer<KubernetesObject>({
      name,
      kubeConfig: this.o.kube.config,
      path,
      list,
      ...(labelSelector === undefined ? {} : { labelSelector }),
      onEvent: (_type, o) => {
        enqueue(o);
      },
      onResync: (all) => {
        for (const o of all) enqueue(o);
      },
      log: this.o.log,
      ...(this.o.relistMs === undefined ? {} : { relistMs: this.o.relistMs }),
      ...(this.o.watchdogMs === undefined ? {} : { watchdogMs: this.o.watchdogMs }),
    });
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return; // shut down
      this.o.metrics.queueDepth.set(this.queue.length);
      const [namespace = '', name = ''] = key.split('/');
      const end = this.o.metrics.reconcileDuration.startTimer();
      try {
        const result = await this.o.reconciler.reconcile(namespace, name);
        this.queue.forget(key);
        if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
        this.o.metrics.reconciles.inc({ result: result.requeueAfterMs === undefined ? 'success' : 'requeue' });
      } catch (err) {
        const retryInMs = this.queue.addRateLimited(key);
        this.o.metrics.reconciles.inc({ result: 'error' });
        this.o.log.warn({ cluster: key, err: describeApiError(err), retryInMs }, 'reconcile failed; retrying');
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }
}
