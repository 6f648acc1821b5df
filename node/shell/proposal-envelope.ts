/**
 * How a client request travels in a log entry: the request id (for idempotency and to find the
 * waiting caller) and the command bytes.  Layout: u8 version (1) | u16 id length | id | command.
 */
const VERSION = 1;
const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Envelopes are cut from shared slabs: an entry's data lives in the in-memory log until the next
 * compaction (seconds), so its buffer is promoted and then freed by a mark-compact, on the main
 * thread. One ArrayBuffer per envelope made that thousands of frees per mark-compact; a slab is
 * one. Slabs go in log order, as the entries that view them are compacted away.
 */
const SLAB_BYTES = 64 * 1024;
let slab = new ArrayBuffer(0);
let slabUsed = 0;

function allocate(bytes: number): Uint8Array {
  if (bytes > SLAB_BYTES / 8) return new Uint8Array(bytes);
  if (slabUsed + bytes > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, bytes);
  slabUsed += bytes;
  return out;
}

export function encodeProposal(requestId: string, command: Uint8Array): Uint8Array {
  const id = enc.encode(requestId);
  if (id.length > 0xffff) throw new RangeError('request id too long');
  const out = allocate(3 + id.length + command.length);
  out[0] = VERSION;
  out[1] = id.length >> 8;
  out[2] = id.length & 0xff;
  out.set(id, 3);
  out.set(command, 3 + id.length);
  return out;
}

export function decodeProposal(data: Uint8Array): { requestId: string; command: Uint8Array } | undefined {
  if (data.length < 3 || data[0] !== VERSION) return undefined;
  const idLength = ((data[1] as number) << 8) | (data[2] as number);
  if (3 + idLength > data.length) return undefined;
  return { requestId: dec.decode(data.subarray(3, 3 + idLength)), command: data.subarray(3 + idLength) };
}

/**
 * The id a log entry carries for one attempt to replicate a request: the request id, a NUL, and a
 * tag unique to the attempt. A client that retries while its first attempt is still in flight
 * puts two entries in the log; the attempt id lets the node answer the retry with the outcome of
 * its own entry, never with the first attempt's (which may be a refusal while the retry, applied
 * later, succeeds). NUL cannot occur in the request ids used (HTTP header values, stream names),
 * and nodes that predate attempt ids pass the whole string to the state machine, which ignores it.
 */
export function attemptId(requestId: string, attempt: string): string {
  return `${requestId}\u0000${attempt}`;
}

/** The request id of an attempt id (an id without an attempt tag is its own request id). */
export function requestIdOf(id: string): string {
  const at = id.lastIndexOf('\u0000');
  return at < 0 ? id : id.slice(0, at);
}
