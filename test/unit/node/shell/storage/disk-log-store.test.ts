import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { appendFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeMembership } from '../../../../../node/core/raft/index.ts';
import type { LogIndex, NodeId, Term } from '../../../../../node/core/raft/index.ts';
import { CorruptDataError, DiskLogStore } from '../../../../../node/shell/storage/index.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';
import { entry, hs, payloads } from './log-store-contract.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());
/** Every store a test opened, closed after it (closing twice is harmless). */
const opened: DiskLogStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close().catch(() => undefined)));
});
async function openStore(dir: string, options = {}): Promise<DiskLogStore> {
  const store = await DiskLogStore.open(dir, options);
  opened.push(store);
  return store;
}
const membership = makeMembership(['a'] as NodeId[]);
const enc = new TextEncoder();

async function storeWith(n: number, options = {}): Promise<{ dir: string; store: DiskLogStore }> {
  const dir = await dirs.make();
  const store = await openStore(dir, options);
  for (let i = 1; i <= n; i++) await store.persist({ hardState: hs(1, 'a', i - 1), entries: [entry(i, 1)] });
  return { dir, store };
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(path.join(dir, 'log'))).sort().map((n) => path.join(dir, 'log', n));
}

describe('DiskLogStore recovery', () => {
  it('discards a torn last record (a batch whose write was cut short) and keeps everything before it', async () => {
    const { dir, store } = await storeWith(5);
    await store.close();
    const [file] = await segmentFiles(dir);
    const size = (await stat(file as string)).size;
    await truncate(file as string, size - 3); // the last record loses its tail
    const reopened = await openStore(dir);
    expect(payloads(reopened)).toEqual(['e1', 'e2', 'e3', 'e4']);
    // The file was repaired: appending and reopening works.
    await reopened.persist({ entries: [entry(5, 1, 'again')] });
    await reopened.close();
    expect(payloads(await openStore(dir))).toEqual(['e1', 'e2', 'e3', 'e4', 'again']);
  });

  it('discards garbage (e.g. zeros from a crash mid-write) after the last good record', async () => {
    const { dir, store } = await storeWith(3);
    await store.close();
    const [file] = await segmentFiles(dir);
    await appendFile(file as string, Buffer.alloc(4096));
    expect(payloads(await openStore(dir))).toEqual(['e1', 'e2', 'e3']);
  });

  it('refuses to start when a record in the middle is corrupt', async () => {
    const { dir, store } = await storeWith(5);
    await store.close();
    const [file] = await segmentFiles(dir);
    const buf = await readFile(file as string);
    buf[40] = (buf[40] as number) ^ 0xff; // flip bits inside the second record
    await writeFile(file as string, buf);
    await expect(DiskLogStore.open(dir)).rejects.toThrow(CorruptDataError);
    await expect(DiskLogStore.open(dir)).rejects.toThrow(/corrupt record at byte \d+ .* refusing to start/);
  });

  it('refuses to start when an older segment is damaged, even at its end', async () => {
    const { dir, store } = await storeWith(60, { segmentBytes: 512 });
    await store.close();
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(2);
    const first = files[0] as string;
    await truncate(first, (await stat(first)).size - 2);
    await expect(DiskLogStore.open(dir)).rejects.toThrow(CorruptDataError);
  });

  it('keeps the last two snapshots and deletes segments the newest snapshot covers', async () => {
    const { dir, store } = await storeWith(100, { segmentBytes: 512 });
    const before = (await segmentFiles(dir)).length;
    for (const at of [40, 70, 95]) await store.saveSnapshot(at as LogIndex, membership, enc.encode(`s${at}`), at as LogIndex);
    const snaps = (await readdir(path.join(dir, 'snap'))).sort();
    expect(snaps).toHaveLength(2);
    expect(snaps[1]).toMatch(/^snap-000000000000005f-/); // 95
    expect((await segmentFiles(dir)).length).toBeLessThan(before);
    await store.close();
    const reopened = await openStore(dir);
    expect(reopened.snapshot().metadata.index).toBe(95);
    expect(payloads(reopened)).toEqual(['e96', 'e97', 'e98', 'e99', 'e100']);
    expect(reopened.initialState().hardState).toEqual(hs(1, 'a', 99));
  });

  it('falls back to the previous snapshot when the newest is corrupt, if the log still covers it', async () => {
    const { dir, store } = await storeWith(30);
    await store.saveSnapshot(10 as LogIndex, membership, enc.encode('s10'), 0 as LogIndex);
    await store.saveSnapshot(20 as LogIndex, membership, enc.encode('s20'), 0 as LogIndex);
    await store.close();
    const newest = path.join(dir, 'snap', (await readdir(path.join(dir, 'snap'))).sort()[1] as string);
    await truncate(newest, 20);
    const reopened = await openStore(dir);
    expect(reopened.snapshot().metadata.index).toBe(10);
    expect(reopened.lastIndex()).toBe(30);
  });

  it('refuses to start when the only snapshot the compacted log depends on is corrupt', async () => {
    const { dir, store } = await storeWith(30, { segmentBytes: 256 });
    await store.saveSnapshot(25 as LogIndex, membership, enc.encode('s25'), 25 as LogIndex);
    await store.close();
    const [snap] = await readdir(path.join(dir, 'snap'));
    const file = path.join(dir, 'snap', snap as string);
    const buf = await readFile(file);
    buf[buf.length - 10] = (buf[buf.length - 10] as number) ^ 1;
    await writeFile(file, buf);
    await expect(DiskLogStore.open(dir)).rejects.toThrow(/checksum/);
  });

  it('drops an application snapshot superseded by a leader snapshot installed while it was written', async () => {
    const { dir, store } = await storeWith(20);
    // The file write happens outside the store's serialised section, so the install queued
    // right after it is recorded first; the older application snapshot must then be dropped.
    const saving = store.saveSnapshot(15 as LogIndex, membership, enc.encode('app@15'), 15 as LogIndex);
    const installed = { metadata: { index: 30 as LogIndex, term: 2 as Term, membership }, data: enc.encode('leader@30') };
    const installing = store.persist({ hardState: hs(2, '', 30), entries: [], snapshot: installed });
    await expect(saving).resolves.toBeUndefined();
    await installing;
    await store.persist({ entries: [entry(31, 2)] });
    await store.close();
    for (const s of [store, await openStore(dir)]) {
      expect(s.snapshot().metadata).toEqual(installed.metadata);
      expect(Buffer.concat([...s.snapshotData()]).toString()).toBe('leader@30');
      expect(s.snapshot().data).toHaveLength(0); // the data stays on disk
      expect(payloads(s)).toEqual(['e31']);
    }
  });

  it('reports every fsync duration', async () => {
    const seen: number[] = [];
    const { store } = await storeWith(0, { onFsync: (s: number) => seen.push(s) });
    await store.persist({ entries: [entry(1, 1)] });
    await store.persist({ entries: [entry(2, 1), entry(3, 1)] });
    expect(seen).toHaveLength(2); // one per batch, however many entries
    expect(seen.every((s) => s >= 0)).toBe(true);
  });
});
