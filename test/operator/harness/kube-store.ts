import { randomUUID } from 'node:crypto';
import type { Json, JsonObject } from './kube-patch.ts';
import { applyPatch, isObject, mergePatch } from './kube-patch.ts';

/**
 * The storage and semantics of the in-memory Kubernetes API server (kube-api-server.ts serves it
 * over HTTP): resourceVersions with optimistic concurrency, metadata.generation, the status
 * subresource, finalizers and deletionTimestamp, graceful pod deletion, owner-reference garbage
 * collection (background, foreground, orphan), and a bounded event history for watches.
 * In-process harness parts (the StatefulSet stand-in) use it directly, like controllers that
 * share the API server's memory.
 */

export interface ResourceType {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly status: boolean;
  readonly scale?: boolean;
  /** Deleting a bound object (spec.nodeName set) waits for its kubelet (pods). */
  readonly graceful?: boolean;
  /** Rejects an update (422) with a message, like the API server's validation. */
  readonly validateUpdate?: (previous: JsonObject, next: JsonObject) => string | undefined;
}

export const apiVersionOf = (t: ResourceType): string => (t.group === '' ? t.version : `${t.group}/${t.version}`);

const STATEFULSET_MUTABLE = new Set(['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds', 'revisionHistoryLimit']);

export const RESOURCE_TYPES: readonly ResourceType[] = [
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true, status: true, graceful: true },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true, status: true },
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true, status: false },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true, status: false },
  { group: '', version: 'v1', plural: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', namespaced: true, status: true },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, status: false },
  {
    group: 'apps',
    version: 'v1',
    plural: 'statefulsets',
    kind: 'StatefulSet',
    namespaced: true,
    status: true,
    scale: true,
    validateUpdate: (previous, next) => {
      const a = (previous.spec ?? {}) as JsonObject;
      const b = (next.spec ?? {}) as JsonObject;
      const changed = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !STATEFULSET_MUTABLE.has(k) && JSON.stringify(a[k]) !== JSON.stringify(b[k]));
      return changed.length === 0
        ? undefined
        : `StatefulSet.apps "${String(meta(next).name)}" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden (changed: ${changed.join(', ')})`;
    },
  },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true, status: true, scale: true },
  { group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true, status: true },
  { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true, status: false },
  { group: 'eventraft.io', version: 'v1alpha1', plural: 'raftclusters', kind: 'RaftCluster', namespaced: true, status: true, scale: true },
  // Kinds the Helm chart and the kind e2e create, so kubectl can map their manifests (test/chart/).
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false, status: true },
  { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, status: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role', namespaced: true, status: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', kind: 'RoleBinding', namespaced: true, status: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', kind: 'ClusterRole', namespaced: false, status: false },
  { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false, status: false },
  { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false, status: true },
  { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true, status: true },
  { group: 'monitoring.coreos.com', version: 'v1', plural: 'podmonitors', kind: 'PodMonitor', namespaced: true, status: false },
  { group: 'monitoring.coreos.com', version: 'v1', plural: 'servicemonitors', kind: 'ServiceMonitor', namespaced: true, status: false },
  { group: 'monitoring.coreos.com', version: 'v1', plural: 'prometheusrules', kind: 'PrometheusRule', namespaced: true, status: false },
];

export function resourceType(kindOrPlural: string, apiVersion?: string): ResourceType {
  const t = RESOURCE_TYPES.find((r) => (r.kind === kindOrPlural || r.plural === kindOrPlural) && (apiVersion === undefined || apiVersionOf(r) === apiVersion));
  if (t === undefined) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${kindOrPlural})`);
  return t;
}

/** A failure the API server reports as a Status object. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.code = code;
    this.reason = reason;
  }

  status(): JsonObject {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  readonly type: WatchEventType;
  readonly resource: ResourceType;
  readonly object: JsonObject;
  /** The object before a MODIFIED (watches with selectors turn it into ADDED/DELETED). */
  readonly previous: JsonObject | undefined;
  readonly resourceVersion: number;
}

export interface DeleteOptions {
  readonly propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  readonly gracePeriodSeconds?: number;
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
}

export interface Meta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: { uid: string; controller?: boolean; kind: string; name: string }[];
}

export const meta = (o: JsonObject): Meta => (o.metadata ?? {}) as Meta;

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Everything but metadata and status: a change here bumps metadata.generation. */
function specPart(o: JsonObject): string {
  // Top-level metadata and status only: spec.template.metadata is spec.
  return JSON.stringify(Object.entries(o).filter(([k]) => k !== 'metadata' && k !== 'status'));
}

export class KubeStore {
  private readonly objects = new Map<string, JsonObject>();
  private readonly types = new Map<string, ResourceType>();
  /** Pods whose kubelet has confirmed that their containers stopped. */
  private readonly terminated = new Set<string>();
  private readonly byUid = new Map<string, string>();
  /** Per object key and field manager: the configuration it applied last (server-side apply). */
  private readonly applied = new Map<string, JsonObject>();
  private readonly listeners = new Set<(e: StoreEvent) => void>();
  private readonly history: StoreEvent[] = [];
  private rv = 1;
  /** Watches from resourceVersions at or below this are too old (410 Gone). */
  private compactedThrough = 0;
  private gcScheduled = false;
  readonly historyLimit: number;

  constructor(options: { historyLimit?: number } = {}) {
    this.historyLimit = options.historyLimit ?? 10_000;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  // ------------------------------------------------------------------ reads

  get(t: ResourceType, namespace: string | undefined, name: string): JsonObject {
    const o = this.objects.get(key(t, namespace, name));
    if (o === undefined) throw notFound(t, name);
    return structuredClone(o);
  }

  tryGet(t: ResourceType, namespace: string | undefined, name: string): JsonObject | undefined {
    const o = this.objects.get(key(t, namespace, name));
    return o === undefined ? undefined : structuredClone(o);
  }

  list(t: ResourceType, namespace?: string, filter: (o: JsonObject) => boolean = () => true): JsonObject[] {
    const prefix = `${apiVersionOf(t)}/${t.kind}/${t.namespaced && namespace !== undefined ? `${namespace}/` : ''}`;
    const out: JsonObject[] = [];
    for (const [k, o] of this.objects) if (k.startsWith(prefix) && filter(o)) out.push(structuredClone(o));
    return out.sort((a, b) => String(meta(a).name).localeCompare(String(meta(b).name)));
  }

  // ------------------------------------------------------------------ writes

  create(t: ResourceType, namespace: string | undefined, body: JsonObject): JsonObject {
    const m = { ...meta(body) };
    if (m.name === undefined || m.name === '') {
      const generateName = (body.metadata as { generateName?: string } | undefined)?.generateName;
      if (generateName === undefined) throw new ApiError(422, 'Invalid', `${t.kind} is invalid: metadata.name: Required value`);
      m.name = `${generateName}${randomUUID().slice(0, 5)}`;
    }
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(m.name) || m.name.length > 253) throw new ApiError(422, 'Invalid', `${t.kind} "${m.name}" is invalid: metadata.name: must be a lowercase RFC 1123 subdomain`);
    const ns = t.namespaced ? (namespace ?? m.namespace ?? 'default') : undefined;
    if (t.namespaced && m.namespace !== undefined && m.namespace !== ns) throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    const k = key(t, ns, m.name);
    if (this.objects.has(k)) throw new ApiError(409, 'AlreadyExists', `${t.plural} "${m.name}" already exists`);
    const obj: JsonObject = { ...structuredClone(body), apiVersion: apiVersionOf(t), kind: t.kind };
    if (t.status) delete obj.status;
    const rv = this.nextRv();
    obj.metadata = { ...(m as JsonObject), ...(ns === undefined ? {} : { namespace: ns }), uid: randomUUID(), resourceVersion: String(rv), generation: 1, creationTimestamp: now() };
    delete (obj.metadata as Meta).deletionTimestamp;
    this.objects.set(k, obj);
    this.types.set(k, t);
    this.terminated.delete(k);
    this.byUid.set(String(meta(obj).uid), k);
    this.emit({ type: 'ADDED', resource: t, object: obj, previous: undefined, resourceVersion: rv });
    return structuredClone(obj);
  }

  /**
   * Replaces an object (PUT). A resourceVersion in the body must match the stored one (409
   * Conflict otherwise). `subresource: 'status'` changes only status; otherwise status is kept
   * for kinds with a status subresource.
   */
  update(t: ResourceType, namespace: string | undefined, name: string, body: JsonObject, subresource?: 'status'): JsonObject {
    const current = this.objects.get(key(t, namespace, name));
    if (current === undefined) throw notFound(t, name);
    const sentRv = meta(body).resourceVersion;
    if (sentRv !== undefined && sentRv !== '' && sentRv !== meta(current).resourceVersion) {
      throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${t.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    if (meta(body).name !== undefined && meta(body).name !== name) throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    let next: JsonObject;
    if (subresource === 'status') {
      next = { ...structuredClone(current), status: structuredClone(body.status ?? {}) };
    } else {
      next = { ...structuredClone(body), apiVersion: apiVersionOf(t), kind: t.kind };
      if (t.status) {
        if (current.status === undefined) delete next.status;
        else next.status = structuredClone(current.status);
      }
      const cm = meta(current);
      // Fields the server owns.
      next.metadata = { ...(next.metadata as JsonObject), name, uid: cm.uid, creationTimestamp: cm.creationTimestamp, generation: cm.generation, ...(cm.namespace === undefined ? {} : { namespace: cm.namespace }) } as JsonObject;
      const nm = next.metadata as Meta;
      if (cm.deletionTimestamp === undefined) delete nm.deletionTimestamp;
      else nm.deletionTimestamp = cm.deletionTimestamp;
      if (cm.deletionTimestamp !== undefined && (nm.finalizers ?? []).some((f) => !(cm.finalizers ?? []).includes(f))) {
        throw new ApiError(422, 'Forbidden', `no new finalizers can be added if the object is being deleted`);
      }
      const problem = t.validateUpdate?.(current, next);
      if (problem !== undefined) throw new ApiError(422, 'Invalid', problem);
      if (specPart(next) !== specPart(current)) nm.generation = (cm.generation ?? 1) + 1;
    }
    return this.commit(t, current, next);
  }

  /** PATCH: a function from the stored object to the patched one, then the rules of update. */
  patch(t: ResourceType, namespace: string | undefined, name: string, change: (current: JsonObject) => JsonObject, subresource?: 'status'): JsonObject {
    const current = this.get(t, namespace, name);
    const patched = change(structuredClone(current));
    (patched.metadata as Meta).resourceVersion = meta(current).resourceVersion;
    return this.update(t, namespace, name, patched, subresource);
  }

  mergePatch(t: ResourceType, namespace: string | undefined, name: string, patch: JsonObject, subresource?: 'status'): JsonObject {
    return this.patch(t, namespace, name, (o) => mergePatch(o, patch) as JsonObject, subresource);
  }

  /** Server-side apply by `manager` (creates the object when it does not exist). */
  apply(t: ResourceType, namespace: string | undefined, name: string, manager: string, config: JsonObject, subresource?: 'status'): JsonObject {
    if (meta(config).name !== name) throw new ApiError(400, 'BadRequest', 'the name of the applied configuration does not match the name on the URL');
    const k = `${key(t, namespace, name)}#${manager}#${subresource ?? ''}`;
    const existing = this.tryGet(t, namespace, name);
    const sent = structuredClone(config);
    let result: JsonObject;
    if (existing === undefined) {
      if (subresource === 'status') throw notFound(t, name);
      result = this.create(t, namespace, sent);
    } else {
      const forStore = { ...sent, metadata: { ...(sent.metadata as JsonObject) } };
      Reflect.deleteProperty(forStore.metadata, 'resourceVersion');
      result = this.patch(t, namespace, name, (o) => applyPatch(o, this.applied.get(k), forStore), subresource);
    }
    this.applied.set(k, sent);
    return result;
  }

  delete(t: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): JsonObject {
    const current = this.objects.get(key(t, namespace, name));
    if (current === undefined) throw notFound(t, name);
    const m = meta(current);
    const pre = options.preconditions;
    if (pre?.uid !== undefined && pre.uid !== m.uid) throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(m.uid)}`);
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== m.resourceVersion) throw new ApiError(409, 'Conflict', 'Precondition failed: resourceVersion');
    const finalizers = [...(m.finalizers ?? [])];
    if (options.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (options.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    const k = key(t, namespace, name);
    const waitForKubelet = this.awaitsKubelet(t, k, current) && options.gracePeriodSeconds !== 0;
    if (finalizers.length > 0 || waitForKubelet) {
      if (m.deletionTimestamp !== undefined && JSON.stringify(finalizers) === JSON.stringify(m.finalizers ?? [])) return structuredClone(current);
      const next = structuredClone(current);
      const nm = next.metadata as Meta;
      nm.finalizers = finalizers;
      nm.deletionTimestamp ??= now();
      this.scheduleGc();
      return this.commit(t, current, next);
    }
    this.remove(t, current);
    return structuredClone(current);
  }

  // ------------------------------------------------------------------ watch support

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after `resourceVersion`, or undefined when they are no longer kept (410 Gone). */
  eventsSince(resourceVersion: number): StoreEvent[] | undefined {
    if (resourceVersion < this.compactedThrough) return undefined;
    return this.history.filter((e) => e.resourceVersion > resourceVersion);
  }

  /** Forgets the event history, as etcd compaction does: older watches get 410 Gone. */
  compact(): void {
    this.history.length = 0;
    this.compactedThrough = this.rv;
  }

  // ------------------------------------------------------------------ internals

  private nextRv(): number {
    return ++this.rv;
  }

  private commit(t: ResourceType, current: JsonObject, next: JsonObject): JsonObject {
    const k = key(t, meta(current).namespace, String(meta(current).name));
    if (JSON.stringify(next) === JSON.stringify(current)) return structuredClone(current); // a no-op write keeps its resourceVersion
    const nm = next.metadata as Meta;
    if (nm.deletionTimestamp !== undefined && (nm.finalizers ?? []).length === 0 && !this.awaitsKubelet(t, k, next)) {
      this.remove(t, next);
      return structuredClone(next);
    }
    const rv = this.nextRv();
    nm.resourceVersion = String(rv);
    this.objects.set(k, next);
    this.emit({ type: 'MODIFIED', resource: t, object: next, previous: current, resourceVersion: rv });
    if (nm.deletionTimestamp !== undefined) this.scheduleGc();
    return structuredClone(next);
  }

  private awaitsKubelet(t: ResourceType, k: string, o: JsonObject): boolean {
    return t.graceful === true && isObject(o.spec) && typeof o.spec.nodeName === 'string' && !this.terminated.has(k);
  }

  private remove(t: ResourceType, o: JsonObject): void {
    const m = meta(o);
    const k = key(t, m.namespace, String(m.name));
    this.objects.delete(k);
    this.types.delete(k);
    this.terminated.delete(k);
    this.byUid.delete(String(m.uid));
    for (const a of [...this.applied.keys()]) if (a.startsWith(`${k}#`)) this.applied.delete(a);
    const rv = this.nextRv();
    const gone = { ...structuredClone(o), metadata: { ...(o.metadata as JsonObject), resourceVersion: String(rv) } };
    this.emit({ type: 'DELETED', resource: t, object: gone, previous: undefined, resourceVersion: rv });
    this.scheduleGc();
  }

  private emit(e: StoreEvent): void {
    this.history.push(e);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.compactedThrough = (dropped.at(-1) as StoreEvent).resourceVersion;
    }
    for (const l of this.listeners) l(e);
  }

  private scheduleGc(): void {
    if (this.gcScheduled) return;
    this.gcScheduled = true;
    setImmediate(() => {
      this.gcScheduled = false;
      this.collectGarbage();
    });
  }

  /** The garbage collector: one pass over every object, as kube-controller-manager's does. */
  private collectGarbage(): void {
    const typeOf = (k: string): ResourceType => this.types.get(k) as ResourceType;
    const dependents = (uid: string): [string, JsonObject][] => [...this.objects].filter(([, o]) => (meta(o).ownerReferences ?? []).some((r) => r.uid === uid));
    for (const k of [...this.objects.keys()]) {
      // Earlier steps of this pass may have changed or removed it.
      const o = this.objects.get(k);
      if (o === undefined) continue;
      const t = typeOf(k);
      const m = meta(o);
      if (m.deletionTimestamp !== undefined) {
        const uid = String(m.uid);
        if ((m.finalizers ?? []).includes('orphan')) {
          for (const [dk, d] of dependents(uid)) {
            const dt = typeOf(dk);
            this.patch(dt, meta(d).namespace, String(meta(d).name), (x) => {
              (x.metadata as Meta).ownerReferences = (meta(x).ownerReferences ?? []).filter((r) => r.uid !== uid);
              return x;
            });
          }
          this.patch(t, m.namespace, String(m.name), (x) => withoutFinalizer(x, 'orphan'));
        } else if ((m.finalizers ?? []).includes('foregroundDeletion')) {
          const deps = dependents(uid);
          for (const [dk, d] of deps) if (meta(d).deletionTimestamp === undefined) this.delete(typeOf(dk), meta(d).namespace, String(meta(d).name), { propagationPolicy: 'Foreground' });
          if (deps.length === 0) this.patch(t, m.namespace, String(m.name), (x) => withoutFinalizer(x, 'foregroundDeletion'));
        }
      }
      const owners = m.ownerReferences ?? [];
      if (owners.length > 0 && owners.every((r) => !this.byUid.has(r.uid)) && m.deletionTimestamp === undefined && this.objects.has(k)) {
        this.delete(t, m.namespace, String(m.name), { propagationPolicy: 'Background' });
      }
    }
  }

  /** For the kubelet stand-in: the pod's containers have stopped; a pending deletion completes. */
  confirmTermination(t: ResourceType, namespace: string, name: string): void {
    const k = key(t, namespace, name);
    const current = this.objects.get(k);
    if (current === undefined) return;
    this.terminated.add(k);
    if (meta(current).deletionTimestamp !== undefined && (meta(current).finalizers ?? []).length === 0) this.remove(t, current);
  }
}

function withoutFinalizer(o: JsonObject, f: string): JsonObject {
  (o.metadata as Meta).finalizers = (meta(o).finalizers ?? []).filter((x) => x !== f);
  return o;
}

function key(t: ResourceType, namespace: string | undefined, name: string): string {
  return `${apiVersionOf(t)}/${t.kind}/${t.namespaced ? `${namespace ?? 'default'}/` : ''}${name}`;
}

function notFound(t: ResourceType, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${t.plural}${t.group === '' ? '' : `.${t.group}`} "${name}" not found`);
}

export type { Json };
