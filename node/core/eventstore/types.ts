/**
 * The event store's vocabulary (ARCHITECTURE §4). Everything here is plain JSON so that commands
 * travel in Raft entries and events are stored exactly as written.
 */

/** A JSON value as it came from a client: no undefined, no functions, no cycles. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/**
 * What a writer expects the stream to be at the moment its append is applied:
 * - `any`: no check;
 * - `no_stream`: the stream has no events yet;
 * - `exists`: the stream has at least one event;
 * - a number n >= 0: the stream's last event has version n.
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'exists' | number;

/** The version a stream with no events reports as its current version. */
export const NO_STREAM_VERSION = -1;

/** An event as a client proposes it. `id` makes retries idempotent. */
export interface ProposedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: Json;
  readonly metadata: Json;
  readonly schemaVersion: number;
}

/**
 * An event as stored, forever. `version` counts from 0 within the stream; `position` counts from
 * 0 over all streams, without gaps; `timestamp` (ms since the epoch) was set when the append was
 * proposed, so every replica stores the same value.
 */
export interface RecordedEvent {
  readonly id: string;
  readonly stream: string;
  readonly type: string;
  readonly data: Json;
  readonly metadata: Json;
  readonly schemaVersion: number;
  readonly version: number;
  readonly position: number;
  readonly timestamp: number;
}

/** Appends to one stream, under one expectation. */
export interface StreamAppend {
  readonly stream: string;
  readonly expectedVersion: ExpectedVersion;
  readonly events: readonly ProposedEvent[];
}

/**
 * The command replicated in a Raft entry: one or more stream appends applied atomically (all or
 * none). `timestamp` is stamped by the node that proposes it.
 */
export interface AppendCommand {
  readonly type: 'Append';
  readonly appends: readonly StreamAppend[];
  readonly timestamp: number;
}

export interface StreamAppendResult {
  readonly stream: string;
  readonly firstVersion: number;
  readonly lastVersion: number;
  readonly firstPosition: number;
  readonly lastPosition: number;
}

/**
 * The outcome of applying an append. Failures change nothing. `duplicate` is true when every
 * event id was already stored by an earlier, identical append: the result is that append's.
 */
export type AppendOutcome =
  | { readonly ok: true; readonly results: readonly StreamAppendResult[]; readonly duplicate: boolean }
  | {
      readonly ok: false;
      readonly error: 'WrongExpectedVersion';
      readonly stream: string;
      readonly expected: ExpectedVersion;
      readonly actual: number;
      /** Set on a copy of an append refused before: `actual` is the version at that first refusal. */
      readonly repeated?: true;
    }
  | { readonly ok: false; readonly error: 'EventIdConflict'; readonly detail: string }
  | { readonly ok: false; readonly error: 'InvalidCommand'; readonly detail: string };
