import { randomBytes } from 'node:crypto';
import type { KubernetesObject, V1ConfigMap, V1PersistentVolumeClaim, V1StatefulSet } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, PLURAL, VERSION } from '../crd/raftcluster-crd.ts';
import type { ClusterRef } from '../desired/index.ts';
import { clientService, names, nodeConfig, ownedMetadata, peerService, podDisruptionBudget, redisDeployment, redisService, selectorLabels, statefulSet } from '../desired/index.ts';
import { planMembership, quorum } from '../membership/plan.ts';
import type { Step } from '../membership/plan.ts';
import { planRollingUpdate } from '../membership/rolling-update.ts';
import type { RollingStep } from '../membership/rolling-update.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { Failpoints } from '../runtime/failpoints.ts';
import { apply, isConflict, isNotFound, mergePatch } from '../runtime/kube.ts';
import type { Kube } from '../runtime/kube.ts';
import { checkSpec, checkTransition, mebibytes } from '../spec/raftcluster-spec.ts';
import type { RaftClusterSpec } from '../spec/raftcluster-spec.ts';
import { NodeAdminError } from './node-admin.ts';
import type { NodeAdmin } from './node-admin.ts';
import { CONTROLLER_REVISION_LABEL, isPodReady, observeCluster } from './observe.ts';
import type { ClusterObservation } from './observe.ts';
import type { PodNetwork } from './pod-network.ts';
import { statusChanged, withConditions } from './status.ts';
import type { Condition, Phase, RaftClusterStatus } from './status.ts';

/**
 * The RaftCluster reconciler (ARCHITECTURE §8). Level-based: each pass reads the world, applies
 * the desired objects (server-side apply, idempotent), and takes at most one disruptive step
 * (a membership change, a StatefulSet resize, a pod replacement), chosen by the pure planners
 * from what it observed in this pass only. Nothing is remembered between passes except what is
 * stored in the API (the bootstrap ConfigMap, the StatefulSet, the RaftCluster's status) and in
 * Raft itself, so that an operator killed between any two side effects resumes correctly.
 */

export const FINALIZER = 'eventraft.io/cleanup';
/** A learner this close to the leader's commit index is caught up (promotion, roll gates). */
export const DEFAULT_MAX_LAG = 200;

export interface ReconcilerDeps {
  readonly kube: Kube;
  readonly network: PodNetwork;
  readonly admin: NodeAdmin;
  readonly events: EventRecorder;
  readonly failpoints: Failpoints;
  readonly log: Logger;
  /** The node image when spec.image is unset (the operator's own). */
  readonly defaultImage: string;
  readonly redisImage: string;
  readonly maxLag?: number;
  readonly now?: () => Date;
}

export interface ReconcileResult {
  /** Reconcile again after this long (progress to observe); undefined: on the next change. */
  readonly requeueAfterMs: number | undefined;
}

/** How often to look again while something is in progress, and when all is quiet. */
const PROGRESS_MS = 1_000;
const STEADY_MS = 30_000;

/** What one pass read, handed to the step it takes (no second read of the same objects). */
interface Pass {
  readonly cluster: RaftClusterObject;
  readonly c: ClusterRef;
  readonly sts: V1StatefulSet;
  readonly observed: ClusterObservation;
  readonly bootstrap: V1ConfigMap | undefined;
  readonly token: string;
  readonly log: Logger;
}

interface RaftClusterObject extends KubernetesObject {
  spec?: unknown;
  status?: Partial<RaftClusterStatus>;
}

/** The bootstrap ConfigMap's keys (envFrom of every node pod, read once at pod start). */
const INITIAL_MEMBERS = 'EVENTRAFT_INITIAL_MEMBERS';
const JOIN = 'EVENTRAFT_JOIN';
const INCARNATIONS = 'EVENTRAFT_MEMBER_INCARNATIONS';

export class Reconciler {
  private readonly d: ReconcilerDeps;
  private readonly maxLag: number;
  private readonly now: () => Date;

  constructor(deps: ReconcilerDeps) {
    this.d = deps;
    this.maxLag = deps.maxLag ?? DEFAULT_MAX_LAG;
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const cluster = await this.getCluster(namespace, name);
    if (cluster === undefined) return { requeueAfterMs: undefined }; // gone: owner references clean up
    const meta = cluster.metadata ?? {};
    if (meta.deletionTimestamp !== undefined) return this.finalize(cluster);
    if (!(meta.finalizers ?? []).includes(FINALIZER)) {
      await this.setFinalizers(cluster, [...(meta.finalizers ?? []), FINALIZER]);
      return { requeueAfterMs: 0 };
    }
    const generation = meta.generation ?? 0;
    const checked = checkSpec(cluster.spec);
    if (!checked.ok) {
      const message = checked.problems.join('; ');
      await this.d.events.warning(cluster, 'InvalidSpec', message);
      await this.writeStatus(cluster, this.statusOf(cluster, { phase: 'Invalid', generation, problem: { reason: 'InvalidSpec', message } }));
      return { requeueAfterMs: undefined };
    }
    const c: ClusterRef = { name: meta.name ?? name, namespace, uid: meta.uid ?? '', spec: checked.spec };
    return this.reconcileCluster(cluster, c, generation);
  }

  // ------------------------------------------------------------------ the pass

  private async reconcileCluster(cluster: RaftClusterObject, c: ClusterRef, generation: number): Promise<ReconcileResult> {
    const log = this.d.log.child({ cluster: `${c.namespace}/${c.name}` });
    const { spec } = c;
    const sts = await this.getStatefulSet(c);
    const podList = (await this.d.kube.core.listNamespacedPod({ namespace: c.namespace, labelSelector: selector(c) })).items;

    if (spec.paused) {
      const observed = sts === undefined ? undefined : await observeCluster(c, podList, this.d.network, this.d.admin);
      await this.writeStatus(cluster, this.statusOf(cluster, { phase: 'Paused', generation, observed, progressing: { reason: 'Paused', message: 'spec.paused: no changes are made' } }));
      return { requeueAfterMs: STEADY_MS };
    }

    const token = await this.ensureAdminToken(c);
    await this.applyOwnedObjects(c);

    if (sts === undefined) {
      // A new cluster: its founding members start together (a lone first node could never elect
      // a leader) and bootstrap from the same member list. A StatefulSet deleted by hand (e.g.
      // orphaned to change an immutable field) is recreated without going back to bootstrap:
      // once the group has formed, a pod with an empty volume must only ever join it.
      const formed = (await this.readBootstrap(c))?.data?.[JOIN] === 'true';
      if (!formed) await this.writeBootstrap(c, { [INITIAL_MEMBERS]: this.foundingMembers(c, spec.replicas) });
      await apply(this.d.kube, statefulSet(c, { replicas: spec.replicas, image: this.image(spec) }));
      this.d.failpoints.hit('after-create-statefulset');
      await this.d.events.normal(cluster, 'Created', `created ${String(spec.replicas)} founding members`);
      await this.writeStatus(cluster, this.statusOf(cluster, { phase: 'Creating', generation, progressing: { reason: 'Creating', message: 'waiting for the founding members to elect a leader' } }));
      return { requeueAfterMs: PROGRESS_MS };
    }

    const observed = await observeCluster(c, podList, this.d.network, this.d.admin);
    const bootstrap = await this.readBootstrap(c);
    const bootstrapped = bootstrap?.data?.[JOIN] === 'true';
    if (observed.leader !== undefined && !bootstrapped) {
      // The group exists: from now on a pod that starts without data waits to be added (join),
      // and never bootstraps a second group.
      await this.writeBootstrap(c, { [JOIN]: 'true', ...incarnationsEntry(bootstrap) });
      this.d.failpoints.hit('after-bootstrap-switch');
      await this.d.events.normal(cluster, 'Bootstrapped', `the group has a leader (${names.pod(c, observed.leader.ordinal)}); new pods now join it`);
    }

    // The StatefulSet's template follows the spec (OnDelete: a change rolls nothing by itself);
    // its replicas only move through membership steps; its claim template is immutable.
    const storageProblems = this.checkStorage(sts, spec);
    const applied = await apply(this.d.kube, this.desiredStatefulSet(c, sts, sts.spec?.replicas ?? 0));
    const pvcs = (await this.d.kube.core.listNamespacedPersistentVolumeClaim({ namespace: c.namespace, labelSelector: selector(c) })).items;
    if (storageProblems.length === 0) await this.expandVolumes(c, pvcs);

    const pass: Pass = { cluster, c, sts: applied, observed, bootstrap, token, log };
    let outcome: { phase: Phase | undefined; reason: string; message: string; requeueAfterMs: number };
    const membershipStep = planMembership({
      desired: spec.replicas,
      statefulSetReplicas: applied.spec?.replicas ?? 0,
      leader: observed.leader?.ordinal,
      members: observed.members,
      volumes: pvcs.map((p) => volumeOrdinal(c, p)).filter((o) => o !== undefined),
      deleteVolumesWhenScaled: spec.pvcRetention.whenScaled === 'Delete',
      maxPromoteLag: this.maxLag,
    });
    if (membershipStep.kind !== 'converged') {
      const acted = await this.runStep(pass, membershipStep);
      const scaling = observed.leader !== undefined && (observed.members.filter((m) => m.role === 'voter').length !== spec.replicas || observed.members.some((m) => m.role === 'learner') || membershipStep.kind !== 'wait');
      // A member down while its pod is being replaced is the roll's doing, not a fault.
      const rolling = [...observed.pods.values()].some((p) => p.metadata?.labels?.[CONTROLLER_REVISION_LABEL] !== applied.status?.updateRevision);
      outcome = { phase: observed.leader === undefined ? undefined : scaling ? 'Scaling' : rolling ? 'Upgrading' : 'Degraded', ...acted };
    } else {
      const rollStep = this.planRoll(applied, observed);
      if (rollStep.kind !== 'converged') {
        const acted = await this.runStep(pass, rollStep);
        outcome = { phase: 'Upgrading', ...acted };
      } else {
        outcome = { phase: 'Running', reason: 'Converged', message: `${String(spec.replicas)} members, all healthy, all up to date`, requeueAfterMs: STEADY_MS };
      }
    }
    const problem = storageProblems.length > 0 ? { reason: 'StorageChangeRefused', message: storageProblems.join('; ') } : undefined;
    if (problem !== undefined) await this.d.events.warning(cluster, problem.reason, problem.message);
    const phase: Phase = outcome.phase ?? (bootstrapped ? 'Degraded' : 'Creating');
    await this.writeStatus(
      cluster,
      this.statusOf(cluster, {
        phase,
        generation,
        observed,
        ...(phase === 'Running' ? {} : { progressing: { reason: outcome.reason, message: outcome.message } }),
        ...(problem === undefined ? {} : { problem }),
      }),
    );
    return { requeueAfterMs: outcome.requeueAfterMs };
  }

  private planRoll(sts: V1StatefulSet, observed: ClusterObservation): RollingStep {
    const updateRevision = sts.status?.updateRevision;
    // The StatefulSet controller has not seen the latest template yet: its revisions are stale.
    if (updateRevision === undefined || (sts.status?.observedGeneration ?? 0) < (sts.metadata?.generation ?? 0)) return { kind: 'wait', reason: 'the StatefulSet controller has not observed the latest template' };
    return planRollingUpdate({
      leader: observed.leader?.ordinal,
      members: observed.members,
      pods: [...observed.pods].map(([ordinal, pod]) => ({ ordinal, revision: pod.metadata?.labels?.[CONTROLLER_REVISION_LABEL] })),
      updateRevision,
      maxLag: this.maxLag,
    });
  }

  /** Takes one step; an admin call a node refused is reported and retried, not an error. */
  private async runStep(pass: Pass, step: Step | RollingStep): Promise<{ reason: string; message: string; requeueAfterMs: number }> {
    const { cluster, c, sts, observed, token, log } = pass;
    if (step.kind === 'wait') return { reason: 'Waiting', message: step.reason, requeueAfterMs: PROGRESS_MS };
    if (step.kind === 'converged') return { reason: 'Converged', message: 'nothing to do', requeueAfterMs: STEADY_MS };
    const leader = observed.leader;
    const leaderHttp = leader === undefined ? '' : this.d.network.httpAddress(c, leader.ordinal);
    const pod = (ordinal: number): string => names.pod(c, ordinal);
    log.info({ step }, 'taking a step');
    try {
      switch (step.kind) {
        case 'addLearner': {
          // A re-added ordinal starts empty: a new incarnation, so a new data directory.
          const incarnations = parseIncarnations(pass.bootstrap?.data?.[INCARNATIONS]);
          incarnations.set(pod(step.ordinal), (incarnations.get(pod(step.ordinal)) ?? 0) + 1);
          await this.writeBootstrap(c, { [JOIN]: 'true', [INCARNATIONS]: formatIncarnations(incarnations) });
          this.d.failpoints.hit('after-incarnation-bump');
          // A pod still running under that name (a member removed earlier) restarts into it.
          if (observed.pods.has(step.ordinal)) await this.deletePod(c, step.ordinal);
          await this.d.admin.addLearner(leaderHttp, token, pod(step.ordinal), `${this.d.network.peerAddress(c, step.ordinal)}/${this.d.network.httpAddress(c, step.ordinal)}`);
          this.d.failpoints.hit('after-add-learner');
          await this.d.events.normal(cluster, 'MemberAdded', `${pod(step.ordinal)} added as a learner`);
          break;
        }
        case 'scaleStatefulSet':
          this.d.failpoints.hit('before-scale-statefulset');
          await apply(this.d.kube, this.desiredStatefulSet(c, sts, step.replicas));
          await this.d.events.normal(cluster, 'Scaled', `StatefulSet ${String(sts.spec?.replicas ?? 0)} -> ${String(step.replicas)} pods`);
          break;
        case 'promote':
          await this.d.admin.promote(leaderHttp, token, pod(step.ordinal));
          this.d.failpoints.hit('after-promote');
          await this.d.events.normal(cluster, 'MemberPromoted', `${pod(step.ordinal)} caught up and became a voter`);
          break;
        case 'transferLeadership':
          await this.d.admin.transferLeadership(leaderHttp, token, pod(step.to));
          this.d.failpoints.hit('after-transfer-leadership');
          await this.d.events.normal(cluster, 'LeadershipTransferred', `leadership moved from ${pod(leader?.ordinal ?? -1)} to ${pod(step.to)}`);
          break;
        case 'removeMember':
          await this.d.admin.remove(leaderHttp, token, pod(step.ordinal));
          this.d.failpoints.hit('after-remove-member');
          await this.d.events.normal(cluster, 'MemberRemoved', `${pod(step.ordinal)} removed from the Raft group`);
          break;
        case 'deleteVolume': {
          if (observed.pods.has(step.ordinal)) return { reason: 'Waiting', message: `pod ${pod(step.ordinal)} is still terminating`, requeueAfterMs: PROGRESS_MS };
          const claim = `data-${names.statefulSet(c)}-${String(step.ordinal)}`;
          await this.d.kube.core.deleteNamespacedPersistentVolumeClaim({ namespace: c.namespace, name: claim }).catch(ignoreNotFound);
          await this.d.events.normal(cluster, 'VolumeDeleted', `${claim} deleted (pvcRetention.whenScaled: Delete)`);
          break;
        }
        case 'replacePod':
          this.d.failpoints.hit('before-replace-pod');
          await this.deletePod(c, step.ordinal);
          await this.d.events.normal(cluster, 'PodReplaced', `${pod(step.ordinal)} replaced to run the new revision`);
          break;
      }
    } catch (err) {
      if (!(err instanceof NodeAdminError)) throw err;
      await this.d.events.warning(cluster, 'StepFailed', `${step.kind}: ${err.message}`);
      return { reason: 'StepFailed', message: err.message, requeueAfterMs: PROGRESS_MS * 2 };
    }
    return { reason: stepReason(step), message: describeStep(c, step), requeueAfterMs: PROGRESS_MS };
  }

  // ------------------------------------------------------------------ deletion

  /** Orderly delete: the nodes stop first, then their volumes go (per retention), then the finalizer. */
  private async finalize(cluster: RaftClusterObject): Promise<ReconcileResult> {
    const meta = cluster.metadata ?? {};
    if (!(meta.finalizers ?? []).includes(FINALIZER)) return { requeueAfterMs: undefined };
    const namespace = meta.namespace ?? '';
    const name = meta.name ?? '';
    const checked = checkSpec(cluster.spec);
    const c = { name };
    if (cluster.status?.phase !== 'Deleting') {
      await this.d.kube.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { status: { phase: 'Deleting' } } }, mergePatch);
    }
    await this.d.kube.apps.deleteNamespacedStatefulSet({ namespace, name: names.statefulSet(c) }).catch(ignoreNotFound);
    const pods = (await this.d.kube.core.listNamespacedPod({ namespace, labelSelector: selector(c) })).items;
    if (pods.length > 0) return { requeueAfterMs: PROGRESS_MS };
    if (checked.ok && checked.spec.pvcRetention.whenDeleted === 'Delete') {
      const pvcs = (await this.d.kube.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: selector(c) })).items;
      for (const p of pvcs) await this.d.kube.core.deleteNamespacedPersistentVolumeClaim({ namespace, name: p.metadata?.name ?? '' }).catch(ignoreNotFound);
    }
    await this.d.events.normal(cluster, 'Deleted', 'nodes stopped; removing the finalizer');
    await this.setFinalizers(cluster, (meta.finalizers ?? []).filter((f) => f !== FINALIZER));
    return { requeueAfterMs: undefined };
  }

  // ------------------------------------------------------------------ owned objects

  private async applyOwnedObjects(c: ClusterRef): Promise<void> {
    await apply(this.d.kube, nodeConfig(c));
    await apply(this.d.kube, peerService(c));
    await apply(this.d.kube, clientService(c));
    const pdb = podDisruptionBudget(c);
    if (pdb !== undefined) await apply(this.d.kube, pdb);
    else await this.d.kube.objects.delete({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: names.pdb(c), namespace: c.namespace } }).catch(ignoreNotFound);
    if (c.spec.redis.mode === 'managed') {
      await apply(this.d.kube, redisDeployment(c, { image: this.d.redisImage }));
      await apply(this.d.kube, redisService(c));
    } else {
      await this.d.kube.apps.deleteNamespacedDeployment({ namespace: c.namespace, name: names.redis(c) }).catch(ignoreNotFound);
      await this.d.kube.core.deleteNamespacedService({ namespace: c.namespace, name: names.redis(c) }).catch(ignoreNotFound);
    }
  }

  /** The admin token Secret, created once with a random token; the nodes mount it. */
  private async ensureAdminToken(c: ClusterRef): Promise<string> {
    const name = names.adminToken(c);
    try {
      const secret = await this.d.kube.core.readNamespacedSecret({ namespace: c.namespace, name });
      const token = secret.data?.token;
      if (token !== undefined) return Buffer.from(token, 'base64').toString('utf8');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const token = randomBytes(32).toString('hex');
    try {
      await this.d.kube.core.createNamespacedSecret({ namespace: c.namespace, body: { metadata: ownedMetadata(c, name, 'node'), type: 'Opaque', data: { token: Buffer.from(token).toString('base64') } } });
      return token;
    } catch (err) {
      if (!isConflict(err)) throw err;
      // Created meanwhile (another pass): use that one.
      const secret = await this.d.kube.core.readNamespacedSecret({ namespace: c.namespace, name });
      return Buffer.from(secret.data?.token ?? '', 'base64').toString('utf8');
    }
  }

  private foundingMembers(c: ClusterRef, replicas: number): string {
    return Array.from({ length: replicas }, (_, k) => `${names.pod(c, k)}=${this.d.network.peerAddress(c, k)}/${this.d.network.httpAddress(c, k)}`).join(',');
  }

  private async readBootstrap(c: ClusterRef): Promise<V1ConfigMap | undefined> {
    return this.d.kube.core.readNamespacedConfigMap({ namespace: c.namespace, name: names.bootstrap(c) }).catch(ignoreNotFound);
  }

  /** Replaces the bootstrap ConfigMap's data (server-side apply owns exactly these keys). */
  private async writeBootstrap(c: ClusterRef, data: Record<string, string>): Promise<void> {
    await apply(this.d.kube, { apiVersion: 'v1', kind: 'ConfigMap', metadata: ownedMetadata(c, names.bootstrap(c), 'node'), data });
  }

  /** Storage changes the claim template cannot take (it is immutable) are refused and reported. */
  private checkStorage(sts: V1StatefulSet, spec: RaftClusterSpec): string[] {
    const template = sts.spec?.volumeClaimTemplates?.[0];
    const size = template?.spec?.resources?.requests?.storage;
    if (template === undefined || typeof size !== 'string') return [];
    const storageClassName = template.spec?.storageClassName;
    return checkTransition({ ...spec, storage: { size, ...(storageClassName === undefined ? {} : { storageClassName }) } }, spec);
  }

  /** A grown spec.storage.size is applied to each claim (the storage class must allow expansion). */
  private async expandVolumes(c: ClusterRef, pvcs: readonly V1PersistentVolumeClaim[]): Promise<void> {
    const want = mebibytes(c.spec.storage.size);
    for (const p of pvcs) {
      const size = p.spec?.resources?.requests?.storage;
      if (typeof size !== 'string' || !/^[1-9][0-9]*(Mi|Gi|Ti)$/.test(size) || mebibytes(size) >= want) continue;
      await this.d.kube.core.patchNamespacedPersistentVolumeClaim({ namespace: c.namespace, name: p.metadata?.name ?? '', body: { spec: { resources: { requests: { storage: c.spec.storage.size } } } } }, mergePatch);
    }
  }

  private async deletePod(c: ClusterRef, ordinal: number): Promise<void> {
    await this.d.kube.core.deleteNamespacedPod({ namespace: c.namespace, name: names.pod(c, ordinal) }).catch(ignoreNotFound);
  }

  /** The StatefulSet as the spec wants it, keeping the existing (immutable) claim template. */
  private desiredStatefulSet(c: ClusterRef, existing: V1StatefulSet, replicas: number): V1StatefulSet {
    const desired = statefulSet(c, { replicas, image: this.image(c.spec) });
    const templates = existing.spec?.volumeClaimTemplates;
    return templates === undefined || desired.spec === undefined ? desired : { ...desired, spec: { ...desired.spec, volumeClaimTemplates: templates } };
  }

  private image(spec: RaftClusterSpec): string {
    return spec.image ?? this.d.defaultImage;
  }

  // ------------------------------------------------------------------ the RaftCluster itself

  private async getCluster(namespace: string, name: string): Promise<RaftClusterObject | undefined> {
    return (this.d.kube.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name }) as Promise<RaftClusterObject>).catch(ignoreNotFound);
  }

  private async getStatefulSet(c: ClusterRef): Promise<V1StatefulSet | undefined> {
    return this.d.kube.apps.readNamespacedStatefulSet({ namespace: c.namespace, name: names.statefulSet(c) }).catch(ignoreNotFound);
  }

  /** Conditional on the resourceVersion read: a concurrent change makes this pass retry. */
  private async setFinalizers(cluster: RaftClusterObject, finalizers: string[]): Promise<void> {
    const m = cluster.metadata ?? {};
    await this.d.kube.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace: m.namespace ?? '', plural: PLURAL, name: m.name ?? '', body: { metadata: { finalizers, resourceVersion: m.resourceVersion } } },
      mergePatch,
    );
  }

  /** Writes the status subresource, only when it changed. */
  private async writeStatus(cluster: RaftClusterObject, status: RaftClusterStatus): Promise<void> {
    if (!statusChanged(cluster.status, status)) return;
    const m = cluster.metadata ?? {};
    await this.d.kube.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace: m.namespace ?? '', plural: PLURAL, name: m.name ?? '', body: { status } }, mergePatch);
  }

  private statusOf(
    cluster: RaftClusterObject,
    s: { phase: Phase; generation: number; observed?: ClusterObservation | undefined; progressing?: { reason: string; message: string }; problem?: { reason: string; message: string } },
  ): RaftClusterStatus {
    const previous = cluster.status;
    const named = { name: cluster.metadata?.name ?? '' };
    const o = s.observed;
    const leader = o?.leader;
    const voters = o?.members.filter((x) => x.role === 'voter') ?? [];
    const healthyVoters = voters.filter((x) => x.healthy).length;
    const hasQuorum = leader !== undefined && healthyVoters >= quorum(voters.length);
    const unhealthy = o?.memberStatus.filter((x) => !x.healthy).map((x) => x.name) ?? [];
    const readyPods = o === undefined ? 0 : [...o.pods.values()].filter(isPodReady).length;
    const conditions: Condition[] = withConditions(
      previous?.conditions,
      [
        leader === undefined
          ? { type: 'Available', status: 'False', reason: 'NoLeader', message: 'no node reports a leader' }
          : hasQuorum
            ? { type: 'Available', status: 'True', reason: 'LeaderElected', message: `${names.pod(named, leader.ordinal)} leads term ${String(leader.view.term)}` }
            : { type: 'Available', status: 'False', reason: 'NoHealthyQuorum', message: `${String(healthyVoters)} of ${String(voters.length)} voters healthy` },
        leader === undefined
          ? { type: 'QuorumHealthy', status: 'Unknown', reason: 'NoLeader', message: 'membership is known only through a leader' }
          : { type: 'QuorumHealthy', status: hasQuorum ? 'True' : 'False', reason: hasQuorum ? 'Quorum' : 'QuorumLost', message: `${String(healthyVoters)} of ${String(voters.length)} voters healthy (quorum ${String(quorum(voters.length))})` },
        s.progressing === undefined ? { type: 'Progressing', status: 'False', reason: 'Converged', message: 'the cluster matches its spec' } : { type: 'Progressing', status: 'True', ...s.progressing },
        s.problem !== undefined
          ? { type: 'Degraded', status: 'True', ...s.problem }
          : leader === undefined && s.phase === 'Degraded'
            ? { type: 'Degraded', status: 'True', reason: 'NoLeader', message: 'the group has no leader' }
            : unhealthy.length > 0
              ? { type: 'Degraded', status: 'True', reason: 'MembersUnhealthy', message: `unhealthy: ${unhealthy.join(', ')}` }
              : { type: 'Degraded', status: 'False', reason: 'Healthy', message: 'every member is healthy' },
      ],
      s.generation,
      this.now(),
    );
    return {
      phase: s.phase,
      observedGeneration: s.generation,
      replicas: leader === undefined ? (previous?.replicas ?? 0) : o?.members.length ?? 0,
      readyReplicas: leader === undefined ? readyPods : (o?.members.filter((x) => x.healthy).length ?? 0),
      selector: selector(named),
      ...(leader === undefined ? {} : { leader: names.pod(named, leader.ordinal), term: leader.view.term, commitIndex: leader.view.commitIndex }),
      members: o?.memberStatus ?? [],
      conditions,
    };
  }
}

function selector(c: Pick<ClusterRef, 'name'>): string {
  return Object.entries(selectorLabels(c, 'node'))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function volumeOrdinal(c: ClusterRef, pvc: V1PersistentVolumeClaim): number | undefined {
  const m = new RegExp(`^data-${names.statefulSet(c)}-(0|[1-9][0-9]{0,3})$`).exec(pvc.metadata?.name ?? '');
  return m === null ? undefined : Number(m[1]);
}

function parseIncarnations(value: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of (value ?? '').split(',')) {
    const m = /^([a-z0-9][-a-z0-9.]*)=([1-9][0-9]*)$/.exec(part.trim());
    if (m !== null) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

function formatIncarnations(incarnations: ReadonlyMap<string, number>): string {
  return [...incarnations].map(([id, n]) => `${id}=${String(n)}`).join(',');
}

function incarnationsEntry(bootstrap: V1ConfigMap | undefined): Record<string, string> {
  const value = bootstrap?.data?.[INCARNATIONS];
  return value === undefined ? {} : { [INCARNATIONS]: value };
}

function stepReason(step: Exclude<Step | RollingStep, { kind: 'wait' | 'converged' }>): string {
  return { addLearner: 'AddingMember', scaleStatefulSet: 'Scaling', promote: 'PromotingMember', transferLeadership: 'TransferringLeadership', removeMember: 'RemovingMember', deleteVolume: 'DeletingVolume', replacePod: 'ReplacingPod' }[step.kind];
}

function describeStep(c: ClusterRef, step: Exclude<Step | RollingStep, { kind: 'wait' | 'converged' }>): string {
  switch (step.kind) {
    case 'scaleStatefulSet':
      return `StatefulSet to ${String(step.replicas)} pods`;
    case 'transferLeadership':
      return `leadership to ${names.pod(c, step.to)}`;
    default:
      return `${step.kind} ${names.pod(c, step.ordinal)}`;
  }
}

function ignoreNotFound(err: unknown): undefined {
  if (isNotFound(err)) return undefined;
  throw err;
}
