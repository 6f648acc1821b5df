import { TransactionFlags, open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { emptyMeta } from '../../core/eventstore/index.ts';
import type { Direction, EventStorage, RecordedEvent, StorageView, StoreMeta, StoredEvent } from '../../core/eventstore/index.ts';
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
 * Each write() is one lmdb write transaction, so the applied index is stored atomically with the
 * events it produced. Commits are not flushed one by one (lmdb's overlapping sync flushes them
 * shortly after): a crash may lose the last batches, never part of one, and Raft replays them
 * from the log because the log keeps every entry after the last snapshot.
 */
export class LmdbEventStorage implements EventStorage {
  private readonly root: RootDatabase;
  private readonly events: Database<string, number>;
  private readonly streams: Database<number, [string, number]>;
  private readonly heads: Database<number, string>;
  private readonly ids: Database<number, string>;
  private readonly metaDb: Database<StoreMeta, string>;
  private current: StoreMeta;

  private constructor(root: RootDatabase) {
    this.root = root;
    this.events = root.openDB({ name: 'events', encoding: 'string' });
    this.streams = root.openDB({ name: 'streams' });
    this.heads = root.openDB({ name: 'heads' });
    this.ids = root.openDB({ name: 'ids' });
    this.metaDb = root.openDB({ name: 'meta' });
    this.current = this.metaDb.get('meta') ?? emptyMeta;
  }

  /** Opens (or creates) the store in `dir`. */
  static open(dir: string): LmdbEventStorage {
    try {
      return new LmdbEventStorage(open({ path: dir, compression: false }));
    } catch (err) {
      throw new StorageError(`open event store in ${dir}`, { cause: err });
    }
  }

  get meta(): StoreMeta {
    return this.current;
  }

  streamVersion(stream: string): number {
    return this.heads.get(stream) ?? -1;
  }

  positionOf(id: string): number | undefined {
    return this.ids.get(id);
  }

  eventAt(position: number): StoredEvent | undefined {
    const json = this.events.get(position);
    return json === undefined ? undefined : stored(json);
  }

  readStream(stream: string, from: number, limit: number, direction: Direction): StoredEvent[] {
    if (limit <= 0) return [];
    const range =
      direction === 'forward'
        ? this.streams.getRange({ start: [stream, Math.max(0, from)], end: [stream, Number.MAX_SAFE_INTEGER], limit })
        : this.streams.getRange({ start: [stream, from], end: [stream, -1], reverse: true, limit });
    const out: StoredEvent[] = [];
    for (const { value: position } of range) {
      const e = this.eventAt(position);
      if (e === undefined) throw new StorageError(`event store: stream index points at missing position ${position}`);
      out.push(e);
    }
    return out;
  }

  readAll(position: number, limit: number): StoredEvent[] {
    return readEvents(this.events, position, limit);
  }

  write(events: readonly StoredEvent[], meta: StoreMeta): void {
    this.transact(() => {
      this.putEvents(events);
      this.metaDb.putSync('meta', meta);
    });
    this.current = meta;
  }

  view(): StorageView {
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
    // One transaction: a crash leaves the old state or the new one, never a mix.
    this.transact(() => {
      for (const db of [this.events, this.streams, this.heads, this.ids, this.metaDb]) db.clearSync();
      this.putEvents(events);
      this.metaDb.putSync('meta', meta);
    });
    this.current = meta;
  }

  async close(): Promise<void> {
    await this.root.close();
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
