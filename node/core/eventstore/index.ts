export * from './types.ts';
export { commandLimits, decodeCommand, encodeCommand, isExpectedVersion, proposedEvent } from './command.ts';
export { MemoryEventStorage, emptyMeta } from './event-storage.ts';
export type { Direction, EventStorage, StorageView, StoreMeta, StoredEvent } from './event-storage.ts';
export { EMPTY_HASH, chainHash } from './hash.ts';
export { EventStoreStateMachine } from './state-machine.ts';
