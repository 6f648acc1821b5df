import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { TransactionFlags, open } from 'lmdb';
import type { Database, Key, RootDatabase } from 'lmdb';
import { byIndex, emptyMeta, withinBytes } from '../../core/eventstore/index.ts';
import type { Direction, EventStorage, RecordedEvent, RefusalChanges, RefusedAppend, StorageView, StoreMeta, StoredEvent } from '../../core/eventstore/index.ts';
import type { LogIndex } from '../../core/raft/index.ts';
import { StorageError, fsyncDirSync, replaceFileSync, volumeSpace } from '../storage/index.ts';

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
  private readonly dir: string;
  /** The lmdb environment holding the state (replaced whole by replace()). */
  private gen: Generation;
  /** The highest generation number used so far, so that a new one never reuses an open path. */
  private lastGeneration: number;
  /** Environments replaced or discarded, until they are closed and removed. */
  private readonly retiring = new Set<Promise<void>>();
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

  private constructor(dir: string, gen: Generation, options: LmdbEventStorageOptions) {
    this.dir = dir;
    this.gen = gen;
    this.lastGeneration = gen.number;
    this.options = options;
    this.current = gen.metaDb.get('meta') ?? emptyMeta;
  }

  /** Opens (or creates) the store in `dir`. */
  static open(dir: string, options: Partial<LmdbEventStorageOptions> = {}): LmdbEventStorage {
    try {
      const name = openGenerations(dir);
      return new LmdbEventStorage(dir, new Generation(dir, name), { ...defaultOptions, ...options });
    } catch (err) {
      throw err instanceof StorageError ? err : new StorageError(`open event store in ${dir}`, { cause: err });
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
    return v ?? this.gen.heads.get(stream) ?? -1;
  }

  positionOf(id: string): number | undefined {
    let p = this.pending.ids.get(id);
    for (let i = this.committing.length - 1; p === undefined && i >= 0; i--) p = (this.committing[i] as PendingWrites).ids.get(id);
    return p ?? this.gen.ids.get(id);
  }

  eventAt(position: number): StoredEvent | undefined {
    let e = this.pending.at(position);
    for (let i = this.committing.length - 1; e === undefined && i >= 0; i--) e = (this.committing[i] as PendingWrites).at(position);
    if (e !== undefined) return e;
    const json = this.gen.events.get(position);
    return json === undefined ? undefined : stored(json);
  }

  // Overlay events of a stream always come after its committed ones (versions only grow), so a
  // read is the committed part then the overlay (forward) or the reverse (backward). A commit may
  // show in lmdb a moment before it leaves the overlay: versions already read are skipped.
  readStream(stream: string, from: number, limit: number, direction: Direction, maxBytes = Infinity): StoredEvent[] {
    if (limit <= 0) return [];
    const layers = this.layers();
    if (direction === 'forward') {
      const out = this.readFlushedStream(stream, from, limit, direction, maxBytes);
      let bytes = maxBytes === Infinity ? 0 : jsonLength(out);
      let next = Math.max(from, (out.at(-1)?.event.version ?? -1) + 1);
      for (const layer of layers) {
        for (const e of layer.streams.get(stream) ?? []) {
          if (out.length >= limit || bytes >= maxBytes) return out;
          if (e.event.version >= next) {
            out.push(e);
            bytes += e.json.length;
            next = e.event.version + 1;
          }
        }
      }
      return out;
    }
    const out: StoredEvent[] = [];
    let bytes = 0;
    let below = from; // the highest version still wanted
    for (let l = layers.length - 1; l >= 0; l--) {
      const ofStream = (layers[l] as PendingWrites).streams.get(stream) ?? [];
      for (let i = ofStream.length - 1; i >= 0 && out.length < limit && bytes < maxBytes; i--) {
        const e = ofStream[i] as StoredEvent;
        if (e.event.version <= below) {
          out.push(e);
          bytes += e.json.length;
          below = e.event.version - 1;
        }
      }
    }
    if (below < 0 || out.length >= limit || bytes >= maxBytes) return out;
    return out.concat(this.readFlushedStream(stream, below, limit - out.length, direction, maxBytes - bytes));
  }

  readAll(position: number, limit: number, maxBytes = Infinity): StoredEvent[] {
    const committed = readEvents(this.gen.events, position, limit, maxBytes);
    return mergeOverlay(committed, this.layers(), position, limit, maxBytes);
  }

  /** Read when the store opens (the state machine keeps the table in memory), so not fast. */
  refusedAppends(): RefusedAppend[] {
    const table = new Map<string, RefusedAppend>();
    for (const { key, value } of this.gen.refused.getRange()) table.set(key, value);
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
    // replace() waits for no commit, so the environment cannot change under this one.
    const gen = this.gen;
    // One transaction at a time, each handed over once the one before it committed: after a
    // failed commit nothing later lands, so lmdb keeps a prefix of whole writes.
    this.lastCommit = this.lastCommit
      .then(async () => {
        if (this.flushFailure !== undefined) return;
        await gen.root.batch(() => {
          gen.putEvents(batch.events, putBatched);
          for (const [key, r] of batch.refusals) {
            if (r === null) void gen.refused.remove(key);
            else putBatched(gen.refused, key, r);
          }
          putBatched(gen.metaDb, 'meta', meta);
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
      (this.gen.root as unknown as { sync(callback: (err?: Error | null) => void): void }).sync((err) => {
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
    // The view keeps reading the environment it started in, also if replace() retires it.
    const gen = this.gen;
    const txn = gen.root.useReadTransaction();
    gen.views++;
    const meta = this.current;
    let closed = false;
    return {
      meta,
      readAll: (position, limit) => {
        const wanted = Math.min(limit, meta.nextPosition - position);
        return mergeOverlay(readEvents(gen.events, position, wanted, Infinity, txn), layers, position, wanted);
      },
      close: () => {
        if (closed) return;
        closed = true;
        txn.done();
        gen.views--;
        if (gen.views === 0 && gen.retired) this.closeRetired(gen);
      },
    };
  }

  /**
   * Precondition: no write is being committed (await makeDurable() first); pending ones are
   * dropped. The new state is built in a new lmdb environment beside the current one, in
   * transactions of about `restoreTransactionBytes` each (lmdb holds a write transaction's pages
   * in memory until it commits, so one transaction for the whole store held the whole store), and
   * synced; then the CURRENT file is switched to it and the old environment is removed once no
   * view reads it. If iterating the events throws (a snapshot refused on the way), or a write
   * fails, the new environment is dropped and nothing changes. A crash leaves the old state or the
   * new one, never a mix: CURRENT names one complete environment, and open() removes the others.
   */
  replace(events: Iterable<StoredEvent>, meta: StoreMeta, refused: readonly RefusedAppend[] = []): void {
    // A commit queued before this synchronous switch could land after it, in the old environment.
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
    const next = this.newGeneration();
    try {
      next.fill(checked, meta, refused, this.options.restoreTransactionBytes, () => {
        this.checkRoomToRestore();
      });
    } catch (err) {
      this.retire(next);
      if (refusedByEvents !== undefined) throw refusedByEvents.error;
      if (err instanceof DiskFullError) throw err;
      // A full disk shows as an I/O error from lmdb's mapped writes: say what it is.
      const free = this.freeBytesOrUndefined();
      throw free !== undefined && free < this.restoreReserveBytes() ? new DiskFullError(this.dir, free, { cause: err }) : new StorageError('event store restore', { cause: err });
    }
    // From here the new state is durable; if CURRENT cannot be switched the node stops, and the
    // next open() finds whichever environment CURRENT names.
    writeCurrent(this.dir, next.name);
    const old = this.gen;
    this.gen = next;
    this.retire(old);
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.pending = new PendingWrites();
    this.current = meta;
  }

  /** Bytes the environment in use takes on disk (the blocks of its data file), for metrics. */
  sizeBytes(): number {
    try {
      return statSync(path.join(this.gen.dir, 'data.mdb')).blocks * 512;
    } catch {
      return 0;
    }
  }

  async close(): Promise<void> {
    try {
      await this.settle();
    } finally {
      await this.gen.root.close();
      await Promise.all(this.retiring);
    }
  }

  /**
   * A restore writes a second copy of the store beside the first (the old environment goes only
   * once the new one is complete), and the Raft log on the same volume must keep room to append:
   * each transaction starts only with restoreReserveBytes() free, so that a volume too small ends
   * the restore with a clear error instead of lmdb failing on a full disk.
   */
  private checkRoomToRestore(): void {
    const free = this.freeBytesOrUndefined();
    if (free !== undefined && free < this.restoreReserveBytes()) throw new DiskFullError(this.dir, free);
  }

  /** Four transactions' worth: the indexes take about as much room again as the events' JSON. */
  private restoreReserveBytes(): number {
    return 4 * this.options.restoreTransactionBytes;
  }

  /** Free bytes on the store's volume, or undefined if they cannot be read (then nothing is checked). */
  private freeBytesOrUndefined(): number | undefined {
    try {
      return this.options.freeBytes(this.dir);
    } catch {
      return undefined;
    }
  }

  private newGeneration(): Generation {
    const name = generationName(++this.lastGeneration);
    try {
      // A leftover of a restore that crashed (open() removes them too).
      rmSync(path.join(this.dir, name), { recursive: true, force: true });
      return new Generation(this.dir, name);
    } catch (err) {
      throw new StorageError(`event store restore: create ${name} in ${this.dir}`, { cause: err });
    }
  }

  /** Closes and removes `gen` once no view reads it. */
  private retire(gen: Generation): void {
    gen.retired = true;
    if (gen.views === 0) this.closeRetired(gen);
  }

  private closeRetired(gen: Generation): void {
    // Best effort: a directory left behind is removed by the next open().
    const done = gen.root
      .close()
      .then(() => rm(gen.dir, { recursive: true, force: true }))
      .catch(() => undefined);
    this.retiring.add(done);
    void done.then(() => this.retiring.delete(done));
  }

  /** Events of `stream` committed to lmdb; stops at `limit`, or once their JSON reaches `maxBytes`. */
  private readFlushedStream(stream: string, from: number, limit: number, direction: Direction, maxBytes: number): StoredEvent[] {
    if (limit <= 0) return [];
    if (limit <= POINT_READ_LIMIT) return this.readFlushedVersions(stream, from, limit, direction, maxBytes);
    const range =
      direction === 'forward'
        ? this.gen.streams.getRange({ start: [stream, Math.max(0, from)], end: [stream, Number.MAX_SAFE_INTEGER], limit })
        : this.gen.streams.getRange({ start: [stream, from], end: [stream, -1], reverse: true, limit });
    const out: StoredEvent[] = [];
    let bytes = 0;
    for (const { value: position } of range) {
      const json = this.gen.events.get(position);
      if (json === undefined) throw new StorageError(`event store: stream index points at missing position ${position}`);
      out.push(stored(json));
      bytes += json.length;
      if (bytes >= maxBytes) break;
    }
    return out;
  }

  /**
   * The same as a range read, by point lookups: a stream's versions run from 0 to its head
   * without gaps, so each one's position is a get. Cheaper than opening a cursor for a few events
   * (the common read: a stream's latest event, or an aggregate's next few).
   */
  private readFlushedVersions(stream: string, from: number, limit: number, direction: Direction, maxBytes: number): StoredEvent[] {
    const head = this.gen.heads.get(stream);
    if (head === undefined) return [];
    const out: StoredEvent[] = [];
    const step = direction === 'forward' ? 1 : -1;
    let bytes = 0;
    for (let v = direction === 'forward' ? Math.max(0, from) : Math.min(from, head); v >= 0 && v <= head && out.length < limit && bytes < maxBytes; v += step) {
      const position = this.gen.streams.get([stream, v]);
      const json = position === undefined ? undefined : this.gen.events.get(position);
      if (json === undefined) throw new StorageError(`event store: stream ${stream} has no event at version ${v} below its head ${head}`);
      out.push(stored(json));
      bytes += json.length;
    }
    return out;
  }
}

export interface LmdbEventStorageOptions {
  /** The longest a write waits in memory before it is committed to lmdb. */
  readonly flushDelayMs: number;
  /** Pending events that trigger a commit at once. */
  readonly maxPendingEvents: number;
  /**
   * Event JSON a restore (replace()) writes per lmdb transaction: lmdb holds a write
   * transaction's pages in memory until it commits, so this bounds a restore's memory.
   */
  readonly restoreTransactionBytes: number;
  /** Bytes available to this process on the volume holding `dir` (statfs; replaced in tests). */
  readonly freeBytes: (dir: string) => number;
}

/** A restore stopped because the volume of the event store has too little room left. */
export class DiskFullError extends StorageError {
  constructor(dir: string, freeBytes: number, options?: ErrorOptions) {
    super(
      `event store restore: the volume of ${dir} has ${mib(freeBytes)} MiB free; restoring a snapshot writes a second copy of the store beside the current one before removing it. ` +
        'Nothing was changed. Expand the volume and restart the node (docs/operations.md, "Storage")',
      options,
    );
  }
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
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

const defaultOptions: LmdbEventStorageOptions = { flushDelayMs: 100, maxPendingEvents: 10_000, restoreTransactionBytes: 32 * 2 ** 20, freeBytes: (dir) => volumeSpace(dir).availableBytes };

/**
 * One lmdb environment: the store's state since the last replace(), in `<dir>/g<number>/`. The
 * file `<dir>/CURRENT` names the one in use; any other is a leftover, removed at open.
 */
class Generation {
  readonly name: string;
  readonly number: number;
  readonly dir: string;
  readonly root: RootDatabase;
  readonly events: Database<string, number>;
  readonly streams: Database<number, [string, number]>;
  readonly heads: Database<number, string>;
  readonly ids: Database<number, string>;
  readonly refused: Database<RefusedAppend, string>;
  readonly metaDb: Database<StoreMeta, string>;
  /** Views (read transactions) open on it. */
  views = 0;
  /** Replaced (or discarded): closed and removed once no view reads it. */
  retired = false;

  constructor(storeDir: string, name: string) {
    this.name = name;
    this.number = generationNumber(name);
    this.dir = path.join(storeDir, name);
    this.root = open({ path: this.dir, compression: false });
    // lmdb syncs its files' contents, never the directories that name them: a file created here
    // must survive a power loss before the Raft log is compacted behind the state in it.
    fsyncDirSync(this.dir);
    fsyncDirSync(storeDir);
    this.events = this.root.openDB({ name: 'events', encoding: 'string' });
    this.streams = this.root.openDB({ name: 'streams' });
    this.heads = this.root.openDB({ name: 'heads' });
    this.ids = this.root.openDB({ name: 'ids' });
    this.refused = this.root.openDB({ name: 'refused' });
    this.metaDb = this.root.openDB({ name: 'meta' });
  }

  /** The one place that knows which entries an event takes in the databases. */
  putEvents(events: Iterable<StoredEvent>, put: Put): void {
    for (const { event, json } of events) {
      put(this.events, event.position, json);
      put(this.streams, [event.stream, event.version], event.position);
      put(this.heads, event.stream, event.version);
      put(this.ids, event.id, event.position);
    }
  }

  /**
   * Writes a whole state into this (new, empty) environment: the events in transactions of about
   * `transactionBytes` of JSON, then the refused appends and `meta` in a last transaction that
   * lmdb syncs before returning, with everything before it. `beforeTransaction()` runs before each
   * transaction of events and may throw to stop. Throws whatever iterating the events throws; the
   * environment is then incomplete and must be dropped.
   */
  fill(events: Iterable<StoredEvent>, meta: StoreMeta, refused: readonly RefusedAppend[], transactionBytes: number, beforeTransaction: () => void): void {
    const it = events[Symbol.iterator]();
    // Each transaction returns whether events remain.
    for (let more = true; more; ) {
      beforeTransaction();
      more = this.root.transactionSync(() => {
        for (let bytes = 0; bytes < transactionBytes; ) {
          const next = it.next();
          if (next.done === true) return false;
          this.putEvents([next.value], putNow);
          bytes += next.value.json.length;
        }
        return true;
      }, SYNCHRONOUS_COMMIT_NO_FLUSH | TransactionFlags.ABORTABLE);
    }
    // Without NO_SYNC_FLUSH lmdb commits this one durably (and marks it flushed, so that its
    // overlapping-sync recovery does not fall back to an earlier transaction after a power loss).
    this.root.transactionSync(() => {
      for (const r of refused) putNow(this.refused, r.key, r);
      putNow(this.metaDb, 'meta', meta);
    }, TransactionFlags.SYNCHRONOUS_COMMIT | TransactionFlags.ABORTABLE);
  }
}

const CURRENT = 'CURRENT';

function generationName(n: number): string {
  return `g${String(n)}`;
}

function generationNumber(name: string): number {
  const m = /^g(\d{1,9})$/.exec(name);
  if (m === null) throw new StorageError(`event store: ${CURRENT} names ${JSON.stringify(name)}, which is not a generation (g<number>)`);
  return Number(m[1]);
}

function writeCurrent(dir: string, name: string): void {
  try {
    replaceFileSync(path.join(dir, CURRENT), `${name}\n`);
  } catch (err) {
    throw new StorageError('event store: switch CURRENT', { cause: err });
  }
}

/**
 * Prepares `dir` and returns the name of the generation in use. A new store, or one from before
 * generations (lmdb's files directly in `dir`), becomes g0. Every generation but the current one
 * is a leftover (of a restore that crashed, or an environment replaced but not yet removed) and is
 * removed.
 */
function openGenerations(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const currentFile = path.join(dir, CURRENT);
  let name: string;
  if (existsSync(currentFile)) {
    name = readFileSync(currentFile, 'utf8').trim();
    generationNumber(name);
    if (!existsSync(path.join(dir, name))) throw new StorageError(`event store: ${CURRENT} names ${name}, which is missing from ${dir}`);
  } else {
    const unknown = readdirSync(dir).filter((e) => !['data.mdb', 'lock.mdb', 'g0', `${CURRENT}.tmp`].includes(e));
    if (unknown.length > 0) throw new StorageError(`event store: ${dir} has no ${CURRENT} file but holds ${unknown.join(', ')}; refusing to guess which state is current`);
    name = generationName(0);
    mkdirSync(path.join(dir, name), { recursive: true });
    // The files of a store from before generations move into g0 (a crash in between is resumed here).
    if (existsSync(path.join(dir, 'data.mdb'))) {
      renameSync(path.join(dir, 'data.mdb'), path.join(dir, name, 'data.mdb'));
      fsyncDirSync(path.join(dir, name));
    }
    writeCurrent(dir, name);
  }
  for (const entry of readdirSync(dir)) {
    if (entry !== CURRENT && entry !== name) rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
  return name;
}

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
function mergeOverlay(committed: StoredEvent[], layers: readonly PendingWrites[], position: number, limit: number, maxBytes = Infinity): StoredEvent[] {
  const out = committed;
  let bytes = maxBytes === Infinity ? 0 : jsonLength(out);
  for (const layer of layers) {
    if (out.length >= limit || bytes >= maxBytes) break;
    const next = position + out.length;
    if (layer.events.length === 0 || layer.firstPosition + layer.events.length <= next) continue;
    if (layer.firstPosition > next) throw new StorageError(`event store: no event at position ${next} before the overlay at ${layer.firstPosition}`);
    const more = withinBytes(layer.from(next, limit - out.length), maxBytes - bytes);
    out.push(...more);
    if (maxBytes !== Infinity) bytes += jsonLength(more);
  }
  return out;
}

/** Events from `position` in lmdb; stops at `limit`, or once their JSON reaches `maxBytes` (see EventStorage.readAll). */
function readEvents(events: Database<string, number>, position: number, limit: number, maxBytes: number, transaction?: ReturnType<RootDatabase['useReadTransaction']>): StoredEvent[] {
  if (limit <= 0) return [];
  const out: StoredEvent[] = [];
  let bytes = 0;
  for (const { value } of events.getRange({ start: Math.max(0, position), limit, ...(transaction === undefined ? {} : { transaction }) })) {
    out.push(stored(value));
    bytes += value.length;
    if (bytes >= maxBytes) break;
  }
  return out;
}

function jsonLength(events: readonly StoredEvent[]): number {
  let n = 0;
  for (const e of events) n += e.json.length;
  return n;
}

function stored(json: string): StoredEvent {
  return { event: JSON.parse(json) as RecordedEvent, json };
}
