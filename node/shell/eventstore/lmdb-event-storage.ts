import { TransactionFlags, open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { emptyMeta } from '../../core/eventstore/index.ts';
import type { Direction, EventStorage, RecordedEvent, StorageView, StoreMeta, StoredEvent } from '../../core/eventstore/index.ts';
import type { LogIndex } from '../../core/raft/index.ts';
import { StorageError } from '../storage/index.ts';

/**
 * The event store's state on disk, in lmdb (docs/event-storage.md says why lmdb).
 *
 * Layout, one environment with five named databases:
 * - `events`:  position -> the event's JSON text, exactly as hashed and served;
 * - `streams`: [stream, version] -> position (reads of a stream in either direction);
 * - `heads`:   stream -> its last version (the expected-version check);
 * - `ids`:     event id -> position (idempotent appends);
 * - `meta`:    'meta' -> { applied, hash, nextPosition }.
 *
 * Writes are committed behind (as etcd's backend batches its bolt transactions): write() puts the
 * events into an in-memory overlay that every read consults first, and a flush commits all
 * pending writes as one lmdb transaction, at most `flushDelayMs` later or as soon as
 * `maxPendingEvents` are waiting. An lmdb commit costs about 0.5 ms of the event loop whatever its
 * size, so one per Raft batch was the node's largest single cost. The applied index is stored in
 * the same transaction as the events it produced, so the store on disk is always a prefix of
 * whole write()s; lmdb's overlapping sync makes each commit durable shortly after. A crash may lose
 * the last flushes, never part of one, and Raft replays them from its log: the driver compacts
 * the log only behind an index that makeDurable() reported flushed and synced.
 */
export class LmdbEventStorage implements EventStorage {
  private readonly root: RootDatabase;
  private readonly events: Database<string, number>;
  private readonly streams: Database<number, [string, number]>;
  private readonly heads: Database<number, string>;
  private readonly ids: Database<number, string>;
  private readonly metaDb: Database<StoreMeta, string>;
  private current: StoreMeta;
  private readonly pending = new PendingWrites();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushFailure: Error | undefined;
  private readonly options: LmdbEventStorageOptions;

  private constructor(root: RootDatabase, options: LmdbEventStorageOptions) {
    this.root = root;
    this.options = options;
    this.events = root.openDB({ name: 'events', encoding: 'string' });
    this.streams = root.openDB({ name: 'streams' });
    this.heads = root.openDB({ name: 'heads' });
    this.ids = root.openDB({ name: 'ids' });
    this.metaDb = root.openDB({ name: 'meta' });
    this.current = this.metaDb.get('meta') ?? emptyMeta;
  }

  /** Opens (or creates) the store in `dir`. */
  static open(dir: string, options: Partial<LmdbEventStorageOptions> = {}): LmdbEventStorage {
    try {
      return new LmdbEventStorage(open({ path: dir, compression: false }), { ...defaultOptions, ...options });
    } catch (err) {
      throw new StorageError(`open event store in ${dir}`, { cause: err });
    }
  }

  get meta(): StoreMeta {
    return this.current;
  }

  streamVersion(stream: string): number {
    return this.pending.heads.get(stream) ?? this.heads.get(stream) ?? -1;
  }

  positionOf(id: string): number | undefined {
    return this.pending.ids.get(id) ?? this.ids.get(id);
  }

  eventAt(position: number): StoredEvent | undefined {
    const p = this.pending.at(position);
    if (p !== undefined) return p;
    const json = this.events.get(position);
    return json === undefined ? undefined : stored(json);
  }

  // Pending events of a stream always come after its flushed ones (versions only grow), so a
  // read is the flushed part then the pending part (forward) or the reverse (backward).
  readStream(stream: string, from: number, limit: number, direction: Direction): StoredEvent[] {
    if (limit <= 0) return [];
    const pending = this.pending.streams.get(stream) ?? [];
    if (direction === 'forward') {
      const out = this.readFlushedStream(stream, from, limit, direction);
      for (const e of pending) {
        if (out.length >= limit) break;
        if (e.event.version >= from) out.push(e);
      }
      return out;
    }
    const out: StoredEvent[] = [];
    for (let i = pending.length - 1; i >= 0 && out.length < limit; i--) {
      const e = pending[i] as StoredEvent;
      if (e.event.version <= from) out.push(e);
    }
    return out.concat(this.readFlushedStream(stream, from, limit - out.length, direction));
  }

  readAll(position: number, limit: number): StoredEvent[] {
    const out = readEvents(this.events, position, limit);
    return out.length >= limit ? out : out.concat(this.pending.from(Math.max(position, this.pending.firstPosition), limit - out.length));
  }

  write(events: readonly StoredEvent[], meta: StoreMeta): void {
    // A flush that failed on the timer surfaces here, on the apply path, where it is fatal.
    if (this.flushFailure !== undefined) throw this.flushFailure;
    this.pending.add(events, meta);
    this.current = meta;
    if (this.pending.events.length >= this.options.maxPendingEvents) this.flush();
    else this.flushTimer ??= setTimeout(() => {
      try {
        this.flush();
      } catch (err) {
        this.flushFailure = err as Error;
      }
    }, this.options.flushDelayMs).unref();
  }

  /**
   * Commits every pending write to lmdb now, as one transaction. On failure (StorageError) the
   * writes stay pending and readable; the node stops, and Raft replays them after a restart.
   */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const { events, meta } = this.pending;
    if (meta === undefined) return;
    this.transact(() => {
      this.putEvents(events);
      this.metaDb.putSync('meta', meta);
    });
    this.pending.clear();
  }

  /** Commits every pending write and waits until lmdb has synced it to disk. */
  readonly makeDurable = async (): Promise<LogIndex> => {
    const applied = this.current.applied;
    this.flush();
    await new Promise<void>((resolve, reject) => {
      // env.sync (mdb_env_sync, forced) runs off the main thread; lmdb-js leaves it out of its types.
      (this.root as unknown as { sync(callback: (err?: Error | null) => void): void }).sync((err) => {
        if (err) reject(new StorageError('event store sync', { cause: err }));
        else resolve();
      });
    });
    return applied;
  };

  view(): StorageView {
    // A view reads lmdb only: flush first so it holds everything written so far.
    this.flush();
    // An lmdb read transaction is a consistent snapshot (MVCC): writers carry on meanwhile.
    const txn = this.root.useReadTransaction();
    const meta = this.current;
    const events = this.events;
    return {
      meta,
      readAll: (position, limit) => readEvents(events, position, Math.min(limit, meta.nextPosition - position), txn),
      close: () => {
        txn.done();
      },
    };
  }

  replace(events: readonly StoredEvent[], meta: StoreMeta): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.pending.clear();
    // One transaction: a crash leaves the old state or the new one, never a mix.
    this.transact(() => {
      for (const db of [this.events, this.streams, this.heads, this.ids, this.metaDb]) db.clearSync();
      this.putEvents(events);
      this.metaDb.putSync('meta', meta);
    });
    this.current = meta;
  }

  async close(): Promise<void> {
    this.flush();
    await this.root.close();
  }

  private readFlushedStream(stream: string, from: number, limit: number, direction: Direction): StoredEvent[] {
    if (limit <= 0) return [];
    if (limit <= POINT_READ_LIMIT) return this.readFlushedVersions(stream, from, limit, direction);
    const range =
      direction === 'forward'
        ? this.streams.getRange({ start: [stream, Math.max(0, from)], end: [stream, Number.MAX_SAFE_INTEGER], limit })
        : this.streams.getRange({ start: [stream, from], end: [stream, -1], reverse: true, limit });
    const out: StoredEvent[] = [];
    for (const { value: position } of range) {
      const json = this.events.get(position);
      if (json === undefined) throw new StorageError(`event store: stream index points at missing position ${position}`);
      out.push(stored(json));
    }
    return out;
  }

  /**
   * The same as a range read, by point lookups: a stream's versions run from 0 to its head
   * without gaps, so each one's position is a get. Cheaper than opening a cursor for a few events
   * (the common read: a stream's latest event, or an aggregate's next few).
   */
  private readFlushedVersions(stream: string, from: number, limit: number, direction: Direction): StoredEvent[] {
    const head = this.heads.get(stream);
    if (head === undefined) return [];
    const out: StoredEvent[] = [];
    const step = direction === 'forward' ? 1 : -1;
    for (let v = direction === 'forward' ? Math.max(0, from) : Math.min(from, head); v >= 0 && v <= head && out.length < limit; v += step) {
      const position = this.streams.get([stream, v]);
      const json = position === undefined ? undefined : this.events.get(position);
      if (json === undefined) throw new StorageError(`event store: stream ${stream} has no event at version ${v} below its head ${head}`);
      out.push(stored(json));
    }
    return out;
  }

  private putEvents(events: readonly StoredEvent[]): void {
    for (const { event, json } of events) {
      this.events.putSync(event.position, json);
      this.streams.putSync([event.stream, event.version], event.position);
      this.heads.putSync(event.stream, event.version);
      this.ids.putSync(event.id, event.position);
    }
  }

  private transact(fn: () => void): void {
    try {
      // Committed synchronously (visible to the next read), flushed to disk shortly after.
      this.root.transactionSync(fn, SYNCHRONOUS_COMMIT_NO_FLUSH);
    } catch (err) {
      throw new StorageError('event store write', { cause: err });
    }
  }
}

export interface LmdbEventStorageOptions {
  /** The longest a write waits in memory before it is committed to lmdb. */
  readonly flushDelayMs: number;
  /** Pending events that trigger a commit at once. */
  readonly maxPendingEvents: number;
}

/** Stream reads of up to this many events use point lookups instead of a cursor. */
const POINT_READ_LIMIT = 16;

const defaultOptions: LmdbEventStorageOptions = { flushDelayMs: 100, maxPendingEvents: 10_000 };

/** Writes not yet committed to lmdb, indexed the way reads need them. */
class PendingWrites {
  events: StoredEvent[] = [];
  /** The global position of events[0]. */
  firstPosition = 0;
  readonly heads = new Map<string, number>();
  readonly ids = new Map<string, number>();
  /** stream -> its pending events, by version. */
  readonly streams = new Map<string, StoredEvent[]>();
  meta: StoreMeta | undefined;

  add(events: readonly StoredEvent[], meta: StoreMeta): void {
    if (this.events.length === 0) this.firstPosition = meta.nextPosition - events.length;
    for (const e of events) {
      this.events.push(e);
      this.heads.set(e.event.stream, e.event.version);
      this.ids.set(e.event.id, e.event.position);
      const ofStream = this.streams.get(e.event.stream);
      if (ofStream === undefined) this.streams.set(e.event.stream, [e]);
      else ofStream.push(e);
    }
    this.meta = meta;
  }

  at(position: number): StoredEvent | undefined {
    return position >= this.firstPosition ? this.events[position - this.firstPosition] : undefined;
  }

  /** Up to `limit` pending events from `position` (which is at least firstPosition). */
  from(position: number, limit: number): StoredEvent[] {
    const start = position - this.firstPosition;
    return this.events.slice(start, start + limit);
  }

  clear(): void {
    this.events = [];
    this.heads.clear();
    this.ids.clear();
    this.streams.clear();
    this.meta = undefined;
  }
}

/** Commit synchronously (visible to the next read) and let lmdb flush it to disk shortly after. */
// lmdb's transaction flags are a bit set, typed as an enum.
export const SYNCHRONOUS_COMMIT_NO_FLUSH = (TransactionFlags.SYNCHRONOUS_COMMIT | TransactionFlags.NO_SYNC_FLUSH) as TransactionFlags;

function readEvents(events: Database<string, number>, position: number, limit: number, transaction?: ReturnType<RootDatabase['useReadTransaction']>): StoredEvent[] {
  if (limit <= 0) return [];
  const out: StoredEvent[] = [];
  for (const { value } of events.getRange({ start: Math.max(0, position), limit, ...(transaction === undefined ? {} : { transaction }) })) out.push(stored(value));
  return out;
}

function stored(json: string): StoredEvent {
  return { event: JSON.parse(json) as RecordedEvent, json };
}
