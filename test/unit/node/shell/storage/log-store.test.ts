import { afterAll, afterEach } from '@jest/globals';
import { DiskLogStore, MemoryLogStore } from '../../../../../node/shell/storage/index.ts';
import type { LogStore } from '../../../../../node/shell/storage/index.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';
import { describeLogStoreContract } from './log-store-contract.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());
/** Disk stores a test left open (the last reopen), closed so no file handle leaks. */
const opened: LogStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close().catch(() => undefined)));
});

describeLogStoreContract('MemoryLogStore', () => {
  const store = new MemoryLogStore();
  return Promise.resolve({ store, reopen: () => Promise.resolve(store) });
});

describeLogStoreContract('DiskLogStore', async () => {
  const dir = await dirs.make();
  // Small segments so that rotation and compaction across segments are exercised.
  const options = { segmentBytes: 4096 };
  let store: LogStore = await DiskLogStore.open(dir, options);
  opened.push(store);
  const fixture = {
    store,
    async reopen(): Promise<LogStore> {
      await store.close();
      store = await DiskLogStore.open(dir, options);
      opened.push(store);
      return store;
    },
  };
  return fixture;
});
