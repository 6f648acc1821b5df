import type { LogIndex } from '../raft/index.ts';
import type { ReplicatedStateMachine, StateSnapshot } from '../state-machine.ts';
import { decodeCommand } from './command.ts';
import type { EventStorage, StorageView, StoreMeta, StoredEvent } from './event-storage.ts';
import { concatBytes } from '../bytes.ts';
import { EMPTY_HASH, chainHash } from './hash.ts';
import { NO_STREAM_VERSION } from './types.ts';
import type { AppendCommand, AppendOutcome, ExpectedVersion, RecordedEvent, StreamAppendResult } from './types.ts';

/** Writes made by the entries of one batch, visible to later entries of the same batch. */
interface Batch {
  readonly events: StoredEvent[];
  readonly versions: Map<string, number>;
  readonly ids: Map<string, number>;
  meta: StoreMeta;
}

/** Events per slice when a snapshot is serialized. */
const SNAPSHOT_SLICE = 2_000;
const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The event store as a replicated state machine (ARCHITECTURE §4). Deterministic: the outcome of
 * an entry depends only on the stored state and the entry's bytes. Appends are checked against
 * the stream versions at apply time, and are idempotent by event id.
 *
 * The driver applies the committed entries of a Ready between beginBatch() and commitBatch(); the
 * batch goes to storage in one atomic write together with the applied index, so the stored state
 * always describes exactly the entries applied (a crash loses whole batches, which Raft replays).
 */
export class EventStoreStateMachine implements ReplicatedStateMachine<AppendOutcome> {
  private readonly storage: EventStorage;
  private batch: Batch | undefined;

  readonly makeDurable?: () => Promise<LogIndex>;

  constructor(storage: EventStorage) {
    this.storage = storage;
    // Durable storage keeps the state across restarts: the driver need not copy it into snapshots.
    const makeDurable = storage.makeDurable?.bind(storage);
    if (makeDurable !== undefined) {
      this.makeDurable = () => {
        if (this.batch !== undefined) return Promise.reject(new Error('makeDurable: a batch is open'));
        return makeDurable();
      };
    }
  }

  get appliedIndex(): LogIndex {
    return (this.batch?.meta ?? this.storage.meta).applied;
  }

  /** The hash chain over every stored event: equal on replicas that stored the same events. */
  get stateHash(): string {
    return (this.batch?.meta ?? this.storage.meta).hash;
  }

  /** The position the next event will get: the number of events stored. */
  get nextPosition(): number {
    return (this.batch?.meta ?? this.storage.meta).nextPosition;
  }

  /** Committed state for reads (not inside a batch). */
  get reader(): Pick<EventStorage, 'streamVersion' | 'readStream' | 'readAll' | 'eventAt' | 'positionOf'> {
    return this.storage;
  }

  /**
   * The version conflict `cmd` is certain to meet whenever it is applied, judged on the committed
   * state; undefined when its outcome is still open. Exactly what apply() would answer now, and
   * certain because a stream's version only grows: once a stream is past an expected number (or
   * exists where `no_stream` was expected) it stays so. An append with any id already stored may
   * be a retry, whose answer is the original result: never a certain conflict. Nor is one whose
   * first unmet expectation may still come true (`exists`, or a number the stream has not reached).
   *
   * A copy of `cmd` in flight (a client's retry) therefore meets the same conflict when applied:
   * answering it early can never contradict what the log does with the copy.
   */
  certainConflict(cmd: AppendCommand): Extract<AppendOutcome, { error: 'WrongExpectedVersion' }> | undefined {
    const s = this.storage;
    for (const a of cmd.appends) {
      const actual = s.streamVersion(a.stream);
      if (satisfies(a.expectedVersion, actual)) continue;
      const passed = a.expectedVersion === 'no_stream' || (typeof a.expectedVersion === 'number' && actual > a.expectedVersion);
      // The ids last: the common append meets its expectations and costs one lookup per stream.
      if (!passed || cmd.appends.some((b) => b.events.some((e) => s.positionOf(e.id) !== undefined))) return undefined;
      return { ok: false, error: 'WrongExpectedVersion', stream: a.stream, expected: a.expectedVersion, actual };
    }
    return undefined;
  }

  beginBatch(): void {
    if (this.batch !== undefined) throw new Error('beginBatch: a batch is already open');
    this.batch = { events: [], versions: new Map(), ids: new Map(), meta: this.storage.meta };
  }

  commitBatch(): void {
    const b = this.batch;
    if (b === undefined) throw new Error('commitBatch: no batch is open');
    this.batch = undefined;
    if (b.meta !== this.storage.meta) this.storage.write(b.events, b.meta);
  }

  apply(index: LogIndex, _requestId: string, command: Uint8Array): AppendOutcome {
    return this.inBatch((b) => {
      this.advanceTo(b, index);
      const decoded = decodeCommand(command);
      if (!decoded.ok) return { ok: false, error: 'InvalidCommand', detail: decoded.detail };
      return this.append(b, decoded.command);
    });
  }

  skip(index: LogIndex): void {
    this.inBatch((b) => {
      this.advanceTo(b, index);
    });
  }

  snapshot(): StateSnapshot {
    if (this.batch !== undefined) throw new Error('snapshot: a batch is open');
    const view = this.storage.view();
    return {
      index: view.meta.applied,
      serialize: async (pause) => {
        try {
          const parts: Uint8Array[] = [];
          for (const chunk of snapshotChunks(view)) {
            if (parts.length > 0) await pause();
            parts.push(chunk);
          }
          return concatBytes(parts);
        } finally {
          view.close();
        }
      },
    };
  }

  /** The whole state as snapshot bytes, in one go (for callers that cannot wait: the simulator). */
  snapshotBytes(): Uint8Array {
    if (this.batch !== undefined) throw new Error('snapshot: a batch is open');
    const view = this.storage.view();
    try {
      return concatBytes([...snapshotChunks(view)]);
    } finally {
      view.close();
    }
  }

  restore(index: LogIndex, data: Uint8Array): void {
    if (this.batch !== undefined) throw new Error('restore: a batch is open');
    const lines = dec.decode(data).split('\n');
    if (lines.at(-1) !== '') throw new Error('event store snapshot is truncated');
    const meta = JSON.parse(lines[0] ?? '') as StoreMeta;
    if (meta.applied !== index) throw new Error(`event store snapshot is at ${meta.applied}, expected ${index}`);
    const events: StoredEvent[] = [];
    let hash = EMPTY_HASH;
    for (let i = 1; i < lines.length - 1; i++) {
      const json = lines[i] as string;
      const event = JSON.parse(json) as RecordedEvent;
      if (event.position !== events.length) throw new Error(`event store snapshot has position ${event.position} at ${events.length}`);
      hash = chainHash(hash, json);
      events.push({ event, json });
    }
    // The hash chain proves the events are the ones the snapshot's taker stored.
    if (hash !== meta.hash || events.length !== meta.nextPosition) throw new Error('event store snapshot does not match its hash; refusing it');
    this.storage.replace(events, meta);
  }

  // ------------------------------------------------------------------ apply

  private append(b: Batch, cmd: AppendCommand): AppendOutcome {
    const known = cmd.appends.flatMap((a) => a.events.map((e) => this.positionOf(b, e.id)));
    const storedCount = known.filter((p) => p !== undefined).length;
    if (storedCount === known.length) return this.replay(b, cmd);
    if (storedCount > 0) {
      return { ok: false, error: 'EventIdConflict', detail: `${storedCount} of the ${known.length} event ids are stored already and the others are not; an append is retried whole, with the same ids` };
    }
    // §4: expectations are checked here, at apply time, against the versions every replica has.
    for (const a of cmd.appends) {
      const actual = this.streamVersion(b, a.stream);
      if (!satisfies(a.expectedVersion, actual)) return { ok: false, error: 'WrongExpectedVersion', stream: a.stream, expected: a.expectedVersion, actual };
    }
    let { hash, nextPosition: position } = b.meta;
    const results: StreamAppendResult[] = [];
    for (const a of cmd.appends) {
      const firstVersion = this.streamVersion(b, a.stream) + 1;
      const firstPosition = position;
      let version = firstVersion;
      for (const e of a.events) {
        const event: RecordedEvent = {
          id: e.id,
          stream: a.stream,
          type: e.type,
          data: e.data,
          metadata: e.metadata,
          schemaVersion: e.schemaVersion,
          version,
          position,
          timestamp: cmd.timestamp,
        };
        const json = JSON.stringify(event);
        hash = chainHash(hash, json);
        b.events.push({ event, json });
        b.ids.set(e.id, position);
        version++;
        position++;
      }
      b.versions.set(a.stream, version - 1);
      results.push({ stream: a.stream, firstVersion, lastVersion: version - 1, firstPosition, lastPosition: position - 1 });
    }
    b.meta = { ...b.meta, hash, nextPosition: position };
    return { ok: true, results, duplicate: false };
  }

  /** Every id is stored: the result is the original append's, if this is the same append. */
  private replay(b: Batch, cmd: AppendCommand): AppendOutcome {
    const results: StreamAppendResult[] = [];
    for (const a of cmd.appends) {
      const stored = a.events.map((e) => this.eventAt(b, this.positionOf(b, e.id) as number));
      const first = stored[0] as RecordedEvent;
      const last = stored.at(-1) as RecordedEvent;
      const same = stored.every((s, i) => s.stream === a.stream && s.version === first.version + i && s.position === first.position + i);
      if (!same) return { ok: false, error: 'EventIdConflict', detail: `the event ids were stored by a different append (stream ${first.stream}, version ${first.version})` };
      results.push({ stream: a.stream, firstVersion: first.version, lastVersion: last.version, firstPosition: first.position, lastPosition: last.position });
    }
    return { ok: true, results, duplicate: true };
  }

  private streamVersion(b: Batch, stream: string): number {
    return b.versions.get(stream) ?? this.storage.streamVersion(stream);
  }

  private positionOf(b: Batch, id: string): number | undefined {
    return b.ids.get(id) ?? this.storage.positionOf(id);
  }

  private eventAt(b: Batch, position: number): RecordedEvent {
    const committed = this.storage.meta.nextPosition;
    const e = position >= committed ? b.events[position - committed] : this.storage.eventAt(position);
    if (e === undefined) throw new Error(`event store: no event at position ${position}`);
    return e.event;
  }

  private advanceTo(b: Batch, index: LogIndex): void {
    if (index !== b.meta.applied + 1) throw new Error(`event store: applying ${index} after ${b.meta.applied}`);
    b.meta = { ...b.meta, applied: index };
  }

  /** Runs `fn` in the open batch, or in a batch of its own. */
  private inBatch<T>(fn: (b: Batch) => T): T {
    if (this.batch !== undefined) return fn(this.batch);
    this.beginBatch();
    let result: T;
    try {
      result = fn(this.batch as unknown as Batch);
    } catch (err) {
      this.batch = undefined; // a broken invariant: write nothing of it
      throw err;
    }
    this.commitBatch();
    return result;
  }
}

function satisfies(expected: ExpectedVersion, actual: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actual === NO_STREAM_VERSION;
    case 'exists':
      return actual !== NO_STREAM_VERSION;
    default:
      return actual === expected;
  }
}

/** A snapshot's bytes in slices: one line of meta, then one line per event (JSON has no raw newline). */
function* snapshotChunks(view: StorageView): Generator<Uint8Array> {
  yield enc.encode(`${JSON.stringify(view.meta)}\n`);
  for (let p = 0; p < view.meta.nextPosition; p += SNAPSHOT_SLICE) {
    yield enc.encode(view.readAll(p, SNAPSHOT_SLICE).map((e) => `${e.json}\n`).join(''));
  }
}
