import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { emptyMeta } from '../../../../../node/core/eventstore/index.ts';
import { DiskFullError, LmdbEventStorage } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import type { LmdbEventStorageOptions } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import { StorageError } from '../../../../../node/shell/storage/index.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';
import { describeEventStorageContract, eventsFor } from '../../core/eventstore/event-storage-contract.ts';

const dirs = new TempDirs();
const opened: LmdbEventStorage[] = [];

/** What `fn` throws (undefined if it returns). */
function catchError(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
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
    const root = (storage as unknown as { gen: { root: { batch(fn: () => void): Promise<boolean> } } }).gen.root;
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

describe('LmdbEventStorage restore into a new environment', () => {
  /** The entries of the store's directory, once every replaced environment has been removed. */
  async function settledEntries(dir: string, expected: readonly string[]): Promise<string[]> {
    for (let i = 0; i < 200; i++) {
      const entries = (await readdir(dir)).sort();
      if (JSON.stringify(entries) === JSON.stringify([...expected].sort())) return entries;
      await new Promise((r) => setTimeout(r, 10));
    }
    return (await readdir(dir)).sort();
  }

  function openStore(dir: string, options: Partial<LmdbEventStorageOptions> = {}): LmdbEventStorage {
    const storage = LmdbEventStorage.open(dir, options);
    opened.push(storage);
    return storage;
  }

  /** A store restoring ~1 KB per transaction, with three events of stream `a` committed and synced. */
  async function durableStoreOfThree(options: Partial<LmdbEventStorageOptions> = {}): Promise<{ dir: string; storage: LmdbEventStorage; a: ReturnType<typeof eventsFor> }> {
    const dir = await dirs.make();
    const storage = openStore(dir, { restoreTransactionBytes: 1_024, ...options });
    const a = eventsFor(storage.meta, 'a', 0, 3, 1);
    storage.write(a.events, a.meta);
    await storage.makeDurable();
    return { dir, storage, a };
  }

  /** A store with `n` events of stream `a`, written and closed. */
  async function closedStoreOf(n: number): Promise<{ dir: string; a: ReturnType<typeof eventsFor> }> {
    const dir = await dirs.make();
    const storage = openStore(dir);
    const a = eventsFor(storage.meta, 'a', 0, n, 1);
    storage.write(a.events, a.meta);
    await closeStore(storage);
    return { dir, a };
  }

  async function closeStore(storage: LmdbEventStorage): Promise<void> {
    opened.splice(opened.indexOf(storage), 1);
    await storage.close();
  }

  it('writes the new state in many transactions beside the old one, then switches CURRENT and removes the old environment', async () => {
    const { dir, storage } = await durableStoreOfThree();
    const fresh = eventsFor(emptyMeta, 'z', 0, 200, 40);
    storage.replace(fresh.events, fresh.meta);
    expect(await readFile(path.join(dir, 'CURRENT'), 'utf8')).toBe('g1\n');
    expect(await settledEntries(dir, ['CURRENT', 'g1'])).toEqual(['CURRENT', 'g1']);
    // One transaction per ~1 KB of event JSON, and one for the meta: never the whole store at once.
    const jsonBytes = fresh.events.reduce((n, e) => n + e.json.length, 0);
    const gen = (storage as unknown as { gen: { root: { getStats(): { lastTxnId: number } } } }).gen;
    expect(gen.root.getStats().lastTxnId).toBeGreaterThanOrEqual(Math.floor(jsonBytes / 1_024));
    expect(storage.readAll(0, 1_000).map((e) => e.json)).toEqual(fresh.events.map((e) => e.json));
    expect(storage.streamVersion('a')).toBe(-1);
    await closeStore(storage);
    const reopened = openStore(dir);
    expect(reopened.meta).toEqual(fresh.meta);
    expect(reopened.readAll(0, 1_000).map((e) => e.json)).toEqual(fresh.events.map((e) => e.json));
    expect(reopened.positionOf('a-0')).toBeUndefined();
  });

  it('changes nothing when the events fail on the way (a refused snapshot), and removes what it wrote', async () => {
    const { dir, storage, a } = await durableStoreOfThree();
    const fresh = eventsFor(emptyMeta, 'z', 0, 100, 40);
    const refusal = new Error('event store snapshot does not match its hash; refusing it');
    const failing = (function* () {
      yield* fresh.events.slice(0, 90); // several transactions committed before the failure
      throw refusal;
    })();
    expect(() => {
      storage.replace(failing, fresh.meta);
    }).toThrow(refusal);
    expect(storage.meta).toEqual(a.meta);
    expect(storage.readAll(0, 10).map((e) => e.json)).toEqual(a.events.map((e) => e.json));
    expect(storage.positionOf('z-0')).toBeUndefined();
    expect(await settledEntries(dir, ['CURRENT', 'g0'])).toEqual(['CURRENT', 'g0']);
    // The store goes on: writes, and a later restore (into a new name: g1 may still be closing).
    const b = eventsFor(a.meta, 'a', 3, 1, 2);
    storage.write(b.events, b.meta);
    await storage.makeDurable();
    storage.replace(fresh.events, fresh.meta);
    expect(await readFile(path.join(dir, 'CURRENT'), 'utf8')).toBe('g2\n');
    await closeStore(storage);
    const reopened = openStore(dir);
    expect(reopened.meta).toEqual(fresh.meta);
  });

  // A full volume cannot be made here; `freeBytes` stands in for statfs. (On a real full tmpfs,
  // lmdb's mapped writes fail as "Input/output error", which is why the store checks first.)
  it('stops a restore when the volume runs short of room, says so, and changes nothing', async () => {
    // Room for two transactions, then the volume has filled: 3 KiB free, under the 4 KiB reserve.
    let checks = 0;
    const { dir, storage, a } = await durableStoreOfThree({ freeBytes: () => (++checks <= 2 ? 2 ** 30 : 3 * 1_024) });
    const fresh = eventsFor(emptyMeta, 'z', 0, 100, 40);
    const error = catchError(() => {
      storage.replace(fresh.events, fresh.meta);
    });
    expect(error).toBeInstanceOf(DiskFullError);
    expect(String(error)).toMatch(new RegExp(`the volume of ${dir} has 0 MiB free; .*Nothing was changed. Expand the volume`));
    expect(checks).toBe(3);
    expect(storage.meta).toEqual(a.meta);
    expect(storage.readAll(0, 10).map((e) => e.json)).toEqual(a.events.map((e) => e.json));
    expect(await settledEntries(dir, ['CURRENT', 'g0'])).toEqual(['CURRENT', 'g0']);
  });

  it('reports a write that fails with the volume nearly full as a full volume, and as a storage failure otherwise', async () => {
    // A key lmdb cannot store makes the write fail (as a full volume makes lmdb's writes fail).
    const unstorable = eventsFor(emptyMeta, 'z', 0, 1, 40);
    const events = unstorable.events.map((e) => ({ ...e, event: { ...e.event, id: 'x'.repeat(5_000) } }));
    let free = 2 ** 30;
    const { storage, a } = await durableStoreOfThree({ freeBytes: () => free });
    const plain = catchError(() => {
      storage.replace(events, unstorable.meta);
    });
    expect(plain).toBeInstanceOf(StorageError);
    expect(plain).not.toBeInstanceOf(DiskFullError);
    // The check before the transaction passes; the volume fills while it is written.
    let checked = false;
    free = 2 ** 30;
    const filling = (function* () {
      checked = true;
      free = 0;
      yield* events;
    })();
    const full = catchError(() => {
      storage.replace(filling, unstorable.meta);
    });
    expect(checked).toBe(true);
    expect(full).toBeInstanceOf(DiskFullError);
    // The failure itself is kept as the cause (compared by message: lmdb's errors come from another realm under jest).
    expect(String((full as Error).cause)).toMatch(/larger than the maximum key size/);
    expect(storage.meta).toEqual(a.meta);
  });

  it('lets a view taken before a replace read the old state to its end; the old environment goes when it closes', async () => {
    const dir = await dirs.make();
    const storage = openStore(dir);
    const a = eventsFor(storage.meta, 'a', 0, 5, 1);
    storage.write(a.events, a.meta);
    await storage.makeDurable();
    const view = storage.view();
    const fresh = eventsFor(emptyMeta, 'z', 0, 2, 40);
    storage.replace(fresh.events, fresh.meta);
    expect(view.readAll(0, 10).map((e) => e.json)).toEqual(a.events.map((e) => e.json));
    expect(storage.readAll(0, 10).map((e) => e.json)).toEqual(fresh.events.map((e) => e.json));
    await new Promise((r) => setTimeout(r, 50));
    expect((await readdir(dir)).sort()).toEqual(['CURRENT', 'g0', 'g1']);
    view.close();
    expect(await settledEntries(dir, ['CURRENT', 'g1'])).toEqual(['CURRENT', 'g1']);
  });

  it('at open, removes what a crashed restore left and keeps the state CURRENT names', async () => {
    const { dir, a } = await closedStoreOf(2);
    // A restore that crashed before switching CURRENT: an environment half written, a temp file.
    await mkdir(path.join(dir, 'g7'));
    await writeFile(path.join(dir, 'g7', 'data.mdb'), 'half a store');
    await writeFile(path.join(dir, 'CURRENT.tmp'), 'g7');
    const reopened = openStore(dir);
    expect(reopened.meta).toEqual(a.meta);
    expect((await readdir(dir)).sort()).toEqual(['CURRENT', 'g0']);
  });

  it('moves a store from before generations (lmdb files in the directory itself) into g0', async () => {
    const { dir, a } = await closedStoreOf(4);
    await rename(path.join(dir, 'g0', 'data.mdb'), path.join(dir, 'data.mdb'));
    await rename(path.join(dir, 'g0', 'lock.mdb'), path.join(dir, 'lock.mdb'));
    await rm(path.join(dir, 'g0'), { recursive: true });
    await rm(path.join(dir, 'CURRENT'));
    const reopened = openStore(dir);
    expect(reopened.meta).toEqual(a.meta);
    expect(reopened.readAll(0, 10).map((e) => e.json)).toEqual(a.events.map((e) => e.json));
    expect((await readdir(dir)).sort()).toEqual(['CURRENT', 'g0']);
  });

  it('refuses to open a directory whose CURRENT is missing while generations exist, or names one that is missing', async () => {
    const dir = await dirs.make();
    await closeStore(openStore(dir));
    await rm(path.join(dir, 'CURRENT'));
    await mkdir(path.join(dir, 'g3'));
    expect(() => LmdbEventStorage.open(dir)).toThrow(/no CURRENT file but holds g3/);
    await writeFile(path.join(dir, 'CURRENT'), 'g5\n');
    expect(() => LmdbEventStorage.open(dir)).toThrow(/CURRENT names g5, which is missing/);
    await writeFile(path.join(dir, 'CURRENT'), '../elsewhere\n');
    expect(() => LmdbEventStorage.open(dir)).toThrow(StorageError);
  });
});
