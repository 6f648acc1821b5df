export { LmdbEventStorage, SYNCHRONOUS_COMMIT_NO_FLUSH } from './lmdb-event-storage.ts';
