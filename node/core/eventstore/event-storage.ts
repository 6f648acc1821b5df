import type { LogIndex } from '../raft/index.ts';
import { EMPTY_HASH } from './hash.ts';
import type { RecordedEvent } from './types.ts';

/** An event with the exact JSON text it is stored as (what reads return and the hash covers). */
export interface StoredEvent {
  readonly event: RecordedEvent;
  readonly json: string;
}

/**
 * What the stored state says about itself, written atomically with the events it describes:
 * the Raft index it reflects, the hash chain after the last event, and the next global position
 * (the number of events stored).
 */
export interface StoreMeta {
  readonly applied: LogIndex;
  readonly hash: string;
  readonly nextPosition: number;
}

export const emptyMeta: StoreMeta = { applied: 0 as LogIndex, hash: EMPTY_HASH, nextPosition: 0 };

export type Direction = 'forward' | 'backward';

/**
 * Where the event store keeps its state: in memory for the simulator and tests, in lmdb on a node.
 * Contract (checked by one suite against every implementation):
 * - write() is atomic: after a crash the store holds all of a write or none of it, and its meta
 *   always describes exactly the events it holds;
 * - events are immutable: nothing rewrites or deletes one, except replace() (snapshot restore);
 * - reads see every completed write.
 */
export interface EventStorage {
  readonly meta: StoreMeta;
  /** The last event's version in `stream`, or NO_STREAM_VERSION (-1). */
  streamVersion(stream: string): number;
  /** Where the event with this id is stored, if it is. */
  positionOf(id: string): number | undefined;
  eventAt(position: number): StoredEvent | undefined;
  /** Up to `limit` events of a stream from version `from` (inclusive), in `direction`. */
  readStream(stream: string, from: number, limit: number, direction: Direction): StoredEvent[];
  /** Up to `limit` events of the global log from `position` (inclusive). */
  readAll(position: number, limit: number): StoredEvent[];
  /** Stores `events` (positions meta.nextPosition onwards, in order) and `meta`, atomically. */
  write(events: readonly StoredEvent[], meta: StoreMeta): void;
  /** A view frozen now; later writes do not show in it. Close it when done. */
  view(): StorageView;
  /**
   * Replaces the whole state with `events` and `meta`, atomically (snapshot restore). Storage
   * with makeDurable() may still be committing earlier writes: await it first.
   */
  replace(events: readonly StoredEvent[], meta: StoreMeta): void;
  /**
   * Present on storage that survives a restart: resolves once every write made so far is on
   * disk (fsynced), with the applied index of the last of them.
   */
  readonly makeDurable?: () => Promise<LogIndex>;
}

export interface StorageView {
  readonly meta: StoreMeta;
  /** Up to `limit` events from `position`, as of when the view was taken. */
  readAll(position: number, limit: number): StoredEvent[];
  close(): void;
}

/** The in-memory EventStorage: arrays and maps. Pure, for the simulator and unit tests. */
export class MemoryEventStorage implements EventStorage {
  private events: StoredEvent[] = [];
  /** stream -> positions of its events, by version. */
  private streams = new Map<string, number[]>();
  private ids = new Map<string, number>();
  private current: StoreMeta = emptyMeta;

  get meta(): StoreMeta {
    return this.current;
  }

  streamVersion(stream: string): number {
    return (this.streams.get(stream)?.length ?? 0) - 1;
  }

  positionOf(id: string): number | undefined {
    return this.ids.get(id);
  }

  eventAt(position: number): StoredEvent | undefined {
    return this.events[position];
  }

  readStream(stream: string, from: number, limit: number, direction: Direction): StoredEvent[] {
    const positions = this.streams.get(stream) ?? [];
    const out: StoredEvent[] = [];
    const step = direction === 'forward' ? 1 : -1;
    const start = direction === 'forward' ? Math.max(0, from) : Math.min(from, positions.length - 1);
    for (let v = start; v >= 0 && v < positions.length && out.length < limit; v += step) {
      out.push(this.events[positions[v] as number] as StoredEvent);
    }
    return out;
  }

  readAll(position: number, limit: number): StoredEvent[] {
    return this.events.slice(Math.max(0, position), Math.max(0, position) + Math.max(0, limit));
  }

  write(events: readonly StoredEvent[], meta: StoreMeta): void {
    for (const e of events) this.add(e);
    this.current = meta;
  }

  view(): StorageView {
    // Stored events are immutable and only appended, so the length freezes the view.
    const length = this.events.length;
    const meta = this.current;
    const events = this.events;
    return {
      meta,
      readAll: (position, limit) => events.slice(Math.max(0, position), Math.min(length, Math.max(0, position) + Math.max(0, limit))),
      close: () => undefined,
    };
  }

  replace(events: readonly StoredEvent[], meta: StoreMeta): void {
    this.events = [];
    this.streams = new Map();
    this.ids = new Map();
    for (const e of events) this.add(e);
    this.current = meta;
  }

  private add(e: StoredEvent): void {
    const { position, stream, version, id } = e.event;
    if (position !== this.events.length) throw new Error(`event at position ${position} written after ${this.events.length - 1}`);
    let versions = this.streams.get(stream);
    if (versions === undefined) {
      versions = [];
      this.streams.set(stream, versions);
    }
    if (version !== versions.length) throw new Error(`event ${stream}@${version} written after version ${versions.length - 1}`);
    versions.push(position);
    this.ids.set(id, position);
    this.events.push(e);
  }
}

