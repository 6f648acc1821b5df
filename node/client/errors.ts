/** A problem document as the node sends it (application/problem+json). */
export interface ProblemBody {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly code?: string;
  readonly detail?: string;
  readonly [extra: string]: unknown;
}

/** Any failure answered by a node, with its HTTP status and stable `code`. */
export class EventraftError extends Error {
  override readonly name: string = 'EventraftError';
  readonly status: number;
  readonly code: string;
  readonly problem: ProblemBody;
  constructor(status: number, problem: ProblemBody, options?: ErrorOptions) {
    super(`${problem.code ?? 'Error'} (${status}): ${problem.detail ?? problem.title ?? 'request failed'}`, options);
    this.status = status;
    this.code = problem.code ?? 'Error';
    this.problem = problem;
  }
}

/** The stream was not at the expected version; nothing was appended. */
export class WrongExpectedVersionError extends EventraftError {
  override readonly name = 'WrongExpectedVersionError';
  get stream(): string {
    return this.problem.stream as string;
  }
  get expected(): unknown {
    return this.problem.expected;
  }
  get actual(): number {
    return this.problem.actual as number;
  }
}

/** A command broke a domain rule (HTTP 422); `code` is the domain's own code. */
export class DomainRuleViolationError extends EventraftError {
  override readonly name = 'DomainRuleViolationError';
}

/** Event ids or an Idempotency-Key were used before by a different append or command. */
export class IdempotencyConflictError extends EventraftError {
  override readonly name = 'IdempotencyConflictError';
}

/** The request is wrong (400, 413) and was not applied: fix it, do not retry it. */
export class InvalidRequestError extends EventraftError {
  override readonly name = 'InvalidRequestError';
}

/** No such aggregate type, command, aggregate, projection or row (404). */
export class NotFoundError extends EventraftError {
  override readonly name = 'NotFoundError';
}

/** The admin token is missing or wrong (401). */
export class UnauthorizedError extends EventraftError {
  override readonly name = 'UnauthorizedError';
}

/**
 * Every attempt failed with a retryable error (no leader, overloaded, network, timeout) and the
 * retry budget ran out. For writes the outcome may be unknown; retrying the same call (same event
 * ids or Idempotency-Key) is safe: it applies at most once. `cause` is the last failure.
 */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
  readonly attempts: number;
  constructor(message: string, attempts: number, options?: ErrorOptions) {
    super(message, options);
    this.attempts = attempts;
  }
}

/** Maps a node's problem answer to the most specific error class. */
export function errorFor(status: number, problem: ProblemBody): EventraftError {
  const code = problem.code ?? '';
  if (code === 'WrongExpectedVersion') return new WrongExpectedVersionError(status, problem);
  if (status === 422) return new DomainRuleViolationError(status, problem);
  if (code === 'EventIdConflict' || code === 'IdempotencyKeyReused') return new IdempotencyConflictError(status, problem);
  if (status === 400 || status === 413) return new InvalidRequestError(status, problem);
  if (status === 404) return new NotFoundError(status, problem);
  if (status === 401) return new UnauthorizedError(status, problem);
  return new EventraftError(status, problem);
}

/**
 * Whether another attempt may succeed and is safe: the node did not apply the request, or the
 * request is idempotent (writes carry fixed event ids or an Idempotency-Key).
 */
export function isRetryable(status: number, code: string): boolean {
  if (status === 503 || status === 504 || status === 421 || status === 502) return true;
  return status === 409 && code === 'ConcurrencyConflict';
}
