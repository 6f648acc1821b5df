import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { Entry, HardState, LogIndex, Term } from '../../core/raft/index.ts';

/**
 * One log record is one persisted batch (one Ready), framed as
 *   u32 payload length | u32 CRC-32 of payload | payload (msgpack)
 * so a record is either whole and verified or recognisably broken.
 */
export const HEADER_BYTES = 8;
/** No record we write is larger; a header claiming more is garbage, not a record. */
export const MAX_RECORD_BYTES = 1 << 30;

export interface LogRecord {
  readonly hardState?: HardState;
  /** Entries, contiguous; the first one replaces any entry at its index and everything after it. */
  readonly entries?: readonly Entry[];
  /** The leader's snapshot at (index, term) replaced the whole log at this point of the stream. */
  readonly snapshotInstalled?: { readonly index: LogIndex; readonly term: Term };
}

// Plain structures only (no msgpackr record extension), so the format does not depend on codec state.
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeRecord(record: LogRecord): Buffer {
  const payload = packr.pack(record);
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  payload.copy(out, HEADER_BYTES);
  return out;
}

export type DecodeResult =
  | { readonly kind: 'record'; readonly record: LogRecord; readonly next: number }
  | { readonly kind: 'end' }
  /** Not a valid record at `offset`: torn write or corruption (the caller decides which). */
  | { readonly kind: 'bad'; readonly offset: number; readonly reason: string; readonly claimedEnd: number | undefined };

/** Decodes the record at `offset` of `buf`. */
export function decodeRecord(buf: Buffer, offset: number): DecodeResult {
  if (offset === buf.length) return { kind: 'end' };
  if (offset + HEADER_BYTES > buf.length) return { kind: 'bad', offset, reason: 'truncated header', claimedEnd: undefined };
  const length = buf.readUInt32BE(offset);
  const crc = buf.readUInt32BE(offset + 4);
  if (length === 0 || length > MAX_RECORD_BYTES) return { kind: 'bad', offset, reason: `impossible record length ${length}`, claimedEnd: undefined };
  const end = offset + HEADER_BYTES + length;
  if (end > buf.length) return { kind: 'bad', offset, reason: 'record runs past the end of the file', claimedEnd: undefined };
  const payload = buf.subarray(offset + HEADER_BYTES, end);
  if (crc32(payload) !== crc) return { kind: 'bad', offset, reason: 'checksum mismatch', claimedEnd: end };
  let value: unknown;
  try {
    value = packr.unpack(payload);
  } catch (err) {
    return { kind: 'bad', offset, reason: `undecodable payload (${String(err)})`, claimedEnd: end };
  }
  // The CRC matched, so this is what we wrote; the shape check guards against format mix-ups.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'bad', offset, reason: 'payload is not a record', claimedEnd: end };
  return { kind: 'record', record: normalise(value), next: end };
}

/** msgpack gives Buffers for binary data; entries carry plain Uint8Array views like everywhere else. */
function normalise(record: LogRecord): LogRecord {
  if (record.entries === undefined) return record;
  return {
    ...record,
    entries: record.entries.map((e) => (e.type === 'Normal' ? { ...e, data: new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.length) } : e)),
  };
}
