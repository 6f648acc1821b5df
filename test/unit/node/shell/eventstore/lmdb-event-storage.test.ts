import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { emptyMeta } from '../../../../../node/core/eventstore/index.ts';
import { LmdbEventStorage } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import type { LmdbEventStorageOptions } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';
import { describeEventStorageContract, eventsFor } from '../../core/eventstore/event-storage-contract.ts';

const dirs = new TempDirs();
const opened: LmdbEventStorage[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});
afterAll(() => dirs.cleanup());

// Reads merge writes still pending in memory with those committed to lmdb: the contract must hold
// with everything pending, everything committed at once, and a mix of both.
const modes: Record<string, Partial<LmdbEventStorageOptions>> = {
  'writes pending until close': { flushDelayMs: 3_600_000, maxPendingEvents: 1_000_000 },
  'every write committed at once': { maxPendingEvents: 1 },
  'a commit every 3 events': { flushDelayMs: 3_600_000, maxPendingEvents: 3 },
};

for (const [mode, options] of Object.entries(modes)) {
  describeEventStorageContract(`LmdbEventStorage, ${mode}`, async () => {
    const dir = await dirs.make();
    let storage = LmdbEventStorage.open(dir, options);
    opened.push(storage);
    return {
      storage,
      async reopen() {
        await storage.close();
        opened.splice(opened.indexOf(storage), 1);
        storage = LmdbEventStorage.open(dir, options);
        opened.push(storage);
        return storage;
      },
    };
  });
}

describe('LmdbEventStorage write-behind', () => {
  it('flushes before taking a view, which reads lmdb alone', async () => {
    const dir = await dirs.make();
    const storage = LmdbEventStorage.open(dir, { flushDelayMs: 3_600_000, maxPendingEvents: 1_000_000 });
    opened.push(storage);
    const a = eventsFor(storage.meta, 'a', 0, 2, 1);
    storage.write(a.events, a.meta);
    const b = eventsFor(a.meta, 'b', 0, 1, 2);
    storage.write(b.events, b.meta);
    // Nothing was committed yet: the view sees both writes only because taking it flushed them.
    const view = storage.view();
    expect(view.meta).toEqual(b.meta);
    expect(view.readAll(0, 10).map((e) => e.json)).toEqual([...a.events, ...b.events].map((e) => e.json));
    view.close();
  });

  it('drops pending writes on replace, so a restore is never mixed with what it replaced', async () => {
    const dir = await dirs.make();
    let storage = LmdbEventStorage.open(dir, { flushDelayMs: 3_600_000, maxPendingEvents: 1_000_000 });
    opened.push(storage);
    const a = eventsFor(storage.meta, 'a', 0, 2, 1);
    storage.write(a.events, a.meta);
    const restored = eventsFor(emptyMeta, 'r', 0, 1, 9);
    storage.replace(restored.events, restored.meta);
    expect(storage.streamVersion('a')).toBe(-1);
    expect(storage.readAll(0, 10).map((e) => e.json)).toEqual(restored.events.map((e) => e.json));
    await storage.close();
    opened.splice(opened.indexOf(storage), 1);
    storage = LmdbEventStorage.open(dir);
    opened.push(storage);
    expect(storage.meta).toEqual(restored.meta);
    expect(storage.positionOf('a-0')).toBeUndefined();
  });
});
