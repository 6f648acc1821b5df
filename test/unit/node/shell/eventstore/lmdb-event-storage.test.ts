import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { emptyMeta } from '../../../../../node/core/eventstore/index.ts';
import { LmdbEventStorage } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import type { LmdbEventStorageOptions } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import { StorageError } from '../../../../../node/shell/storage/index.ts';
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
  it('takes a view that holds every write so far, committed or not', async () => {
    const dir = await dirs.make();
    const storage = LmdbEventStorage.open(dir, { flushDelayMs: 3_600_000, maxPendingEvents: 1_000_000 });
    opened.push(storage);
    const a = eventsFor(storage.meta, 'a', 0, 2, 1);
    storage.write(a.events, a.meta);
    const b = eventsFor(a.meta, 'b', 0, 1, 2);
    storage.write(b.events, b.meta);
    // Nothing was committed yet: taking the view hands both writes to lmdb, and the view reads
    // them from its batches while they are being committed.
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

describe('LmdbEventStorage reads while commits land', () => {
  it('read exactly what was written at every moment: nothing missing, nothing twice', async () => {
    const dir = await dirs.make();
    const storage = LmdbEventStorage.open(dir, { flushDelayMs: 1, maxPendingEvents: 2 });
    opened.push(storage);
    const streams = ['a', 'b', 'c'];
    const versions = new Map<string, number>();
    const all: string[] = [];
    let meta = storage.meta;
    const check = (): void => {
      expect(storage.readAll(0, 10_000).map((e) => e.json)).toEqual(all);
      for (const stream of streams) {
        const head = versions.get(stream) ?? -1;
        expect(storage.streamVersion(stream)).toBe(head);
        const forward = storage.readStream(stream, 0, 10_000, 'forward').map((e) => e.event.version);
        expect(forward).toEqual(Array.from({ length: head + 1 }, (_, v) => v));
        const latest = storage.readStream(stream, Number.MAX_SAFE_INTEGER, 3, 'backward').map((e) => e.event.version);
        expect(latest).toEqual([head, head - 1, head - 2].filter((v) => v >= 0));
      }
      const last = all.length - 1;
      if (last >= 0) expect(storage.eventAt(last)?.json).toBe(all[last]);
    };
    for (let i = 0; i < 300; i++) {
      const stream = streams[i % 3] as string;
      const first = (versions.get(stream) ?? -1) + 1;
      const n = 1 + (i % 3);
      const w = eventsFor(meta, stream, first, n, i + 1);
      storage.write(w.events, w.meta);
      meta = w.meta;
      versions.set(stream, first + n - 1);
      all.push(...w.events.map((e) => e.json));
      check();
      // Let commits land between some writes and not others: reads cross every stage of a batch
      // (pending, handed to lmdb, committed but not yet out of the overlay, gone from it).
      if (i % 4 === 0) await new Promise((r) => setImmediate(r));
      if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
      check();
    }
    const view = storage.view();
    expect(view.readAll(0, 10_000).map((e) => e.json)).toEqual(all);
    view.close();
  });
});

describe('LmdbEventStorage after a failed commit', () => {
  it('hands nothing later to lmdb, keeps serving reads, fails the next write, and leaves a prefix on disk', async () => {
    const dir = await dirs.make();
    const storage = LmdbEventStorage.open(dir, { flushDelayMs: 3_600_000, maxPendingEvents: 1 });
    // Make lmdb refuse the first transaction (a full disk, say); count what reaches it.
    const root = (storage as unknown as { root: { batch(fn: () => void): Promise<boolean> } }).root;
    const batch = root.batch.bind(root);
    let handed = 0;
    root.batch = (fn) => {
      handed++;
      return handed === 1 ? Promise.reject(new Error('No space left on device')) : batch(fn);
    };
    const a = eventsFor(storage.meta, 'a', 0, 1, 1);
    storage.write(a.events, a.meta);
    const b = eventsFor(a.meta, 'a', 1, 1, 2);
    storage.write(b.events, b.meta);
    await new Promise((r) => setTimeout(r, 20));
    expect(handed).toBe(1);
    expect(storage.readAll(0, 10).map((e) => e.json)).toEqual([...a.events, ...b.events].map((e) => e.json));
    const c = eventsFor(b.meta, 'a', 2, 1, 3);
    expect(() => {
      storage.write(c.events, c.meta);
    }).toThrow(StorageError);
    await expect(storage.close()).rejects.toThrow(StorageError);
    const reopened = LmdbEventStorage.open(dir);
    opened.push(reopened);
    expect(reopened.meta).toEqual(emptyMeta);
    expect(reopened.readAll(0, 10)).toEqual([]);
  });
});
