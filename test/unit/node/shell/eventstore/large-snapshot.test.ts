import { afterAll, describe, expect, it } from '@jest/globals';
import { EMPTY_HASH, EventStoreStateMachine, chainHash } from '../../../../../node/core/eventstore/index.ts';
import type { RecordedEvent } from '../../../../../node/core/eventstore/index.ts';
import type { LogIndex } from '../../../../../node/core/raft/index.ts';
import { LmdbEventStorage } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

/** V8's longest string (2^29 - 24 characters): a snapshot decoded as one string must stay below it. */
const MAX_STRING_LENGTH = 2 ** 29 - 24;

describe('restoring a large event store snapshot', () => {
  it('restores a snapshot longer than a JavaScript string can be, into lmdb, with the same hash', async () => {
    // 135,000 events of ~4 KB: about 570 MB, past V8's string limit (~537 million characters).
    const count = 135_000;
    const value = 'v'.repeat(4_000);
    const parts: Buffer[] = [];
    let hash = EMPTY_HASH;
    for (let position = 0; position < count; position++) {
      const stream = `s${position % 1000}`;
      const event: RecordedEvent = { id: `e${position}`, stream, type: 'Filled', data: { value }, metadata: null, schemaVersion: 1, version: Math.floor(position / 1000), position, timestamp: 1_700_000_000_000 };
      const json = JSON.stringify(event);
      hash = chainHash(hash, json);
      parts.push(Buffer.from(`${json}\n`));
    }
    const meta = { applied: 7 as LogIndex, hash, nextPosition: count };
    const bytes = Buffer.concat([Buffer.from(`${JSON.stringify({ ...meta, refused: 0 })}\n`), ...parts]);
    parts.length = 0;
    expect(bytes.length).toBeGreaterThan(MAX_STRING_LENGTH);

    const storage = LmdbEventStorage.open(await dirs.make());
    try {
      const sm = new EventStoreStateMachine(storage);
      sm.restore(7 as LogIndex, bytes);
      expect(sm.appliedIndex).toBe(7);
      expect(sm.stateHash).toBe(hash);
      expect(sm.nextPosition).toBe(count);
      expect(sm.reader.streamVersion('s999')).toBe(134);
      expect(sm.reader.eventAt(count - 1)?.event).toMatchObject({ id: `e${count - 1}`, stream: 's999', version: 134 });
      expect(sm.reader.positionOf('e12345')).toBe(12_345);
    } finally {
      await storage.close();
    }
  }, 180_000);
});
