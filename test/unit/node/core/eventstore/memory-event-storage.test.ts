import { MemoryEventStorage } from '../../../../../node/core/eventstore/index.ts';
import { describeEventStorageContract } from './event-storage-contract.ts';

describeEventStorageContract('MemoryEventStorage', () => {
  const storage = new MemoryEventStorage();
  return Promise.resolve({ storage, reopen: () => Promise.resolve(storage) });
});
