export { AggregateStates } from './aggregate-states.ts';
export type { AggregateStatesOptions } from './aggregate-states.ts';
export { CommandService, ConcurrencyConflictError, DomainRuleViolationError, IdempotencyKeyReusedError, InvalidCommandError, UnknownAggregateTypeError, UnknownCommandError } from './command-service.ts';
export type { CommandResult, CommandServiceOptions } from './command-service.ts';
export { DomainLoadError, DomainRegistry } from './domain-registry.ts';
export type { AggregateView } from './domain-registry.ts';
export { derivedEventId } from './event-ids.ts';
