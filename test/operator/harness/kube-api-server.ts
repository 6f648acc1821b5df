import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import type { JsonObject, JsonPatchOp } from './kube-patch.ts';
import { isObject, jsonPatch, mergePatch, parseFieldSelector, parseLabelSelector, PatchError } from './kube-patch.ts';
import type { DeleteOptions, ResourceType, StoreEvent } from './kube-store.ts';
import { ApiError, apiVersionOf, KubeStore, meta, RESOURCE_TYPES } from './kube-store.ts';

/**
 * An in-memory Kubernetes API server, reached over HTTP by @kubernetes/client-node exactly as a
 * real one is (ARCHITECTURE §8, test harness). It serves discovery, CRUD, the status and scale
 * subresources, JSON merge / JSON / strategic-merge (as merge) / server-side-apply patches,
 * label and field selectors, and watches with bookmarks, timeouts and 410 Gone. The semantics
 * live in KubeStore.
 *
 * Not modelled: authentication and RBAC, admission, CRD schema validation and defaulting (it
 * behaves like a cluster whose CRD has no schema: the operator's own checks are what is tested),
 * protobuf, list pagination.
 *
 * Test hooks: `compact()` (watches from older resourceVersions get 410), `dropWatches()` (every
 * watch connection is cut), `stallWatches()` (open watches go silent without closing: what the
 * operator's watchdog is for), `failNext()` (the next matching request fails).
 */
export interface RecordedRequest {
  readonly method: string;
  /** Without the query. */
  readonly path: string;
  /** A watch (GET with watch=true) rather than a list or get. */
  readonly watch: boolean;
  readonly contentType: string;
  /** The bearer token the client sent (the kubeconfig's user). */
  readonly token?: string;
}

export class KubeApiServer {
  readonly store: KubeStore;
  private readonly server: Server;
  private readonly watches = new Set<OpenWatch>();
  private readonly sockets = new Set<Socket>();
  private readonly failures: { method: string; path: RegExp; code: number }[] = [];
  private readonly bookmarkIntervalMs: number;
  /** Requests served (for tests that count calls or check them against RBAC rules). */
  readonly requests: RecordedRequest[] = [];

  private constructor(store: KubeStore, bookmarkIntervalMs: number) {
    this.store = store;
    this.bookmarkIntervalMs = bookmarkIntervalMs;
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(options: { port?: number; bookmarkIntervalMs?: number; historyLimit?: number } = {}): Promise<KubeApiServer> {
    const api = new KubeApiServer(new KubeStore({ ...(options.historyLimit === undefined ? {} : { historyLimit: options.historyLimit }) }), options.bookmarkIntervalMs ?? 1_000);
    await new Promise<void>((resolve, reject) => {
      api.server.once('error', reject);
      api.server.listen(options.port ?? 0, '127.0.0.1', resolve);
    });
    return api;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A kubeconfig file pointing at this server (what the operator process loads). */
  kubeconfig(namespace = 'default', token = 'in-memory'): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      // client-node refuses plain HTTP unless TLS verification is explicitly off.
      `clusters: [{name: memory, cluster: {server: "${this.url}", insecure-skip-tls-verify: true}}]`,
      `users: [{name: tester, user: {token: "${token}"}}]`,
      `contexts: [{name: memory, context: {cluster: memory, user: tester, namespace: ${namespace}}}]`,
      'current-context: memory',
      '',
    ].join('\n');
  }

  /** `token` tells this client's requests apart in `requests` (e.g. the operator's). */
  async writeKubeconfig(path: string, namespace?: string, token?: string): Promise<void> {
    await writeFile(path, this.kubeconfig(namespace, token));
  }

  async stop(): Promise<void> {
    for (const w of this.watches) w.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => { resolve(); }));
  }

  compact(): void {
    this.store.compact();
  }

  dropWatches(): void {
    for (const w of [...this.watches]) w.res.destroy();
  }

  stallWatches(): void {
    for (const w of this.watches) w.stalled = true;
  }

  get openWatches(): number {
    return this.watches.size;
  }

  failNext(method: string, path: RegExp, code = 500): void {
    this.failures.push({ method, path, code });
  }

  // ------------------------------------------------------------------ HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    this.requests.push({ method, path: url.pathname, watch: url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1', contentType: req.headers['content-type'] ?? '', ...(token === undefined ? {} : { token }) });
    try {
      const raw = await readBody(req);
      const answer = this.answer(method, url, raw === '' ? undefined : raw, req.headers['content-type'] ?? '', res);
      if (answer !== undefined) send(res, answer[0], answer[1]);
    } catch (err) {
      const e = err instanceof ApiError ? err : err instanceof PatchError || err instanceof SyntaxError ? new ApiError(400, 'BadRequest', err.message) : new ApiError(500, 'InternalError', String(err));
      if (!res.headersSent) send(res, e.code, e.status());
    }
  }

  /** The status and body of a request, or undefined when a watch took the response over. */
  private answer(method: string, url: URL, body: string | undefined, contentType: string, res: ServerResponse): [number, JsonObject] | undefined {
    const failure = this.failures.findIndex((f) => f.method === method && f.path.test(url.pathname));
    if (failure >= 0) {
      const { code } = this.failures.splice(failure, 1)[0] as { code: number };
      throw new ApiError(code, code === 429 ? 'TooManyRequests' : 'InternalError', 'injected failure');
    }
    const route = discovery(url.pathname);
    if (route !== undefined) return [200, route];
    const r = parsePath(url.pathname);
    const q = url.searchParams;
    const s = this.store;
    if (r.name === undefined) {
      if (method === 'GET' && (q.get('watch') === 'true' || q.get('watch') === '1')) {
        this.watch(r, q, res);
        return undefined;
      }
      if (method === 'GET') return [200, this.list(r, q)];
      if (method === 'POST') return [201, s.create(r.type, r.namespace, parseJson(body))];
      throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported on a collection here`);
    }
    if (r.subresource === 'scale') return [200, this.scale(r, method, body)];
    const sub = r.subresource;
    switch (method) {
      case 'GET':
        return [200, s.get(r.type, r.namespace, r.name)];
      case 'PUT':
        return [200, s.update(r.type, r.namespace, r.name, parseJson(body), sub)];
      case 'PATCH':
        return [200, this.patch(r.type, r.namespace, r.name, body ?? '', contentType, q, sub)];
      case 'DELETE': {
        const opts: DeleteOptions = body === undefined ? {} : (parseJson(body));
        const policy = q.get('propagationPolicy') as DeleteOptions['propagationPolicy'] | null;
        const grace = q.get('gracePeriodSeconds');
        return [200, s.delete(r.type, r.namespace, r.name, { ...opts, ...(policy === null ? {} : { propagationPolicy: policy }), ...(grace === null ? {} : { gracePeriodSeconds: Number(grace) }) })];
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported`);
    }
  }

  private list(r: ParsedPath, q: URLSearchParams): JsonObject {
    const filter = selectorFilter(q);
    const items = this.store.list(r.type, r.namespace, filter);
    return { kind: `${r.type.kind}List`, apiVersion: apiVersionOf(r.type), metadata: { resourceVersion: String(this.store.resourceVersion) }, items };
  }

  private patch(t: ResourceType, namespace: string | undefined, name: string, body: string, contentType: string, q: URLSearchParams, sub: 'status' | undefined): JsonObject {
    const type = contentType.split(';')[0]?.trim();
    const s = this.store;
    switch (type) {
      case 'application/apply-patch+yaml': {
        const manager = q.get('fieldManager');
        if (manager === null || manager === '') throw new ApiError(400, 'BadRequest', 'PATCH with apply requires a fieldManager');
        const config = parseYaml(body) as unknown;
        if (!isObject(config)) throw new ApiError(400, 'BadRequest', 'the applied configuration is not an object');
        return s.apply(t, namespace, name, manager, config, sub);
      }
      case 'application/merge-patch+json':
      case 'application/strategic-merge-patch+json':
        return s.mergePatch(t, namespace, name, parseJson(body), sub);
      case 'application/json-patch+json':
        return s.patch(t, namespace, name, (o) => jsonPatch(o, JSON.parse(body) as JsonPatchOp[]) as JsonObject, sub);
      default:
        throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${contentType})`);
    }
  }

  private scale(r: ParsedPath, method: string, body: string | undefined): JsonObject {
    if (r.type.scale !== true) throw new ApiError(404, 'NotFound', 'no scale subresource');
    const s = this.store;
    const name = r.name as string;
    if (method === 'PUT' || method === 'PATCH') {
      const sent = method === 'PUT' ? parseJson(body ?? '') : (mergePatch(this.scaleOf(s.get(r.type, r.namespace, name)), parseJson(body ?? '')) as JsonObject);
      const replicas = isObject(sent.spec) ? sent.spec.replicas : undefined;
      if (typeof replicas !== 'number') throw new ApiError(422, 'Invalid', 'spec.replicas: Required value');
      s.mergePatch(r.type, r.namespace, name, { spec: { replicas } });
    } else if (method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported on scale`);
    return this.scaleOf(s.get(r.type, r.namespace, name));
  }

  private scaleOf(o: JsonObject): JsonObject {
    const m = meta(o);
    const spec = (o.spec ?? {}) as JsonObject;
    const status = (o.status ?? {}) as JsonObject;
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: m.name ?? '', namespace: m.namespace ?? '', uid: m.uid ?? '', resourceVersion: m.resourceVersion ?? '' },
      spec: { replicas: spec.replicas ?? 0 },
      status: { replicas: status.replicas ?? 0, ...(typeof status.selector === 'string' ? { selector: status.selector } : {}) },
    };
  }

  private watch(r: ParsedPath, q: URLSearchParams, res: ServerResponse): void {
    const filter = selectorFilter(q);
    const inScope = (e: StoreEvent): boolean => e.resource === r.type && (r.namespace === undefined || meta(e.object).namespace === r.namespace);
    const from = q.get('resourceVersion') ?? '';
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const w = new OpenWatch(res, () => {
      this.watches.delete(w);
    });
    this.watches.add(w);
    const deliver = (e: StoreEvent): void => {
      const now = filter(e.object);
      const before = e.previous !== undefined && filter(e.previous);
      if (e.type === 'MODIFIED' && before && !now) w.send('DELETED', e.object);
      else if (e.type === 'MODIFIED' && !before && now) w.send('ADDED', e.object);
      else if (now) w.send(e.type, e.object);
    };
    if (from === '' || from === '0') {
      for (const o of this.store.list(r.type, r.namespace, filter)) w.send('ADDED', o);
    } else {
      const since = this.store.eventsSince(Number(from));
      if (since === undefined || !/^\d+$/.test(from)) {
        w.send('ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.store.resourceVersion})`, reason: 'Expired', code: 410 });
        w.close();
        return;
      }
      for (const e of since) if (inScope(e)) deliver(e);
    }
    const unsubscribe = this.store.subscribe((e) => {
      if (inScope(e)) deliver(e);
    });
    w.onClose(() => {
      unsubscribe();
    });
    if (q.get('allowWatchBookmarks') === 'true') {
      const timer = setInterval(() => {
        w.send('BOOKMARK', { kind: r.type.kind, apiVersion: apiVersionOf(r.type), metadata: { resourceVersion: String(this.store.resourceVersion), annotations: { 'k8s.io/initial-events-end': 'true' } } });
      }, this.bookmarkIntervalMs);
      w.onClose(() => {
        clearInterval(timer);
      });
    }
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) {
      const timer = setTimeout(() => {
        w.close();
      }, timeoutSeconds * 1000);
      w.onClose(() => {
        clearTimeout(timer);
      });
    }
    res.on('close', () => {
      w.close();
    });
  }
}

class OpenWatch {
  readonly res: ServerResponse;
  stalled = false;
  private closed = false;
  private readonly cleanups: (() => void)[] = [];

  constructor(res: ServerResponse, onClose: () => void) {
    this.res = res;
    this.cleanups.push(onClose);
  }

  send(type: string, object: JsonObject): void {
    if (this.closed || this.stalled) return;
    this.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  onClose(f: () => void): void {
    if (this.closed) f();
    else this.cleanups.push(f);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.cleanups) f();
    this.res.end();
  }
}

interface ParsedPath {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: 'status' | 'scale' | undefined;
}

/** /api/v1/[namespaces/{ns}/]{plural}[/{name}[/{sub}]] and /apis/{group}/{version}/... */
function parsePath(path: string): ParsedPath {
  const segments: string[] = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let apiVersion: string;
  let parts: string[];
  if (segments[0] === 'api') {
    apiVersion = segments[1] ?? '';
    parts = segments.slice(2);
  } else if (segments[0] === 'apis') {
    apiVersion = `${segments[1] ?? ''}/${segments[2] ?? ''}`;
    parts = segments.slice(3);
  } else throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`);
  let namespace: string | undefined;
  if (parts[0] === 'namespaces' && parts.length >= 3) {
    namespace = parts[1];
    parts = parts.slice(2);
  }
  const [plural, name, sub] = parts as [string | undefined, string | undefined, string | undefined];
  const type = RESOURCE_TYPES.find((t) => t.plural === plural && apiVersionOf(t) === apiVersion);
  if (type === undefined) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`);
  if (sub !== undefined && sub !== 'status' && sub !== 'scale') throw new ApiError(404, 'NotFound', `no subresource ${sub}`);
  if (sub === 'status' && !type.status) throw new ApiError(404, 'NotFound', `${type.plural} have no status subresource`);
  return { type, namespace, name, subresource: sub };
}

/** Discovery documents: what client-node's KubernetesObjectApi reads to map a kind to a path. */
function discovery(path: string): JsonObject | undefined {
  if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] };
  if (path === '/apis') {
    const groups = [...new Set(RESOURCE_TYPES.filter((t) => t.group !== '').map((t) => t.group))];
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: groups.map((g) => {
        const version = (RESOURCE_TYPES.find((t) => t.group === g) as ResourceType).version;
        const gv = { groupVersion: `${g}/${version}`, version };
        return { name: g, versions: [gv], preferredVersion: gv };
      }),
    };
  }
  const m = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))\/?$/.exec(path);
  if (!m) return undefined;
  const groupVersion = (m[1] ?? m[2]) as string;
  const types = RESOURCE_TYPES.filter((t) => apiVersionOf(t) === groupVersion);
  if (types.length === 0) return undefined;
  const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: types.flatMap((t): JsonObject[] => [
      { name: t.plural, singularName: t.kind.toLowerCase(), namespaced: t.namespaced, kind: t.kind, verbs },
      ...(t.status ? [{ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] }] : []),
      ...(t.scale === true ? [{ name: `${t.plural}/scale`, singularName: '', namespaced: t.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] }] : []),
    ]),
  };
}

function selectorFilter(q: URLSearchParams): (o: JsonObject) => boolean {
  const labels = parseLabelSelector(q.get('labelSelector') ?? '');
  const fields = parseFieldSelector(q.get('fieldSelector') ?? '');
  return (o) => labels(meta(o).labels ?? {}) && fields(o);
}

function parseJson(body: string | undefined): JsonObject {
  const v = JSON.parse(body ?? '') as unknown;
  if (!isObject(v)) throw new ApiError(400, 'BadRequest', 'the request body is not a JSON object');
  return v;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { resolve(Buffer.concat(chunks).toString('utf8')); });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, code: number, body: JsonObject): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
