export { EventraftClient } from './client.ts';
export type { AggregateState, AppendResult, ClientOptions, CommandResult, Consistency, NewEvent, RetryOptions, StreamPage } from './client.ts';
export {
  DomainRuleViolationError,
  EventraftError,
  IdempotencyConflictError,
  InvalidRequestError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
  WrongExpectedVersionError,
  errorFor,
  isRetryable,
} from './errors.ts';
export type { ProblemBody } from './errors.ts';
export { parseEventStream } from './sse.ts';
export type { SseMessage } from './sse.ts';
