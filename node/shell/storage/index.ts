export type { LogStore, PersistBatch } from './log-store.ts';
export { DiskLogStore } from './disk-log-store.ts';
export type { DiskLogStoreOptions, RecoveryReport } from './disk-log-store.ts';
export { MemoryLogStore } from './memory-log-store.ts';
export { CorruptDataError, StorageError } from './errors.ts';
export { fsyncDirSync, replaceFileSync, volumeSpace } from './fs-util.ts';
