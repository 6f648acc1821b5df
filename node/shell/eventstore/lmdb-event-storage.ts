import { TransactionFlags, open } from 'lmdb';
import type { Database, Key, RootDatabase } from 'lmdb';
import { byIndex, emptyMeta } from '../../core/eventstore/index.ts';
import type { Direction, EventStorage, RecordedEvent, RefusalChanges, RefusedAppend, StorageView, StoreMeta, StoredEvent } from '../../core/eventstore/index.ts';
import type { LogIndex } from '../../core/raft/index.ts';
import { StorageError } from '../storage/index.ts';

/**
 * The event store's state on disk, in lmdb (docs/event-storage.md says why lmdb).
 *
 * Layout, one environment with six named databases:
 * - `events`:  position -> the event's JSON text, exactly as hashed and served;
 * - `streams`: [stream, version] -> position (reads of a stream in either direction);
 * - `heads`:   stream -> its last version (the expected-version check);
 * - `ids`:     event id -> position (idempotent appends);
 * - `refused`: first event id -> the refused append remembered under it (RefusedAppend);
 * - `meta`:    'meta' -> { applied, hash, nextPosition }.
 *
 * Writes are committed behind (as etcd's backend batches its bolt transactions): write() puts the
 * events into an in-memory overlay that every read consults first, and a flush hands all
 * pending writes to lmdb's write thread as one transaction, at most `flushDelayMs` later or as
 * soon as `maxPendingEvents` are waiting. The overlay keeps them readable until that commit has
 * landed (reads merge by position and version, so a commit that is visible a moment before its
 * promise settles is not read twice). The event loop only encodes the writes: the B-tree work
 * and the commit, 7-12 ms per 100 ms of writes when they ran on it, happen on lmdb's thread.
 * The applied index is stored in the same transaction as the events it produced, so the store on
 * disk is always a prefix of whole write()s; commits land in order, and lmdb's overlapping sync
 * makes each durable shortly after. A crash may lose the last flushes, never part of one, and
 * Raft replays them from its log: the driver compacts the log only behind an index that
 * makeDurable() reported committed and synced.
 */
export class LmdbEventStorage implements EventStorage {
  private readonly root: RootDatabase;
  private readonly events: Database<string, number>;
  private readonly streams: Database<number, [string, number]>;
  private readonly heads: Database<number, string>;
  private readonly ids: Database<number, string>;
  private readonly refused: Database<RefusedAppend, string>;
  private readonly metaDb: Database<StoreMeta, string>;
  private current: StoreMeta;
  /** Writes not yet handed to lmdb. */
  private pending = new PendingWrites();
  /** Writes handed to lmdb's write thread and not yet committed, oldest first. */
  private readonly committing: PendingWrites[] = [];
  /** Settles once every flush so far has committed (or failed: see flushFailure). */
  private lastCommit: Promise<void> = Promise.resolve();
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
    this.refused = root.openDB({ name: 'refused' });
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

  /** The overlay, oldest first: the writes being committed, then the pending ones. */
  private layers(): PendingWrites[] {
    return [...this.committing, this.pending];
  }

  // The three lookups below run in apply(), once or more per event: they walk the overlay
  // newest first without building the layers() array.

  streamVersion(stream: string): number {
    let v = this.pending.heads.get(stream);
    for (let i = this.committing.length - 1; v === undefined && i >= 0; i--) v = (this.committing[i] as PendingWrites).heads.get(stream);
    return v ?? this.heads.get(stream) ?? -1;
  }

  positionOf(id: string): number | undefined {
    let p = this.pending.ids.get(id);
    for (let i = this.committing.length - 1; p === undefined && i >= 0; i--) p = (this.committing[i] as PendingWrites).ids.get(id);
    return p ?? this.ids.get(id);
  }

  eventAt(position: number): StoredEvent | undefined {
    let e = this.pending.at(position);
    for (let i = this.committing.length - 1; e === undefined && i >= 0; i--) e = (this.committing[i] as PendingWrites).at(position);
    if (e !== undefined) return e;
    const json = this.events.get(position);
    return json === undefined ? undefined : stored(json);
  }

  // Overlay events of a stream always come after its committed ones (versions only grow), so a
  // read is the committed part then the overlay (forward) or the reverse (backward). A commit may
  // show in lmdb a moment before it leaves the overlay: versions already read are skipped.
  readStream(stream: string, from: number, limit: number, direction: Direction): StoredEvent[] {
    if (limit <= 0) return [];
    const layers = this.layers();
    if (direction === 'forward') {
      const out = this.readFlushedStream(stream, from, limit, direction);
      let next = Math.max(from, (out.at(-1)?.event.version ?? -1) + 1);
      for (const layer of layers) {
        for (const e of layer.streams.get(stream) ?? []) {
          if (out.length >= limit) return out;
          if (e.event.version >= next) {
            out.push(e);
            next = e.event.version + 1;
          }
        }
      }
      return out;
    }
    const out: StoredEvent[] = [];
    let below = from; // the highest version still wanted
    for (let l = layers.length - 1; l >= 0; l--) {
      const ofStream = (layers[l] as PendingWrites).streams.get(stream) ?? [];
      for (let i = ofStream.length - 1; i >= 0 && out.length < limit; i--) {
        const e = ofStream[i] as StoredEvent;
        if (e.event.version <= below) {
          out.push(e);
          below = e.event.version - 1;
        }
      }
    }
    return below < 0 ? out : out.concat(this.readFlushedStream(stream, below, limit - out.length, direction));
  }

  readAll(position: number, limit: number): StoredEvent[] {
    return mergeOverlay(readEvents(this.events, position, limit), this.layers(), position, limit);
  }

  /** Read when the store opens (the state machine keeps the table in memory), so not fast. */
  refusedAppends(): RefusedAppend[] {
    const table = new Map<string, RefusedAppend>();
    for (const { key, value } of this.refused.getRange()) table.set(key, value);
    for (const layer of this.layers()) {
      for (const [key, r] of layer.refusals) {
        if (r === null) table.delete(key);
        else table.set(key, r);
      }
    }
    return byIndex(table.values());
  }

  write(events: readonly StoredEvent[], meta: StoreMeta, refusals?: RefusalChanges): void {
    // A commit that failed surfaces here, on the apply path, where it is fatal.
    if (this.flushFailure !== undefined) throw this.flushFailure;
    this.pending.add(events, meta, refusals);
    this.current = meta;
    if (this.pending.events.length >= this.options.maxPendingEvents) this.flush();
    // flush() never throws: a failed commit is recorded in flushFailure and surfaces above.
    else this.flushTimer ??= setTimeout(() => {
      this.flush();
    }, this.options.flushDelayMs).unref();
  }

  /**
   * Hands every pending write to lmdb's write thread as one transaction, as soon as the previous
   * one has committed; they stay readable from the overlay until theirs has. On failure
   * (StorageError, thrown by the next write()) they stay readable and nothing after them is
   * committed; the node stops, and Raft replays them after a restart.
   */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.pending;
    const meta = batch.meta;
    if (meta === undefined) return;
    this.pending = new PendingWrites();
    this.committing.push(batch);
    // One transaction at a time, each handed over once the one before it committed: after a
    // failed commit nothing later lands, so lmdb keeps a prefix of whole writes.
    this.lastCommit = this.lastCommit
      .then(async () => {
        if (this.flushFailure !== undefined) return;
        await this.root.batch(() => {
          this.putEvents(batch.events, putBatched);
          for (const [key, r] of batch.refusals) {
            if (r === null) void this.refused.remove(key);
            else putBatched(this.refused, key, r);
          }
          putBatched(this.metaDb, 'meta', meta);
        });
        // Committed, and visible to reads: lmdb renews its read transaction first.
        this.committing.splice(this.committing.indexOf(batch), 1);
      })
      .catch((err: unknown) => {
        this.flushFailure ??= new StorageError('event store write', { cause: err });
      });
  }

  /** Flushes, then waits for every commit so far (rejects if one failed). */
  private async settle(): Promise<void> {
    this.flush();
    await this.lastCommit;
    if (this.flushFailure !== undefined) throw this.flushFailure;
  }

  /** Commits every pending write and waits until lmdb has synced it to disk. */
  readonly makeDurable = async (): Promise<LogIndex> => {
    const applied = this.current.applied;
    await this.settle();
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
    // Everything written so far is in lmdb or in the overlay's batches being committed, which are
    // immutable from here on: the view is an lmdb read transaction (a consistent MVCC snapshot;
    // writers carry on meanwhile) plus those batches.
    this.flush();
    const layers = [...this.committing];
    const txn = this.root.useReadTransaction();
    const meta = this.current;
    const events = this.events;
    return {
      meta,
      readAll: (position, limit) => {
        const wanted = Math.min(limit, meta.nextPosition - position);
        return mergeOverlay(readEvents(events, position, wanted, txn), layers, position, wanted);
      },
      close: () => {
        txn.done();
      },
    };
  }

  /**
   * Precondition: no write is being committed (await makeDurable() first); pending ones are
   * dropped. The events are written as they are iterated, so a restore never holds the whole
   * store in memory; if iterating them throws, the transaction is aborted and nothing changes.
   */
  replace(events: Iterable<StoredEvent>, meta: StoreMeta, refused: readonly RefusedAppend[] = []): void {
    // A commit queued before this synchronous transaction could land after it, over the new state.
    if (this.committing.length > 0) throw new StorageError('event store replace while writes are being committed: settle them first');
    // The events' own failure (a restore refusing a snapshot) is rethrown as it is, not as a
    // storage failure.
    let refusedByEvents: { error: unknown } | undefined;
    const checked = (function* () {
      try {
        yield* events;
      } catch (error) {
        refusedByEvents = { error };
        throw error;
      }
    })();
    // One transaction: a crash leaves the old state or the new one, never a mix.
    try {
      this.transact(() => {
        for (const db of [this.events, this.streams, this.heads, this.ids, this.refused, this.metaDb]) db.clearSync();
        this.putEvents(checked, putNow);
        for (const r of refused) putNow(this.refused, r.key, r);
        putNow(this.metaDb, 'meta', meta);
      });
    } catch (err) {
      throw refusedByEvents === undefined ? err : refusedByEvents.error;
    }
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.pending = new PendingWrites();
    this.current = meta;
  }

  async close(): Promise<void> {
    try {
      await this.settle();
    } finally {
      await this.root.close();
    }
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

  /** The one place that knows which entries an event takes in the databases. */
  private putEvents(events: Iterable<StoredEvent>, put: Put): void {
    for (const { event, json } of events) {
      put(this.events, event.position, json);
      put(this.streams, [event.stream, event.version], event.position);
      put(this.heads, event.stream, event.version);
      put(this.ids, event.id, event.position);
    }
  }

  private transact(fn: () => void): void {
    try {
      // Committed synchronously (visible to the next read), flushed to disk shortly after;
      // aborted (nothing written) if fn throws.
      this.root.transactionSync(fn, SYNCHRONOUS_COMMIT_NO_FLUSH | TransactionFlags.ABORTABLE);
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

/** How putEvents writes: inside a transactionSync, or queued into a batch() on lmdb's thread. */
type Put = <V, K extends Key>(db: Database<V, K>, key: K, value: V) => void;
const putNow: Put = (db, key, value) => {
  db.putSync(key, value);
};
const putBatched: Put = (db, key, value) => {
  void db.put(key, value);
};

/** Stream reads of up to this many events use point lookups instead of a cursor. */
const POINT_READ_LIMIT = 16;

const defaultOptions: LmdbEventStorageOptions = { flushDelayMs: 100, maxPendingEvents: 10_000 };

/** Writes not yet committed to lmdb, indexed the way reads need them; immutable once flushed. */
class PendingWrites {
  readonly events: StoredEvent[] = [];
  /** The global position of events[0]. */
  firstPosition = 0;
  readonly heads = new Map<string, number>();
  readonly ids = new Map<string, number>();
  /** stream -> its pending events, by version. */
  readonly streams = new Map<string, StoredEvent[]>();
  /** Refusal changes, the last one per key. */
  readonly refusals = new Map<string, RefusedAppend | null>();
  meta: StoreMeta | undefined;

  add(events: readonly StoredEvent[], meta: StoreMeta, refusals: RefusalChanges | undefined): void {
    if (refusals !== undefined) for (const [key, r] of refusals) this.refusals.set(key, r);
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
}

/** Commit synchronously (visible to the next read) and let lmdb flush it to disk shortly after. */
// lmdb's transaction flags are a bit set, typed as an enum.
export const SYNCHRONOUS_COMMIT_NO_FLUSH = (TransactionFlags.SYNCHRONOUS_COMMIT | TransactionFlags.NO_SYNC_FLUSH) as TransactionFlags;

/**
 * `committed` (events from `position` read from lmdb) followed by the overlay's events after them,
 * up to `limit`. Positions are contiguous: the overlay continues where lmdb stops, and events lmdb
 * already shows are not taken from the overlay again.
 */
function mergeOverlay(committed: StoredEvent[], layers: readonly PendingWrites[], position: number, limit: number): StoredEvent[] {
  const out = committed;
  for (const layer of layers) {
    if (out.length >= limit) break;
    const next = position + out.length;
    if (layer.events.length === 0 || layer.firstPosition + layer.events.length <= next) continue;
    if (layer.firstPosition > next) throw new StorageError(`event store: no event at position ${next} before the overlay at ${layer.firstPosition}`);
    out.push(...layer.from(next, limit - out.length));
  }
  return out;
}

function readEvents(events: Database<string, number>, position: number, limit: number, transaction?: ReturnType<RootDatabase['useReadTransaction']>): StoredEvent[] {
  if (limit <= 0) return [];
  const out: StoredEvent[] = [];
  for (const { value } of events.getRange({ start: Math.max(0, position), limit, ...(transaction === undefined ? {} : { transaction }) })) out.push(stored(value));
  return out;
}

function stored(json: string): StoredEvent {
  return { event: JSON.parse(json) as RecordedEvent, json };
}
