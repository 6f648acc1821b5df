import type { LogIndex } from '../raft/index.ts';
import type { ReplicatedStateMachine, SnapshotStream, StateSnapshot } from '../state-machine.ts';
import { decodeCommand } from './command.ts';
import type { EventStorage, RefusedAppend, StorageView, StoreMeta, StoredEvent } from './event-storage.ts';
import { concatBytes } from '../bytes.ts';
import { EMPTY_HASH, chainHash } from './hash.ts';
import { NO_STREAM_VERSION } from './types.ts';
import type { AppendCommand, AppendOutcome, ExpectedVersion, RecordedEvent, StreamAppendResult } from './types.ts';

/** Writes made by the entries of one batch, visible to later entries of the same batch. */
interface Batch {
  readonly events: StoredEvent[];
  readonly versions: Map<string, number>;
  readonly ids: Map<string, number>;
  /** Refusals recorded (or forgotten: null) by this batch, for storage; the table has them already. */
  readonly refusals: Map<string, RefusedAppend | null>;
  meta: StoreMeta;
}

type WrongExpectedVersion = Extract<AppendOutcome, { error: 'WrongExpectedVersion' }>;

/**
 * How many refused appends the store remembers (see RefusedAppend). A protocol constant, like
 * commandLimits: every replica must forget the same records at the same entry.
 */
export const REMEMBERED_REFUSALS = 10_000;

export interface EventStoreOptions {
  /** Overrides REMEMBERED_REFUSALS, for tests of forgetting; never set on a node. */
  readonly rememberedRefusals?: number;
}

/** A snapshot's slices hold whole events and are cut once they reach this size. */
const SNAPSHOT_SLICE_BYTES = 1 << 20;
/** Events read from storage at a time while a snapshot is serialized. */
const SNAPSHOT_READ_EVENTS = 16;
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
  /**
   * The refused appends remembered, by key, oldest first (Map order). Updated as entries apply,
   * so that eviction is one sequence on every replica whatever the batches; storage gets the
   * changes when the batch commits.
   */
  private refused = new Map<string, RefusedAppend>();
  private readonly rememberedRefusals: number;

  readonly makeDurable?: () => Promise<LogIndex>;

  constructor(storage: EventStorage, options: EventStoreOptions = {}) {
    this.storage = storage;
    this.rememberedRefusals = options.rememberedRefusals ?? REMEMBERED_REFUSALS;
    for (const r of storage.refusedAppends()) this.refused.set(r.key, r);
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

  /** How many refused appends are remembered now. */
  get refusedCount(): number {
    return this.refused.size;
  }

  /** The refused appends remembered now, oldest first (part of the replicated state). */
  refusedAppends(): RefusedAppend[] {
    return [...this.refused.values()];
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
   * first unmet expectation may still come true (`exists`, or a number the stream has not reached),
   * nor one with a remembered refusal under its first id (apply answers it from the record).
   *
   * A copy of `cmd` in flight (a client's retry) therefore meets the same conflict when applied:
   * answering it early can never contradict what the log does with the copy.
   */
  certainConflict(cmd: AppendCommand): WrongExpectedVersion | undefined {
    const s = this.storage;
    for (const a of cmd.appends) {
      const actual = s.streamVersion(a.stream);
      if (satisfies(a.expectedVersion, actual)) continue;
      // The ids last: the common append meets its expectations and costs one lookup per stream.
      // A remembered refusal under its first id: apply would answer that record.
      if (!passed(a.expectedVersion, actual) || this.refused.has(firstEventId(cmd)) || cmd.appends.some((b) => b.events.some((e) => s.positionOf(e.id) !== undefined))) return undefined;
      return { ok: false, error: 'WrongExpectedVersion', stream: a.stream, expected: a.expectedVersion, actual };
    }
    return undefined;
  }

  beginBatch(): void {
    if (this.batch !== undefined) throw new Error('beginBatch: a batch is already open');
    this.batch = { events: [], versions: new Map(), ids: new Map(), refusals: new Map(), meta: this.storage.meta };
  }

  commitBatch(): void {
    const b = this.batch;
    if (b === undefined) throw new Error('commitBatch: no batch is open');
    this.batch = undefined;
    if (b.meta !== this.storage.meta) this.storage.write(b.events, b.meta, b.refusals);
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
    const slices = snapshotChunks(view, [...this.refused.values()]);
    let open = true;
    const close = (): void => {
      if (!open) return;
      open = false;
      view.close();
    };
    const stream: SnapshotStream = {
      next: () => {
        if (!open) return undefined;
        try {
          const r = slices.next();
          if (r.done !== true) return r.value;
        } catch (err) {
          close();
          throw err;
        }
        close();
        return undefined;
      },
      close,
    };
    return {
      index: view.meta.applied,
      stream: () => stream,
      serialize: async (pause) => {
        try {
          const parts: Uint8Array[] = [];
          for (let slice = stream.next(); slice !== undefined; slice = stream.next()) {
            if (parts.length > 0) await pause();
            parts.push(slice);
          }
          return concatBytes(parts);
        } finally {
          close();
        }
      },
    };
  }

  /** The whole state as snapshot bytes, in one go (for callers that cannot wait: the simulator). */
  snapshotBytes(): Uint8Array {
    if (this.batch !== undefined) throw new Error('snapshot: a batch is open');
    const view = this.storage.view();
    try {
      return concatBytes([...snapshotChunks(view, [...this.refused.values()])]);
    } finally {
      view.close();
    }
  }

  restore(index: LogIndex, data: Uint8Array): void {
    this.restoreSlices(index, [data]);
  }

  /**
   * restore() from the snapshot's bytes in slices, cut anywhere (a file read a piece at a time):
   * only the event being checked and written is in memory. The slices must not be reused by
   * whoever made them until the restore returns.
   */
  restoreSlices(index: LogIndex, slices: Iterable<Uint8Array>): void {
    if (this.batch !== undefined) throw new Error('restore: a batch is open');
    // Line by line from the bytes: the whole snapshot as one string would be capped by V8's
    // string length (~512 MiB), and all its events at once by the heap.
    const lines = snapshotLines(slices);
    const header = lines.next();
    if (header.done === true) throw new Error('event store snapshot is truncated');
    const { refused: refusedCount = 0, ...meta } = JSON.parse(header.value) as SnapshotHeader;
    if (meta.applied !== index) throw new Error(`event store snapshot is at ${meta.applied}, expected ${index}`);
    const badCount = new Error(`event store snapshot has a bad count of refused appends: ${refusedCount}`);
    if (!Number.isSafeInteger(refusedCount) || refusedCount < 0) throw badCount;
    const refused: RefusedAppend[] = [];
    for (let i = 0; i < refusedCount; i++) {
      const line = lines.next();
      if (line.done === true) throw badCount;
      refused.push(refusedAppend(line.value, index));
    }
    // Storage writes the events as they are checked, and aborts if the check fails on the way.
    this.storage.replace(verifiedEvents(lines, meta), meta, refused);
    this.refused = new Map(refused.map((r) => [r.key, r]));
  }

  // ------------------------------------------------------------------ apply

  private append(b: Batch, cmd: AppendCommand): AppendOutcome {
    const known = cmd.appends.flatMap((a) => a.events.map((e) => this.positionOf(b, e.id)));
    const storedCount = known.filter((p) => p !== undefined).length;
    if (storedCount === known.length) return this.replay(b, cmd);
    if (storedCount > 0) {
      return { ok: false, error: 'EventIdConflict', detail: `${storedCount} of the ${known.length} event ids are stored already and the others are not; an append is retried whole, with the same ids` };
    }
    const remembered = this.rememberedRefusal(cmd);
    if (remembered !== undefined) return remembered;
    // §4: expectations are checked here, at apply time, against the versions every replica has.
    for (const a of cmd.appends) {
      const actual = this.streamVersion(b, a.stream);
      if (!satisfies(a.expectedVersion, actual)) return this.refuse(b, cmd, { ok: false, error: 'WrongExpectedVersion', stream: a.stream, expected: a.expectedVersion, actual });
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

  /** The answer to an earlier copy of `cmd`, if it was refused and is remembered. */
  private rememberedRefusal(cmd: AppendCommand): WrongExpectedVersion | undefined {
    const r = this.refused.get(firstEventId(cmd));
    // The fingerprint only on a hit: most appends have no record under their first id.
    if (r === undefined) return undefined;
    return r.fingerprint === fingerprint(cmd) ? { ...r.outcome, repeated: true } : undefined;
  }

  /**
   * Answers `cmd` with a version conflict, and remembers the refusal when a copy of `cmd` applied
   * later could succeed: the client was told "refused", so the copy must be too. An append with a
   * passed expectation needs no record (versions only grow: every copy fails on its own), and
   * that is most conflicts. The newest records are kept, up to rememberedRefusals; a recorded
   * refusal is the last thing an append does, so no failure can leave the table ahead of a batch.
   */
  private refuse(b: Batch, cmd: AppendCommand, outcome: WrongExpectedVersion): WrongExpectedVersion {
    if (cmd.appends.some((a) => passed(a.expectedVersion, this.streamVersion(b, a.stream)))) return outcome;
    const record: RefusedAppend = { key: firstEventId(cmd), fingerprint: fingerprint(cmd), index: b.meta.applied, outcome };
    this.refused.delete(record.key); // re-recorded: now the newest
    this.refused.set(record.key, record);
    b.refusals.set(record.key, record);
    for (const oldest of this.refused.keys()) {
      if (this.refused.size <= this.rememberedRefusals) break;
      this.refused.delete(oldest);
      b.refusals.set(oldest, null);
    }
    return outcome;
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

/** The stream is past `expected` for good: no later append can make it true again. */
function passed(expected: ExpectedVersion, actual: number): boolean {
  return expected === 'no_stream' ? actual !== NO_STREAM_VERSION : typeof expected === 'number' && actual > expected;
}

function firstEventId(cmd: AppendCommand): string {
  return cmd.appends[0]?.events[0]?.id ?? '';
}

/** Names an append for its copies: the same streams, expectations and event ids, in order. */
function fingerprint(cmd: AppendCommand): string {
  return chainHash(EMPTY_HASH, JSON.stringify(cmd.appends.map((a) => [a.stream, a.expectedVersion, a.events.map((e) => e.id)])));
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

/** The first line of a snapshot: the store's meta and how many refused-append lines follow it. */
interface SnapshotHeader extends StoreMeta {
  /** Absent in snapshots taken before refusals were remembered. */
  readonly refused?: number;
}

/**
 * A snapshot's bytes in slices: a header line, one line per remembered refusal (oldest first),
 * then one line per event (JSON has no raw newline).
 */
function* snapshotChunks(view: StorageView, refused: readonly RefusedAppend[]): Generator<Uint8Array> {
  const header: SnapshotHeader = { ...view.meta, refused: refused.length };
  yield enc.encode(`${JSON.stringify(header)}\n${refused.map((r) => `${JSON.stringify(r)}\n`).join('')}`);
  // Cut by size, not by count: events may be anything from a few bytes to the event size limit,
  // and a slice is what a sender holds in memory at a time.
  let lines: string[] = [];
  let size = 0;
  for (let p = 0; p < view.meta.nextPosition; p += SNAPSHOT_READ_EVENTS) {
    for (const e of view.readAll(p, SNAPSHOT_READ_EVENTS)) {
      lines.push(`${e.json}\n`);
      size += e.json.length + 1;
      if (size >= SNAPSHOT_SLICE_BYTES) {
        yield enc.encode(lines.join(''));
        lines = [];
        size = 0;
      }
    }
  }
  if (lines.length > 0) yield enc.encode(lines.join(''));
}

const NEWLINE = 0x0a;

/**
 * The lines of a snapshot, one string each, from its bytes in slices cut anywhere. Throws at the
 * end if the bytes do not end with a newline (a snapshot cut short).
 */
function* snapshotLines(slices: Iterable<Uint8Array>): Generator<string, undefined> {
  // A newline byte never occurs inside a multi-byte UTF-8 character: each line decodes alone,
  // once the pieces of it that straddle slices are put together.
  let carried: Uint8Array[] = [];
  for (const slice of slices) {
    let start = 0;
    for (let end = slice.indexOf(NEWLINE); end !== -1; end = slice.indexOf(NEWLINE, start)) {
      const piece = slice.subarray(start, end);
      if (carried.length === 0) {
        yield dec.decode(piece);
      } else {
        carried.push(piece);
        yield dec.decode(concatBytes(carried));
        carried = [];
      }
      start = end + 1;
    }
    if (start < slice.length) carried.push(slice.subarray(start));
  }
  if (carried.length > 0) throw new Error('event store snapshot is truncated');
  return undefined;
}

/**
 * The snapshot's event lines, parsed and checked as they go: positions from 0 without gaps, and
 * at the end the hash chain and count the header states (they prove the events are the ones the
 * snapshot's taker stored). Throws on the first problem.
 */
function* verifiedEvents(lines: Iterator<string, undefined>, meta: StoreMeta): Generator<StoredEvent> {
  let hash = EMPTY_HASH;
  let position = 0;
  for (let line = lines.next(); line.done !== true; line = lines.next()) {
    const json = line.value;
    const event = JSON.parse(json) as RecordedEvent;
    if (event.position !== position) throw new Error(`event store snapshot has position ${event.position} at ${position}`);
    hash = chainHash(hash, json);
    yield { event, json };
    position++;
  }
  if (hash !== meta.hash || position !== meta.nextPosition) throw new Error('event store snapshot does not match its hash; refusing it');
}

/** A refused-append line of a snapshot, checked: the table decides outcomes, so bad data is refused. */
function refusedAppend(line: string, index: LogIndex): RefusedAppend {
  type Unchecked = { [K in keyof RefusedAppend]?: unknown } & { outcome?: Record<string, unknown> };
  const r = JSON.parse(line) as Unchecked | null;
  const o = r?.outcome;
  const valid =
    typeof r?.key === 'string' &&
    typeof r.fingerprint === 'string' &&
    Number.isSafeInteger(r.index) &&
    (r.index as number) <= index &&
    o?.ok === false &&
    o.error === 'WrongExpectedVersion' &&
    typeof o.stream === 'string' &&
    (typeof o.expected === 'string' || Number.isSafeInteger(o.expected)) &&
    Number.isSafeInteger(o.actual);
  if (!valid) throw new Error('event store snapshot has a malformed refused append; refusing it');
  return r as unknown as RefusedAppend;
}
