import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { HttpMetrics } from './http-metrics.ts';
import { sendJson, sendProblem, toProblem } from './problem.ts';

/**
 * One route the fast path serves: a POST with a JSON body whose path matches `path` (no query).
 * `handle` gets the path's captures, the parsed body and the request's headers, does exactly what
 * express's route does after body-parser (the same checks in the same order) and resolves with
 * the answer, or throws what express's route would.
 */
export interface FastRoute {
  /** The route's pattern as express names it, the label of its request metrics. */
  readonly label: string;
  /** Matches the whole path; captures exclude `%` so that they need no decoding. */
  readonly path: RegExp;
  readonly status: number;
  handle(captures: readonly string[], body: unknown, headers: IncomingMessage['headers']): Promise<unknown>;
}

export interface FastRoutesDeps {
  readonly routes: readonly FastRoute[];
  readonly metrics: HttpMetrics;
  readonly maxBodyBytes: number;
  readonly log: Logger;
}

/** What express.json() accepts and decodes the same way: JSON in UTF-8. */
const JSON_TYPE = /^application\/json\s*(;\s*charset="?utf-8"?\s*)?$/i;
/** body-parser's strict mode: a JSON body must be an object or an array. */
const STRICT_START = /^[ \t\n\r]*[{[]/;

/**
 * The common case of the hottest routes (an append to one stream, a command), served without
 * express: no router walk over every route, no body-parser, type-is, raw-body or iconv, no
 * request and response prototypes. Under 64 appending clients that stack cost the leader about
 * a seventh of its CPU per append (docs/benchmarks.md, "The fast append path").
 *
 * It takes only the plain form of a request: POST to a path a route matches, with no query, a
 * Content-Length of 1 byte to the body limit, `application/json` in UTF-8 and no
 * Content-Encoding; and it answers as express would: the same answers and problem documents, the
 * same metrics (except that a body that is not JSON counts under its route, where express counts
 * it as unmatched). Anything else (a query, a percent-encoded name, a chunked, compressed, empty
 * or oversized body, another charset) returns false untouched and goes to express, which has the
 * rules for it.
 *
 * @returns a request listener's front: whether it took the request
 */
export function fastRoutes(deps: FastRoutesDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    let route: FastRoute | undefined;
    let match: RegExpExecArray | null = null;
    for (const r of deps.routes) {
      match = r.path.exec(url);
      if (match !== null) {
        route = r;
        break;
      }
    }
    if (route === undefined || match === null) return false;
    const h = req.headers;
    const length = Number(h['content-length']);
    if (!(length >= 1 && length <= deps.maxBodyBytes)) return false;
    if (h['transfer-encoding'] !== undefined || (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity')) return false;
    if (!JSON_TYPE.test(h['content-type'] ?? '')) return false;

    const started = performance.now();
    const taken = route;
    const captures = match.slice(1);
    const chunks: Buffer[] = [];
    req.on('error', () => {
      // The client went away in the middle of its body: there is no one to answer.
    });
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    req.on('end', () => {
      void answer(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    });

    async function answer(raw: Buffer): Promise<void> {
      try {
        // As body-parser reads it: UTF-8 without a byte order mark, strictly an object or array.
        let text = raw.toString('utf8');
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        let body: unknown;
        try {
          if (!STRICT_START.test(text)) throw new SyntaxError('not an object or array');
          body = JSON.parse(text);
        } catch {
          sendProblem(res, { status: 400, code: 'MalformedJson', title: 'Request body is not valid JSON' });
          return;
        }
        sendJson(res, taken.status, JSON.stringify(await taken.handle(captures, body, h)));
      } catch (err) {
        const problem = toProblem(err);
        if (problem === undefined) deps.log.error({ err, method: req.method, path: req.url }, 'request failed');
        sendProblem(res, problem ?? { status: 500, code: 'InternalError', title: 'Internal error' });
      } finally {
        deps.metrics.observe(taken.label, res.statusCode, started);
      }
    }
    return true;
  };
}

/** A header's value as express's req.get() gives it (node joins repeated unknown headers). */
export function headerValue(headers: IncomingMessage['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
