import { chainHash } from '../../node/core/eventstore/index.ts';
import type { RecordedEvent, StoreMeta, StoredEvent } from '../../node/core/eventstore/index.ts';
import type { LogIndex } from '../../node/core/raft/index.ts';

/** Builds stored events for `stream`, continuing the given meta; returns them and the next meta. */
export function eventsFor(meta: StoreMeta, stream: string, firstVersion: number, n: number, index: number): { events: StoredEvent[]; meta: StoreMeta } {
  let { hash, nextPosition: position } = meta;
  const events: StoredEvent[] = [];
  for (let i = 0; i < n; i++) {
    const event: RecordedEvent = { id: `${stream}-${firstVersion + i}`, stream, type: 'Happened', data: { n: firstVersion + i, text: 'ünïcode ✓' }, metadata: null, schemaVersion: 1, version: firstVersion + i, position, timestamp: 1_700_000_000_000 };
    const json = JSON.stringify(event);
    hash = chainHash(hash, json);
    events.push({ event, json });
    position++;
  }
  return { events, meta: { applied: index as LogIndex, hash, nextPosition: position } };
}
