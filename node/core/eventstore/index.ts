export * from './types.ts';
export { commandLimits, decodeCommand, encodeCommand, proposedEvent } from './command.ts';
export { MemoryEventStorage, byIndex, emptyMeta, withinBytes } from './event-storage.ts';
export type { Direction, EventStorage, RefusalChanges, RefusedAppend, StorageView, StoreMeta, StoredEvent } from './event-storage.ts';
export { EMPTY_HASH, chainHash } from './hash.ts';
export { EventStoreStateMachine, REMEMBERED_REFUSALS } from './state-machine.ts';
export type { EventStoreOptions } from './state-machine.ts';
export { aggregateStream, latestVersion, upcast } from './domain.ts';
export type { Decision, DomainEvent, DomainModule, EventVersion, JsonSchema, ProjectionDefinition, ProjectionRows } from './domain.ts';
