import type { LogIndex } from '../raft/index.ts';
import { EMPTY_HASH } from './hash.ts';
import type { AppendOutcome, RecordedEvent } from './types.ts';

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

/**
 * An append that was refused while it could still have succeeded later (an expectation not yet
 * met, none already passed), remembered so that a copy of it applied later (a client's retry
 * through another node, logged after this one) is refused the same way instead of succeeding
 * (docs/event-storage.md, "Exactly-once"). Part of the replicated state.
 */
export interface RefusedAppend {
  /** The append's first event id: how a copy finds the record. */
  readonly key: string;
  /** What makes a copy the same append: its streams, expectations and event ids, hashed. */
  readonly fingerprint: string;
  /** The log index of the refused entry; records are forgotten oldest first. */
  readonly index: LogIndex;
  readonly outcome: Extract<AppendOutcome, { error: 'WrongExpectedVersion' }>;
}

/** Refusals recorded (key -> the record) or forgotten (key -> null) by one write. */
export type RefusalChanges = ReadonlyMap<string, RefusedAppend | null>;

const noRefusalChanges: RefusalChanges = new Map();

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
  /**
   * Up to `limit` events of a stream from version `from` (inclusive), in `direction`, and no more
   * once their JSON reaches `maxBytes` characters (as readAll).
   */
  readStream(stream: string, from: number, limit: number, direction: Direction, maxBytes?: number): StoredEvent[];
  /**
   * Up to `limit` events of the global log from `position` (inclusive), and no more once their
   * JSON reaches `maxBytes` characters (the event that reaches it is included, so a read returns
   * at least one event when there is one).
   */
  readAll(position: number, limit: number, maxBytes?: number): StoredEvent[];
  /** The remembered refused appends, oldest (lowest index) first. */
  refusedAppends(): RefusedAppend[];
  /**
   * Stores `events` (positions meta.nextPosition onwards, in order), `meta` and the changes to
   * the refused appends, atomically.
   */
  write(events: readonly StoredEvent[], meta: StoreMeta, refusals?: RefusalChanges): void;
  /** A view frozen now; later writes do not show in it. Close it when done. */
  view(): StorageView;
  /**
   * Replaces the whole state with `events` and `meta`, atomically (snapshot restore). Storage
   * with makeDurable() may still be committing earlier writes: await it first. `events` is
   * iterated once, in order, and may throw (a snapshot found bad on the way): then nothing
   * changes.
   */
  replace(events: Iterable<StoredEvent>, meta: StoreMeta, refused?: readonly RefusedAppend[]): void;
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
  private refused = new Map<string, RefusedAppend>();
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

  readStream(stream: string, from: number, limit: number, direction: Direction, maxBytes = Infinity): StoredEvent[] {
    const positions = this.streams.get(stream) ?? [];
    const out: StoredEvent[] = [];
    const step = direction === 'forward' ? 1 : -1;
    const start = direction === 'forward' ? Math.max(0, from) : Math.min(from, positions.length - 1);
    let bytes = 0;
    for (let v = start; v >= 0 && v < positions.length && out.length < limit && bytes < maxBytes; v += step) {
      const e = this.events[positions[v] as number] as StoredEvent;
      out.push(e);
      bytes += e.json.length;
    }
    return out;
  }

  readAll(position: number, limit: number, maxBytes = Infinity): StoredEvent[] {
    return withinBytes(this.events.slice(Math.max(0, position), Math.max(0, position) + Math.max(0, limit)), maxBytes);
  }

  refusedAppends(): RefusedAppend[] {
    return byIndex(this.refused.values());
  }

  write(events: readonly StoredEvent[], meta: StoreMeta, refusals: RefusalChanges = noRefusalChanges): void {
    for (const e of events) this.add(e);
    for (const [key, r] of refusals) {
      if (r === null) this.refused.delete(key);
      else this.refused.set(key, r);
    }
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

  replace(events: Iterable<StoredEvent>, meta: StoreMeta, refused: readonly RefusedAppend[] = []): void {
    const fresh = new MemoryEventStorage();
    for (const e of events) fresh.add(e); // may throw: this store is untouched until the end
    this.events = fresh.events;
    this.streams = fresh.streams;
    this.ids = fresh.ids;
    this.refused = new Map(refused.map((r) => [r.key, r]));
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

/** Refused appends oldest first, the order in which they are forgotten. */
export function byIndex(refused: Iterable<RefusedAppend>): RefusedAppend[] {
  return [...refused].sort((a, b) => a.index - b.index);
}

/** The first of `events` up to and including the one whose JSON brings the total to `maxBytes`. */
export function withinBytes(events: StoredEvent[], maxBytes: number): StoredEvent[] {
  if (maxBytes === Infinity) return events;
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    bytes += (events[i] as StoredEvent).json.length;
    if (bytes >= maxBytes) return events.slice(0, i + 1);
  }
  return events;
}
