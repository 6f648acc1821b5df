import type { Json, RecordedEvent } from './types.ts';

/** A JSON Schema (draft 2020-12 / draft-07 subset that ajv accepts), as plain data. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** An event as a domain sees it: its type, its data at the latest schema version, its version. */
export interface DomainEvent {
  readonly type: string;
  readonly data: Json;
  /** The event's version in its stream (the aggregate's version after it). */
  readonly version: number;
}

/** What decide() returns: events to append, or a rule the command breaks. */
export type Decision =
  | { readonly ok: true; readonly events: readonly { readonly type: string; readonly data: Json }[] }
  | { readonly ok: false; readonly code: string; readonly detail: string };

/** One schema version of an event type, and how to lift its data to the next version. */
export interface EventVersion {
  readonly schema: JsonSchema;
  /** Pure: the data of this version as the next version's data. Absent on the latest version. */
  readonly upcast?: (data: Json) => Json;
}

/** The rows of one projection, by key. */
export interface ProjectionRows {
  get(key: string): Json | undefined;
  /** Sets a row; undefined deletes it. */
  set(key: string, row: Json | undefined): void;
}

/**
 * A read model kept up to date from events (CQRS). `apply` sees every event of the global log once,
 * in order, with its data upcast to the latest schema version. It must be deterministic and touch
 * nothing but `rows`, so that a rebuild from position 0 gives the same rows.
 */
export interface ProjectionDefinition {
  readonly name: string;
  apply(event: RecordedEvent, rows: ProjectionRows): void;
}

/**
 * An aggregate type (ARCHITECTURE §4): commands are checked against their schemas, decided
 * against the state folded from the aggregate's stream, and turn into events. Everything here is
 * pure and deterministic; the node supplies streams, versions, ids and retries.
 *
 * The aggregate `id` of type `t` lives in stream `t-id`.
 */
export interface DomainModule<State = Json> {
  readonly type: string;
  readonly initialState: State;
  /** Command name -> JSON Schema of its payload. */
  readonly commands: Readonly<Record<string, JsonSchema>>;
  /** Event type -> its schema versions, from 1; the highest is the one decide() writes. */
  readonly events: Readonly<Record<string, Readonly<Record<number, EventVersion>>>>;
  decide(command: { readonly type: string; readonly data: Json }, state: State): Decision;
  evolve(state: State, event: DomainEvent): State;
  readonly projections?: readonly ProjectionDefinition[];
}

/** The stream that holds an aggregate's events. */
export function aggregateStream(type: string, id: string): string {
  return `${type}-${id}`;
}

/** The latest schema version of an event type. */
export function latestVersion(versions: Readonly<Record<number, EventVersion>>): number {
  return Math.max(...Object.keys(versions).map(Number));
}

/**
 * Lifts event data from `schemaVersion` to the latest version through each upcaster in turn.
 * Returns undefined when a step is missing (the module cannot read this event).
 */
export function upcast(versions: Readonly<Record<number, EventVersion>>, schemaVersion: number, data: Json): { data: Json; schemaVersion: number } | undefined {
  const latest = latestVersion(versions);
  let v = schemaVersion;
  let d = data;
  while (v < latest) {
    const step = versions[v]?.upcast;
    if (step === undefined) return undefined;
    d = step(d);
    v++;
  }
  return v === latest ? { data: d, schemaVersion: v } : undefined;
}
