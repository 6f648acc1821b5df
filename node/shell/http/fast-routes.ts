import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { Logger } from 'pino';
import type { HttpMetrics } from './http-metrics.ts';
import { sendJson, sendProblem, toProblem } from './problem.ts';
import type { Query } from './request.ts';

interface FastRouteBase {
  /** The route's pattern as express names it, the label of its request metrics. */
  readonly label: string;
  /** Matches the whole path (without the query); captures exclude `%` so that they need no decoding. */
  readonly path: RegExp;
}

/**
 * A POST with a JSON body and no query. `handle` gets the path's captures, the parsed body and the
 * request's headers, does exactly what express's route does after body-parser (the same checks in
 * the same order) and resolves with the answer, or throws what express's route would.
 */
export interface FastPostRoute extends FastRouteBase {
  readonly method: 'POST';
  readonly status: number;
  handle(captures: readonly string[], body: unknown, headers: IncomingMessage['headers']): Promise<unknown>;
}

/**
 * A GET without a body. `handle` gets the path's captures and the query as express's `simple`
 * parser gives it (node:querystring), and resolves with the JSON text of a 200 answer.
 */
export interface FastGetRoute extends FastRouteBase {
  readonly method: 'GET';
  handle(captures: readonly string[], query: Query): Promise<string>;
}

export type FastRoute = FastPostRoute | FastGetRoute;

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
 * The common case of the hottest routes (an append to one stream, a command, a read of a
 * stream), served without express: no router walk over every route, no body-parser, type-is,
 * raw-body or iconv, no request and response prototypes, one parse of the query. Under 64
 * appending clients that stack cost the leader about a seventh of its CPU per append
 * (docs/benchmarks.md, "The fast append path").
 *
 * It takes only the plain form of a request, and answers as express would: the same answers and
 * problem documents, the same metrics (except that a body that is not JSON counts under its
 * route, where express counts it as unmatched). The plain form of a POST: no query, a
 * Content-Length of 1 byte to the body limit, `application/json` in UTF-8, no Content-Encoding.
 * Of a GET: no body and no conditional headers (express would answer some of those 304). Anything
 * else (a percent-encoded name, a chunked, compressed, empty or oversized body, another charset)
 * returns false untouched and goes to express, which has the rules for it.
 *
 * @returns a request listener's front: whether it took the request
 */
export function fastRoutes(deps: FastRoutesDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const method = req.method;
    if (method !== 'POST' && method !== 'GET') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    let route: FastRoute | undefined;
    let match: RegExpExecArray | null = null;
    for (const r of deps.routes) {
      if (r.method !== method) continue;
      match = r.path.exec(pathname);
      if (match !== null) {
        route = r;
        break;
      }
    }
    if (route === undefined || match === null) return false;
    const h = req.headers;
    const captures = match.slice(1);
    if (route.method === 'GET') {
      if (h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')) return false;
      if (h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined) return false;
      const get = route;
      const started = performance.now();
      answer(get.label, started, async () => {
        sendJson(res, 200, await get.handle(captures, parseQuery(q < 0 ? '' : url.slice(q + 1))));
      });
      return true;
    }
    if (q >= 0) return false;
    const length = Number(h['content-length']);
    if (!(length >= 1 && length <= deps.maxBodyBytes)) return false;
    if (h['transfer-encoding'] !== undefined || (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity')) return false;
    if (!JSON_TYPE.test(h['content-type'] ?? '')) return false;

    const post = route;
    const started = performance.now();
    const chunks: Buffer[] = [];
    req.on('error', () => {
      // The client went away in the middle of its body: there is no one to answer.
    });
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    req.on('end', () => {
      const raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      answer(post.label, started, async () => {
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
        sendJson(res, post.status, JSON.stringify(await post.handle(captures, body, h)));
      });
    });
    return true;

    /** Runs `respond`, answers what it throws as express's error handler would, and counts it. */
    function answer(label: string, startedAt: number, respond: () => Promise<void>): void {
      respond()
        .catch((err: unknown) => {
          const problem = toProblem(err);
          if (problem === undefined) deps.log.error({ err, method: req.method, path: req.url }, 'request failed');
          if (res.headersSent) res.end(); // failed after answering began: nothing more can be said
          else sendProblem(res, problem ?? { status: 500, code: 'InternalError', title: 'Internal error' });
        })
        .finally(() => {
          deps.metrics.observe(label, res.statusCode, startedAt);
        });
    }
  };
}
