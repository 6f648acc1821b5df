/**
 * A process-based StatefulSet controller and kubelet, for running the operator without
 * Kubernetes (ARCHITECTURE §8): it watches StatefulSets in the in-memory API and, like the real
 * controllers, creates a Pod and a PVC per ordinal (all at once: podManagementPolicy Parallel),
 * labels each pod with its template's revision, recreates pods that are deleted or missing, and
 * deletes pods above `replicas`, highest ordinal first. As the kubelet, it runs each pod as a real
 * node process on loopback: the pod's env resolved from the template (fieldRef, $(VAR), envFrom
 * ConfigMaps, optional ones included), Secret volumes written to files, the PVC a directory that
 * survives pod restarts and goes when the PVC is deleted. Pod readiness comes from the node's
 * real /readyz; a crashed process is restarted (a container restart); a deleted pod gets SIGTERM
 * and the grace period, then its deletion completes.
 *
 * Limits (documented in docs/operator.md): one node per pod, no scheduling, no probes other than
 * readiness, OnDelete updates only (the operator's strategy), volumes are the few kinds the
 * operator uses (PVC, Secret, emptyDir).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NODE_RUNTIME_FLAGS } from '../../../node/runtime-flags.ts';
import { KubeStore, meta, resourceType } from './kube-store.ts';
import type { JsonObject } from './kube-patch.ts';

const cli = path.resolve(import.meta.dirname, '../../../node/cli.ts');

const STS = resourceType('statefulsets');
const PODS = resourceType('pods');
const PVCS = resourceType('persistentvolumeclaims');
const CONFIGMAPS = resourceType('configmaps');
const SECRETS = resourceType('secrets');

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string }; secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string; optional?: boolean } }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] }; emptyDir?: object }[];
  terminationGracePeriodSeconds?: number;
}

interface RunningPod {
  readonly uid: string;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  restarts: number;
  restartAt: number;
  terminating: boolean;
  ready: boolean;
  probing: boolean;
}

export interface StandInOptions {
  readonly store: KubeStore;
  /** Where PVC directories, mounted Secrets and pod logs go. */
  readonly root: string;
  /** Pod ordinal k gets address <prefix>.<k + 1> (the operator's loopback pod network). */
  readonly networkPrefix: string;
  /** Extra environment for every node (e.g. a faster Raft tick would go in the RaftCluster). */
  readonly env?: Readonly<Record<string, string>>;
  readonly syncIntervalMs?: number;
}

export class StatefulSetStandIn {
  private readonly o: StandInOptions;
  private readonly pods = new Map<string, RunningPod>();
  private readonly logs = new Map<string, string[]>();
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private syncing = false;
  private syncAgain = false;
  private stopped = false;

  constructor(o: StandInOptions) {
    this.o = o;
  }

  start(): void {
    this.unsubscribe = this.o.store.subscribe((e) => {
      if (e.resource === STS || e.resource === PODS || e.resource === PVCS) this.kick();
    });
    this.timer = setInterval(() => {
      this.kick();
    }, this.o.syncIntervalMs ?? 250);
    this.kick();
  }

  /** Stops every node process (SIGKILL: the machine goes away) and the loops. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    await Promise.all(
      [...this.pods.values()].map(async (p) => {
        p.child?.kill('SIGKILL');
        await p.exited;
      }),
    );
  }

  /** The host of a pod ordinal. */
  host(ordinal: number): string {
    return `${this.o.networkPrefix}.${String(ordinal + 1)}`;
  }

  httpUrl(ordinal: number): string {
    return `http://${this.host(ordinal)}:8080`;
  }

  /** Kills a pod's process with a signal (its container crashes; the kubelet restarts it). */
  killProcess(namespace: string, podName: string, signal: NodeJS.Signals = 'SIGKILL'): boolean {
    const pod = this.o.store.tryGet(PODS, namespace, podName);
    const running = pod === undefined ? undefined : this.pods.get(meta(pod).uid ?? '');
    return running?.child?.kill(signal) ?? false;
  }

  processCount(): number {
    return [...this.pods.values()].filter((p) => p.child !== undefined).length;
  }

  dumpLogs(lines = 40): string {
    return [...this.logs].map(([pod, l]) => `---- ${pod}\n${l.slice(-lines).join('\n')}`).join('\n');
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    void this.sync()
      .catch((err: unknown) => {
        process.stderr.write(`stand-in sync failed: ${String(err)}\n`);
      })
      .finally(() => {
        this.syncing = false;
        if (this.syncAgain) {
          this.syncAgain = false;
          this.kick();
        }
      });
  }

  private async sync(): Promise<void> {
    const { store } = this.o;
    for (const sts of store.list(STS)) this.syncStatefulSet(sts);
    const live = new Set<string>();
    for (const pod of store.list(PODS)) {
      const uid = meta(pod).uid ?? '';
      if (!isOurs(pod)) continue;
      live.add(uid);
      this.syncPod(pod);
    }
    // Processes of pods that are gone from the API (deleted without grace): stop them.
    for (const [uid, p] of this.pods) {
      if (!live.has(uid)) {
        p.child?.kill('SIGKILL');
        this.pods.delete(uid);
      }
    }
    this.removeDeletedVolumes();
    await Promise.all([...store.list(PODS)].filter(isOurs).map((pod) => this.probe(pod)));
  }

  // ------------------------------------------------------------------ the StatefulSet controller

  private syncStatefulSet(sts: JsonObject): void {
    const { store } = this.o;
    const m = meta(sts);
    if (m.deletionTimestamp !== undefined) return;
    const namespace = m.namespace ?? 'default';
    const name = m.name ?? '';
    const spec = sts.spec as unknown as { replicas?: number; template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec }; volumeClaimTemplates?: { metadata: { name: string; labels?: Record<string, string> }; spec: JsonObject }[] };
    const replicas = spec.replicas ?? 1;
    const revision = `${name}-${createHash('sha256').update(JSON.stringify(spec.template)).digest('hex').slice(0, 10)}`;
    const pods = store.list(PODS, namespace).filter((p) => ownerUid(p) === m.uid);
    const byOrdinal = new Map(pods.map((p) => [ordinalOf(name, meta(p).name ?? ''), p]));

    for (let k = 0; k < replicas; k++) {
      for (const vct of spec.volumeClaimTemplates ?? []) {
        const claim = `${vct.metadata.name}-${name}-${String(k)}`;
        if (store.tryGet(PVCS, namespace, claim) === undefined) {
          store.create(PVCS, namespace, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: claim, namespace, labels: vct.metadata.labels ?? {} }, spec: structuredClone(vct.spec), status: { phase: 'Bound' } });
        }
      }
      const podName = `${name}-${String(k)}`;
      // A pod of that name left by a previous StatefulSet is still terminating: wait for it.
      if (!byOrdinal.has(k) && store.tryGet(PODS, namespace, podName) === undefined) {
        store.create(PODS, namespace, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: podName,
            namespace,
            labels: { ...(spec.template.metadata?.labels ?? {}), 'controller-revision-hash': revision, 'statefulset.kubernetes.io/pod-name': podName },
            annotations: { ...(spec.template.metadata?.annotations ?? {}) },
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name, uid: m.uid ?? '', controller: true, blockOwnerDeletion: true }],
          },
          spec: { ...(structuredClone(spec.template.spec) as unknown as JsonObject), nodeName: 'local', hostname: podName, subdomain: (sts.spec as { serviceName?: string }).serviceName ?? '' },
          status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] },
        });
      }
    }
    // Scale-in: pods above replicas go (all at once, as with Parallel).
    for (const [k, p] of byOrdinal) {
      if (k >= replicas && meta(p).deletionTimestamp === undefined) store.delete(PODS, namespace, meta(p).name ?? '');
    }
    const current = store.list(PODS, namespace).filter((p) => ownerUid(p) === m.uid);
    const status = {
      observedGeneration: m.generation ?? 1,
      replicas: current.length,
      readyReplicas: current.filter(isReady).length,
      currentReplicas: current.filter((p) => meta(p).labels?.['controller-revision-hash'] === revision).length,
      updatedReplicas: current.filter((p) => meta(p).labels?.['controller-revision-hash'] === revision).length,
      updateRevision: revision,
      currentRevision: revision,
    };
    if (JSON.stringify(sts.status ?? {}) !== JSON.stringify(status)) store.patch(STS, namespace, name, (o) => ({ ...o, status }), 'status');
  }

  // ------------------------------------------------------------------ the kubelet

  private syncPod(pod: JsonObject): void {
    const m = meta(pod);
    const uid = m.uid ?? '';
    let running = this.pods.get(uid);
    if (running === undefined) {
      running = { uid, child: undefined, exited: undefined, restarts: 0, restartAt: 0, terminating: false, ready: false, probing: false };
      this.pods.set(uid, running);
    }
    if (m.deletionTimestamp !== undefined) {
      this.terminate(pod, running);
      return;
    }
    if (running.child === undefined && Date.now() >= running.restartAt) this.startContainer(pod, running);
  }

  private terminate(pod: JsonObject, running: RunningPod): void {
    const m = meta(pod);
    if (running.terminating) return;
    running.terminating = true;
    const namespace = m.namespace ?? 'default';
    const done = (): void => {
      this.pods.delete(running.uid);
      this.o.store.confirmTermination(PODS, namespace, m.name ?? '');
    };
    const child = running.child;
    if (child === undefined) {
      done();
      return;
    }
    child.kill('SIGTERM');
    const grace = setTimeout(() => child.kill('SIGKILL'), ((pod.spec as unknown as PodSpec).terminationGracePeriodSeconds ?? 30) * 1000);
    void running.exited?.then(() => {
      clearTimeout(grace);
      done();
    });
  }

  private startContainer(pod: JsonObject, running: RunningPod): void {
    const m = meta(pod);
    const namespace = m.namespace ?? 'default';
    const podName = m.name ?? '';
    const spec = pod.spec as unknown as PodSpec;
    const container = spec.containers[0] as Container;
    const env = this.resolveEnv(pod, container);
    if (env === undefined) return; // a ConfigMap it needs is missing: CreateContainerConfigError, retried
    const logs = this.logs.get(podName) ?? [];
    this.logs.set(podName, logs);
    // What the image's ENTRYPOINT runs (Dockerfile), with the container's args.
    const child = spawn(process.execPath, [...NODE_RUNTIME_FLAGS, cli, ...(container.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      logs.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      if (logs.length > 400) logs.splice(0, logs.length - 400);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    running.child = child;
    running.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        logs.push(`[stand-in] ${podName} exited: ${String(code ?? signal)}`);
        running.child = undefined;
        // The container restarts (with backoff), unless the pod is going away.
        running.restarts++;
        running.restartAt = Date.now() + Math.min(5_000, 200 * 2 ** Math.min(running.restarts, 5));
        running.ready = false;
        if (!running.terminating) this.setReady(namespace, podName, false);
        resolve();
      });
    });
  }

  /** The container's environment, as the kubelet would build it, with mounts mapped to local paths. */
  private resolveEnv(pod: JsonObject, container: Container): Record<string, string> | undefined {
    const { store } = this.o;
    const m = meta(pod);
    const namespace = m.namespace ?? 'default';
    const podName = m.name ?? '';
    const spec = pod.spec as unknown as PodSpec;
    const ordinal = Number(/-(\d+)$/.exec(podName)?.[1] ?? '0');
    const env: Record<string, string> = {};
    for (const from of container.envFrom ?? []) {
      const ref = from.configMapRef;
      if (ref === undefined) continue;
      const cm = store.tryGet(CONFIGMAPS, namespace, ref.name);
      if (cm === undefined) {
        if (ref.optional === true) continue;
        return undefined;
      }
      Object.assign(env, (cm.data ?? {}) as Record<string, string>);
    }
    for (const e of container.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, v: string) => env[v] ?? whole);
      else if (e.valueFrom?.fieldRef !== undefined) env[e.name] = e.valueFrom.fieldRef.fieldPath === 'metadata.namespace' ? namespace : podName;
    }
    // Volumes: the PVC is a directory per claim; Secrets are written as files; emptyDir is scratch.
    const mounts = new Map<string, string>();
    for (const vm of container.volumeMounts ?? []) {
      const volume = spec.volumes?.find((v) => v.name === vm.name);
      let local: string;
      if (volume === undefined) local = this.claimDir(namespace, `${vm.name}-${podName}`); // a volumeClaimTemplate
      else if (volume.secret !== undefined) {
        local = path.join(this.o.root, 'mounts', namespace, podName, vm.name);
        mkdirSync(local, { recursive: true });
        const secret = store.tryGet(SECRETS, namespace, volume.secret.secretName);
        if (secret === undefined) return undefined;
        const data = (secret.data ?? {}) as Record<string, string>;
        const items = volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
        for (const item of items) writeFileSync(path.join(local, item.path), Buffer.from(data[item.key] ?? '', 'base64'), { mode: 0o600 });
      } else {
        local = path.join(this.o.root, 'mounts', namespace, podName, vm.name);
      }
      mkdirSync(local, { recursive: true });
      mounts.set(vm.mountPath, local);
    }
    for (const [k, v] of Object.entries(env)) {
      for (const [mountPath, local] of mounts) if (v === mountPath || v.startsWith(`${mountPath}/`)) env[k] = local + v.slice(mountPath.length);
    }
    // The pod's own address on the loopback pod network, with the container's fixed ports.
    const host = this.host(ordinal);
    return {
      PATH: process.env.PATH ?? '',
      ...env,
      EVENTRAFT_PEER_LISTEN: `${host}:7000`,
      EVENTRAFT_PEER_ADVERTISE: `${host}:7000`,
      EVENTRAFT_HTTP_LISTEN: `${host}:8080`,
      EVENTRAFT_HTTP_ADVERTISE: `${host}:8080`,
      ...(this.o.env ?? {}),
    };
  }

  private claimDir(namespace: string, claim: string): string {
    return path.join(this.o.root, 'volumes', namespace, claim);
  }

  /** A deleted PVC's data goes with it, once no pod uses it (pvc-protection). */
  private removeDeletedVolumes(): void {
    const { store } = this.o;
    for (const [k, { namespace, claim }] of this.knownClaims) {
      if (store.tryGet(PVCS, namespace, claim) !== undefined) continue;
      const podName = claim.replace(/^[^-]+-/, '');
      if (store.tryGet(PODS, namespace, podName) !== undefined) continue;
      rmSync(this.claimDir(namespace, claim), { recursive: true, force: true });
      this.knownClaims.delete(k);
    }
    for (const pvc of store.list(PVCS)) {
      const namespace = meta(pvc).namespace ?? 'default';
      const claim = meta(pvc).name ?? '';
      this.knownClaims.set(`${namespace}/${claim}`, { namespace, claim });
    }
  }

  /** Claims seen, by namespace/name: a directory to remove once its claim is gone. */
  private readonly knownClaims = new Map<string, { namespace: string; claim: string }>();

  // ------------------------------------------------------------------ readiness

  private async probe(pod: JsonObject): Promise<void> {
    const m = meta(pod);
    const running = this.pods.get(m.uid ?? '');
    if (running?.child === undefined || running.terminating || running.probing) return;
    running.probing = true;
    const ordinal = Number(/-(\d+)$/.exec(m.name ?? '')?.[1] ?? '0');
    let ready: boolean;
    try {
      const res = await fetch(`${this.httpUrl(ordinal)}/readyz`, { signal: AbortSignal.timeout(1_000) });
      ready = res.ok;
      await res.arrayBuffer();
    } catch {
      ready = false;
    } finally {
      running.probing = false;
    }
    // Re-read after the await: the process may have exited or the pod be terminating meanwhile.
    if (isActive(running) && this.o.store.tryGet(PODS, m.namespace ?? 'default', m.name ?? '') !== undefined) this.setReady(m.namespace ?? 'default', m.name ?? '', ready);
  }

  private setReady(namespace: string, podName: string, ready: boolean): void {
    const pod = this.o.store.tryGet(PODS, namespace, podName);
    if (pod === undefined || (isReady(pod) === ready && (pod.status as { phase?: string } | undefined)?.phase === 'Running')) return;
    const ordinal = Number(/-(\d+)$/.exec(podName)?.[1] ?? '0');
    this.o.store.patch(PODS, namespace, podName, (o) => ({ ...o, status: { phase: 'Running', podIP: this.host(ordinal), conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString().slice(0, 19) + 'Z' }] } }), 'status');
  }
}

function isActive(p: RunningPod): boolean {
  return p.child !== undefined && !p.terminating;
}

function isOurs(pod: JsonObject): boolean {
  return (meta(pod).ownerReferences ?? []).some((r) => (r as { kind?: string }).kind === 'StatefulSet');
}

function ownerUid(o: JsonObject): string | undefined {
  return (meta(o).ownerReferences ?? []).find((r) => (r as { controller?: boolean }).controller === true)?.uid;
}

function ordinalOf(stsName: string, podName: string): number {
  return Number(podName.slice(stsName.length + 1));
}

function isReady(pod: JsonObject): boolean {
  const conditions = (pod.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}
