import type { IncomingMessage } from 'node:http';
import { Ajv } from 'ajv';
import type { Request, RequestHandler, Response } from 'express';
import type { StoreMetrics } from '../metrics/store-metrics.ts';
import { HttpProblem } from './problem.ts';

/** One ajv instance for every request body schema of the HTTP API. */
export const ajv = new Ajv({ allErrors: true });

/** Throws a 400 InvalidRequest listing every problem when `body` does not match. */
export function check(validate: ReturnType<typeof ajv.compile>, body: unknown): void {
  if (validate(body ?? {})) return;
  const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}`);
  throw new HttpProblem({ status: 400, code: 'InvalidRequest', title: 'Invalid request body', detail: errors.join('; '), extra: { errors } });
}

/** Wraps an async handler so that failures reach the error handler. */
export function route(fn: (req: Request, res: Response) => Promise<void> | void): RequestHandler {
  return (req, res, next) => {
    Promise.resolve()
      .then(() => fn(req, res))
      .catch(next);
  };
}

/** A header's value as express's req.get() gives it (node joins repeated unknown headers). */
export function headerValue(headers: IncomingMessage['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The Idempotency-Key header's value, checked (undefined when the header is absent). */
export function checkIdempotencyKey(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.length === 0 || v.length > 200) throw new HttpProblem({ status: 400, code: 'InvalidIdempotencyKey', title: 'Invalid Idempotency-Key', detail: '1-200 characters' });
  return v;
}

export type Consistency = 'strong' | 'leader' | 'eventual';

/** A parsed query string (express's `simple` parser and the fast path both use node:querystring). */
export type Query = Readonly<Record<string, unknown>>;

export function consistency(req: Request): Consistency {
  return consistencyOf(req.query);
}

/** The `consistency` parameter of a query, `strong` when absent. */
export function consistencyOf(query: Query): Consistency {
  const c = query.consistency ?? 'strong';
  if (c === 'strong' || c === 'leader' || c === 'eventual') return c;
  throw new HttpProblem({ status: 400, code: 'InvalidConsistency', title: 'Invalid consistency', detail: 'consistency must be strong, leader or eventual' });
}

/** A non-negative integer query parameter, `fallback` when absent. */
export function intQuery(req: Request, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  return intQueryOf(req.query, name, fallback, max);
}

/** intQuery on a parsed query. */
export function intQueryOf(query: Query, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = query[name];
  if (raw === undefined) return fallback;
  const n = typeof raw === 'string' && /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new HttpProblem({ status: 400, code: 'InvalidQuery', title: 'Invalid query parameter', detail: `${name} must be an integer from 0 to ${max}` });
  }
  return n;
}

/** Names in paths (stream names): 1-256 URL-safe characters. */
const NAME = /^[A-Za-z0-9._~:@!$&'()*+,;=-]{1,256}$/;
export function nameParam(req: Request, param: string, what: string): string {
  return checkName(req.params[param], what);
}

/** A name from a path, checked as nameParam does (`what` names it in the error's code). */
export function checkName(v: unknown, what: string): string {
  if (typeof v !== 'string' || !NAME.test(v)) {
    throw new HttpProblem({ status: 400, code: `Invalid${what}`, title: `Invalid ${what.toLowerCase()}`, detail: `${what.toLowerCase()} names are 1-256 URL-safe characters` });
  }
  return v;
}

/** Times a write for eventraft_append_duration_seconds{kind, outcome}. */
export type TimedWrite = <T>(kind: 'append' | 'command', write: () => Promise<T>) => Promise<T>;

export function timer(metrics: StoreMetrics | undefined): TimedWrite {
  return async (kind, write) => {
    if (metrics === undefined) return write();
    const end = metrics.appendDuration.startTimer({ kind });
    try {
      const result = await write();
      end({ outcome: 'ok' });
      return result;
    } catch (err) {
      end({ outcome: 'error' });
      throw err;
    }
  };
}
