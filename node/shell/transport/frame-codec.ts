import { Packr } from 'msgpackr';

/**
 * Peer wire format. Every frame is
 *   u32 length (of kind + payload) | u8 kind | payload
 * kinds:
 *   Hello         msgpack {cluster, from, version} - the first frame on a connection, from the dialer
 *   Message       msgpack Raft Message
 *   SnapshotBegin msgpack InstallSnapshot whose snapshot data is empty: its data follows
 *   SnapshotData  raw bytes of that data, in order
 *   SnapshotEnd   msgpack {bytes, crc32} of all the data: the snapshot is complete
 *   Ping/Pong     msgpack {sent} - round-trip time measurement
 * A snapshot's frames may have other frames between them (heartbeats and appends overtake it), and
 * its data is made while it is sent: the sender never holds the whole of it, nor knows its size
 * before the end. One snapshot at a time per connection.
 */
export const FrameKind = { Hello: 1, Message: 2, SnapshotBegin: 3, SnapshotData: 4, Ping: 5, Pong: 6, SnapshotEnd: 7 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];
const KINDS = new Set<number>(Object.values(FrameKind));

export const FRAME_HEADER_BYTES = 5;
/** 2: snapshots streamed as SnapshotBegin/Data/End (1 sent them as chunks of one message). */
export const PROTOCOL_VERSION = 2;

// Plain maps and arrays only: no msgpackr records, so both ends need no shared codec state.
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeFrame(kind: FrameKind, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length + 1, 0);
  out.writeUInt8(kind, 4);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export function packValue(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpackValue(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

/** Why a connection's byte stream was rejected. Each closes the connection and is counted. */
export type FrameRejection = 'oversized' | 'bad_kind' | 'malformed' | 'invalid_message' | 'truncated' | 'protocol';

export class FrameError extends Error {
  override readonly name = 'FrameError';
  readonly reason: FrameRejection;
  constructor(reason: FrameRejection, detail: string) {
    super(`${reason}: ${detail}`);
    this.reason = reason;
  }
}

export interface Frame {
  readonly kind: FrameKind;
  readonly payload: Buffer;
}

/**
 * Incremental frame splitter for one connection. push() bytes as they arrive; it returns the
 * complete frames. Throws FrameError on a frame longer than `maxFrameBytes` or of unknown kind;
 * end() throws if the stream stopped mid-frame.
 */
export class FrameDecoder {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private readonly maxFrameBytes: number;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes;
  }

  push(chunk: Buffer): Frame[] {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.bufferedBytes < FRAME_HEADER_BYTES) break;
      const head = this.peek(FRAME_HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length < 1) throw new FrameError('malformed', 'zero-length frame');
      if (length - 1 > this.maxFrameBytes) throw new FrameError('oversized', `frame of ${length - 1} bytes exceeds ${this.maxFrameBytes}`);
      const kind = head.readUInt8(4);
      if (!KINDS.has(kind)) throw new FrameError('bad_kind', `unknown frame kind ${kind}`);
      if (this.bufferedBytes < 4 + length) break;
      const whole = this.take(4 + length);
      frames.push({ kind: kind as FrameKind, payload: whole.subarray(FRAME_HEADER_BYTES) });
    }
    return frames;
  }

  /** The connection ended: anything left over is a truncated frame. */
  end(): void {
    if (this.bufferedBytes > 0) throw new FrameError('truncated', `connection closed with ${this.bufferedBytes} bytes of an incomplete frame`);
  }

  private peek(n: number): Buffer {
    const first = this.buffered[0] as Buffer;
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.buffered).subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.buffered.length === 1 ? (this.buffered[0] as Buffer) : Buffer.concat(this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return out;
  }
}
