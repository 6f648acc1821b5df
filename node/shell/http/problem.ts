import type { ServerResponse } from 'node:http';
import {
  ClusterChangeRejectedError,
  NoLeaderError,
  NotLeaderError,
  OverloadedError,
  ProposalLostError,
  ProposalTimeoutError,
  ReadNotConfirmedError,
  ShuttingDownError,
} from '../errors.ts';
import {
  ConcurrencyConflictError,
  DomainRuleViolationError,
  IdempotencyKeyReusedError,
  InvalidCommandError,
  UnknownAggregateTypeError,
  UnknownCommandError,
} from '../domains/index.ts';
import { ProjectionFailedError, ProjectionLaggingError, UnknownProjectionError } from '../projections/index.ts';

/** An RFC 9457 problem document with our stable machine-readable `code`. */
export interface Problem {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail?: string;
  /** Seconds after which a retry makes sense (sent as Retry-After). */
  readonly retryAfter?: number;
  readonly extra?: Record<string, unknown>;
}

export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  readonly problem: Problem;
  constructor(problem: Problem) {
    // A problem is an answer to the client (a version conflict, a bad request), never a fault to
    // debug: skip capturing a stack (~9 µs each here, on every conflicting append).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(problem.detail ?? problem.title);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.problem = problem;
  }
}

/** Answers with the problem document (on node's response, so that both HTTP paths share it). */
export function sendProblem(res: ServerResponse, p: Problem): void {
  if (p.retryAfter !== undefined) res.setHeader('Retry-After', String(p.retryAfter));
  sendJson(res, p.status, JSON.stringify({ type: `https://eventraft.io/problems/${p.code}`, title: p.title, status: p.status, code: p.code, ...(p.detail === undefined ? {} : { detail: p.detail }), ...p.extra }), 'application/problem+json');
}

/** Sends a JSON text with the headers express's res.json() would set (no ETag: see app.ts). */
export function sendJson(res: ServerResponse, status: number, json: string, type = 'application/json'): void {
  res.statusCode = status;
  res.setHeader('Content-Type', `${type}; charset=utf-8`);
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

/**
 * The one place that maps failures to HTTP. Anything unknown is a 500 and gets logged by the
 * caller; the client sees no internals.
 */
export function toProblem(err: unknown): Problem | undefined {
  if (err instanceof HttpProblem) return err.problem;
  if (err instanceof NoLeaderError) return { status: 503, code: 'NoLeader', title: 'No leader', detail: err.message, retryAfter: 1 };
  if (err instanceof NotLeaderError) {
    return { status: 421, code: 'NotLeader', title: 'Not the leader', detail: err.message, extra: { leader: err.leaderHint ?? null } };
  }
  if (err instanceof OverloadedError) return { status: 503, code: 'Overloaded', title: 'Leader busy', detail: err.message, retryAfter: 1 };
  if (err instanceof ProposalLostError) return { status: 503, code: 'ProposalLost', title: 'Write did not commit', detail: err.message, retryAfter: 1 };
  if (err instanceof ProposalTimeoutError) {
    return { status: 504, code: 'OutcomeUnknown', title: 'Write outcome unknown', detail: `${err.message}. Retry with the same Idempotency-Key: it applies at most once.` };
  }
  if (err instanceof ReadNotConfirmedError) return { status: 503, code: 'ReadNotConfirmed', title: 'Read not confirmed', detail: err.message, retryAfter: 1 };
  if (err instanceof ClusterChangeRejectedError) return { status: 409, code: err.reason, title: 'Cluster change rejected', detail: err.message };
  if (err instanceof DomainRuleViolationError) {
    // The domain's own code, so clients can branch on it; `kind` says it is a rule, not a fault.
    return { status: 422, code: err.code, title: 'Domain rule violated', detail: err.message, extra: { kind: 'DomainRuleViolation' } };
  }
  if (err instanceof InvalidCommandError) return { status: 400, code: 'InvalidCommand', title: 'Invalid command', detail: err.message, extra: { errors: err.errors } };
  if (err instanceof UnknownAggregateTypeError) return { status: 404, code: 'UnknownAggregateType', title: 'Unknown aggregate type', detail: err.message };
  if (err instanceof UnknownCommandError) return { status: 404, code: 'UnknownCommand', title: 'Unknown command', detail: err.message };
  if (err instanceof ConcurrencyConflictError) return { status: 409, code: 'ConcurrencyConflict', title: 'Aggregate kept changing', detail: err.message, retryAfter: 1 };
  if (err instanceof IdempotencyKeyReusedError) return { status: 409, code: 'IdempotencyKeyReused', title: 'Idempotency-Key reused', detail: err.message };
  if (err instanceof UnknownProjectionError) return { status: 404, code: 'UnknownProjection', title: 'Unknown projection', detail: err.message };
  if (err instanceof ProjectionLaggingError) return { status: 503, code: 'ProjectionLagging', title: 'Projection not caught up', detail: err.message, retryAfter: 1 };
  if (err instanceof ProjectionFailedError) return { status: 503, code: 'ProjectionFailed', title: 'Projection stopped', detail: `${err.message}; an operator must fix the handler and rebuild it` };
  if (err instanceof ShuttingDownError) return { status: 503, code: 'ShuttingDown', title: 'Node shutting down', detail: err.message, retryAfter: 1 };
  const e = err as { type?: unknown; status?: unknown } | null;
  if (e !== null && typeof e === 'object') {
    if (e.type === 'entity.too.large') return { status: 413, code: 'PayloadTooLarge', title: 'Request body too large' };
    if (e.type === 'entity.parse.failed') return { status: 400, code: 'MalformedJson', title: 'Request body is not valid JSON' };
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return { status: e.status, code: 'BadRequest', title: 'Bad request' };
  }
  return undefined;
}
