import { afterAll, afterEach } from '@jest/globals';
import { LmdbEventStorage } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';
import { describeEventStorageContract } from '../../core/eventstore/event-storage-contract.ts';

const dirs = new TempDirs();
const opened: LmdbEventStorage[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});
afterAll(() => dirs.cleanup());

describeEventStorageContract('LmdbEventStorage', async () => {
  const dir = await dirs.make();
  let storage = LmdbEventStorage.open(dir);
  opened.push(storage);
  return {
    storage,
    async reopen() {
      await storage.close();
      opened.splice(opened.indexOf(storage), 1);
      storage = LmdbEventStorage.open(dir);
      opened.push(storage);
      return storage;
    },
  };
});
