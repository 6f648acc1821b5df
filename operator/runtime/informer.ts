import { Watch } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';

/**
 * A list-watch cache of one kind, written here rather than taken from client-node's
 * makeInformer, whose ListWatch does not ask for bookmarks (a quiet watch then looks dead and
 * is re-opened every 30 s), stops for good on the first non-410 error, and has no relist.
 * This one:
 * - lists, then watches from the list's resourceVersion with bookmarks and a server timeout;
 * - on 410 Gone (history compacted) lists again; on any other error retries with backoff;
 * - runs a watchdog: a watch that delivers nothing (not even a bookmark) for `watchdogMs` is
 *   cut and re-opened, since a half-open connection can otherwise stall it forever;
 * - relists every `relistMs` and then reports every object to `onResync`, so that a missed
 *   event can delay a reconcile but never lose it.
 * Handlers only enqueue keys: they must not block.
 */

export type InformerEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface InformerOptions<T extends KubernetesObject> {
  readonly name: string;
  readonly kubeConfig: KubeConfig;
  /** API path of the collection, e.g. /api/v1/namespaces/default/pods or /apis/apps/v1/statefulsets. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  readonly onEvent: (type: InformerEvent, object: T) => void;
  readonly onResync?: (objects: readonly T[]) => void;
  readonly log: Logger;
  /** Default 5 min. */
  readonly relistMs?: number;
  /** Default 90 s (a real API server sends a bookmark about every minute). */
  readonly watchdogMs?: number;
  /** Server-side watch timeout, jittered up to 2x (default 300 s). */
  readonly watchTimeoutSeconds?: number;
  /** Retry backoff after errors (default 500 ms doubling to 30 s). */
  readonly retryBaseMs?: number;
}

export interface InformerStats {
  lists: number;
  watches: number;
  watchdogFires: number;
  gone: number;
  errors: number;
}

export class Informer<T extends KubernetesObject> {
  private readonly o: InformerOptions<T>;
  private readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private stopped = true;
  private relistDue = false;
  private current: AbortController | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private synced!: Promise<void>;
  private markSynced!: () => void;
  readonly stats: InformerStats = { lists: 0, watches: 0, watchdogFires: 0, gone: 0, errors: 0 };

  constructor(o: InformerOptions<T>) {
    this.o = o;
  }

  get name(): string {
    return this.o.name;
  }

  /** Starts; resolves after the first successful list. */
  async start(): Promise<void> {
    this.stopped = false;
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
    this.loop = this.run();
    const relistMs = this.o.relistMs ?? 300_000;
    this.relistTimer = setInterval(() => {
      this.relistDue = true;
      this.current?.abort();
    }, relistMs);
    this.relistTimer.unref();
    await this.synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.relistTimer);
    this.current?.abort();
    this.wake?.();
    await this.loop;
  }

  /** A method, not the field: the loop's condition would otherwise narrow it to false for TypeScript. */
  private isStopped(): boolean {
    return this.stopped;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(cacheKey(namespace, name));
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === '' || this.relistDue) await this.relist();
        const outcome = await this.watchOnce();
        if (outcome === 'gone') {
          this.stats.gone++;
          this.resourceVersion = '';
        }
        failures = 0;
      } catch (err) {
        if (this.isStopped()) break;
        this.stats.errors++;
        const delay = Math.min(30_000, (this.o.retryBaseMs ?? 500) * 2 ** failures++);
        this.o.log.warn({ informer: this.o.name, err: String(err), retryInMs: delay }, 'list/watch failed; retrying');
        await this.sleep(delay);
      }
    }
  }

  private async relist(): Promise<void> {
    const resync = this.relistDue;
    this.relistDue = false;
    const list = await this.o.list();
    this.stats.lists++;
    const seen = new Set<string>();
    for (const item of list.items) {
      const k = cacheKey(item.metadata?.namespace, item.metadata?.name ?? '');
      seen.add(k);
      const before = this.cache.get(k);
      this.cache.set(k, item);
      if (before === undefined) this.o.onEvent('ADDED', item);
      else if (before.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.o.onEvent('MODIFIED', item);
    }
    for (const [k, item] of [...this.cache]) {
      if (!seen.has(k)) {
        this.cache.delete(k);
        this.o.onEvent('DELETED', item);
      }
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.markSynced();
    if (resync) this.o.onResync?.(this.list());
  }

  /** One watch, until it ends: 'gone' when the resourceVersion is too old, 'ended' otherwise. */
  private watchOnce(): Promise<'gone' | 'ended'> {
    return new Promise((resolve, reject) => {
      let outcome: 'gone' | 'ended' = 'ended';
      let lastActivity = Date.now();
      const watchdogMs = this.o.watchdogMs ?? 90_000;
      const watchdog = setInterval(
        () => {
          if (Date.now() - lastActivity > watchdogMs) {
            this.stats.watchdogFires++;
            this.o.log.warn({ informer: this.o.name, silentMs: Date.now() - lastActivity }, 'watch silent past the watchdog; re-opening it');
            this.current?.abort();
          }
        },
        Math.max(10, Math.floor(watchdogMs / 4)),
      );
      const timeoutSeconds = Math.floor((this.o.watchTimeoutSeconds ?? 300) * (1 + Math.random()));
      const query = { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds, ...(this.o.labelSelector === undefined ? {} : { labelSelector: this.o.labelSelector }) };
      const finish = (err: unknown): void => {
        clearInterval(watchdog);
        this.current = undefined;
        // An abort is ours (watchdog, relist, stop): not an error.
        if (err === null || err === undefined || this.stopped || isAbort(err)) resolve(outcome);
        else if (statusCode(err) === 410) resolve('gone');
        else reject(asError(err));
      };
      this.stats.watches++;
      new Watch(this.o.kubeConfig)
        .watch(
          this.o.path,
          query,
          (type: string, object: T & { code?: number }) => {
            lastActivity = Date.now();
            switch (type) {
              case 'ADDED':
              case 'MODIFIED':
              case 'DELETED': {
                const k = cacheKey(object.metadata?.namespace, object.metadata?.name ?? '');
                if (type === 'DELETED') this.cache.delete(k);
                else this.cache.set(k, object);
                this.resourceVersion = object.metadata?.resourceVersion ?? this.resourceVersion;
                this.o.onEvent(type, object);
                break;
              }
              case 'BOOKMARK':
                this.resourceVersion = object.metadata?.resourceVersion ?? this.resourceVersion;
                break;
              case 'ERROR':
                if (object.code === 410) outcome = 'gone';
                this.current?.abort();
                break;
              default:
                break;
            }
          },
          finish,
        )
        .then(
          (controller) => {
            this.current = controller;
            if (this.stopped || this.relistDue) controller.abort();
          },
          finish,
        );
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

function cacheKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

/** By name, not instanceof: undici's DOMException may come from another realm (it does under jest). */
function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

function statusCode(err: unknown): number | undefined {
  const e = err as { statusCode?: number; code?: number } | undefined;
  return e?.statusCode ?? (typeof e?.code === 'number' ? e.code : undefined);
}

function asError(err: unknown): Error {
  if (err instanceof Error) return err;
  const e = err as { name?: unknown; message?: unknown } | null;
  return new Error(`${typeof e?.name === 'string' ? e.name : 'Error'}: ${typeof e?.message === 'string' ? e.message : JSON.stringify(err)}`);
}
