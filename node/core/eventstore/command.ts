import type { AppendCommand, ExpectedVersion, Json, ProposedEvent, StreamAppend } from './types.ts';

/**
 * Hard limits checked at apply time. They are protocol constants, not configuration: every replica
 * must reach the same verdict on the same entry. The HTTP layer enforces its own, configurable and
 * lower, limits before proposing.
 */
export const commandLimits = {
  /** Streams in one atomic append. */
  maxStreams: 100,
  /** Events in one command, over all its streams. */
  maxEvents: 10_000,
  /** Characters of a stream name, event id or event type. */
  maxNameLength: 256,
  /** UTF-16 code units of one event's data and metadata as JSON. */
  maxEventJsonLength: 4 * 1024 * 1024,
} as const;

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeCommand(cmd: AppendCommand): Uint8Array {
  return enc.encode(JSON.stringify(cmd));
}

/**
 * Parses and checks a replicated command. Returns a reason instead of throwing: a malformed
 * entry (a bug, or a newer node's command type) must be rejected identically on every replica.
 */
export function decodeCommand(bytes: Uint8Array): { ok: true; command: AppendCommand } | { ok: false; detail: string } {
  let value: unknown;
  try {
    value = JSON.parse(dec.decode(bytes));
  } catch {
    return { ok: false, detail: 'command is not JSON' };
  }
  const problem = checkCommand(value);
  return problem === undefined ? { ok: true, command: value as AppendCommand } : { ok: false, detail: problem };
}

function checkCommand(v: unknown): string | undefined {
  if (!isObject(v)) return 'command must be an object';
  if (v.type !== 'Append') return `unknown command type ${JSON.stringify(v.type)}`;
  if (!isSafeNonNegative(v.timestamp)) return 'timestamp must be a non-negative integer';
  const appends = v.appends;
  if (!Array.isArray(appends) || appends.length === 0) return 'appends must be a non-empty array';
  if (appends.length > commandLimits.maxStreams) return `at most ${commandLimits.maxStreams} streams per append`;
  const streams = new Set<string>();
  const ids = new Set<string>();
  let events = 0;
  for (const [i, a] of (appends as unknown[]).entries()) {
    const problem = checkStreamAppend(a);
    if (problem !== undefined) return `appends[${i}]: ${problem}`;
    const sa = a as StreamAppend;
    if (streams.has(sa.stream)) return `stream ${sa.stream} appears twice; put its events in one append`;
    streams.add(sa.stream);
    events += sa.events.length;
    if (events > commandLimits.maxEvents) return `at most ${commandLimits.maxEvents} events per append`;
    for (const e of sa.events) {
      if (ids.has(e.id)) return `event id ${e.id} appears twice`;
      ids.add(e.id);
    }
  }
  return undefined;
}

function checkStreamAppend(a: unknown): string | undefined {
  if (!isObject(a)) return 'must be an object';
  if (!isName(a.stream)) return `stream must be a non-empty string of at most ${commandLimits.maxNameLength} characters`;
  if (!isExpectedVersion(a.expectedVersion)) return "expectedVersion must be 'any', 'no_stream', 'exists' or a non-negative integer";
  const events = a.events;
  if (!Array.isArray(events) || events.length === 0) return 'events must be a non-empty array';
  for (const [i, e] of (events as unknown[]).entries()) {
    const problem = checkEvent(e);
    if (problem !== undefined) return `events[${i}]: ${problem}`;
  }
  return undefined;
}

function checkEvent(e: unknown): string | undefined {
  if (!isObject(e)) return 'must be an object';
  if (!isName(e.id)) return 'id must be a non-empty string';
  if (!isName(e.type)) return 'type must be a non-empty string';
  if (!Number.isSafeInteger(e.schemaVersion) || (e.schemaVersion as number) < 1) return 'schemaVersion must be an integer >= 1';
  if (!('data' in e) || !('metadata' in e)) return 'data and metadata are required (metadata may be null)';
  const size = JSON.stringify(e.data).length + JSON.stringify(e.metadata).length;
  if (size > commandLimits.maxEventJsonLength) return `data and metadata exceed ${commandLimits.maxEventJsonLength} characters of JSON`;
  return undefined;
}

function isExpectedVersion(v: unknown): v is ExpectedVersion {
  return v === 'any' || v === 'no_stream' || v === 'exists' || isSafeNonNegative(v);
}

function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= commandLimits.maxNameLength;
}

function isSafeNonNegative(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Builds the proposed form of an event, filling the defaults a client may leave out. */
export function proposedEvent(e: { id: string; type: string; data: Json; metadata?: Json; schemaVersion?: number }): ProposedEvent {
  return { id: e.id, type: e.type, data: e.data, metadata: e.metadata ?? null, schemaVersion: e.schemaVersion ?? 1 };
}
