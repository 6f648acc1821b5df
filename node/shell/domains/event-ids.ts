import { createHash } from 'node:crypto';

/**
 * A UUID-shaped event id derived from an idempotency key, the stream and the event's place in the
 * request: a retried request (same key) proposes the same ids, and the store appends it once.
 */
export function derivedEventId(key: string, stream: string, i: number): string {
  const h = createHash('sha256').update(`${key}\n${stream}\n${i}`).digest('hex');
  const variant = ((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}
