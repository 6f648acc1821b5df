import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { EventRoutes } from './event-routes.ts';
import type { HttpMetrics } from './http-metrics.ts';
import { sendJson, sendProblem, toProblem } from './problem.ts';
import { checkName } from './request.ts';

/** The route label the fast path counts under: the same as express's route for it. */
const ROUTE = 'POST /v1/streams/:stream/events';
const PATH = /^\/v1\/streams\/([^/?#%]+)\/events$/;
/** What express.json() accepts and decodes the same way: JSON in UTF-8. */
const JSON_TYPE = /^application\/json\s*(;\s*charset="?utf-8"?\s*)?$/i;
/** body-parser's strict mode: a JSON body must be an object or an array. */
const STRICT_START = /^[ \t\n\r]*[{[]/;

export interface FastAppendDeps {
  readonly routes: EventRoutes;
  readonly metrics: HttpMetrics;
  readonly maxBodyBytes: number;
  readonly log: Logger;
}

/**
 * The common case of the hottest route, an append to one stream, served without express: no
 * router walk over every route, no body-parser, type-is, raw-body or iconv, no request and
 * response prototypes. Under 64 appending clients that stack cost the leader about a tenth of
 * its CPU per append (docs/benchmarks.md, "The fast append path").
 *
 * It takes only the plain form of the request, `POST /v1/streams/{name}/events` with no query,
 * a Content-Length of 1 byte to the body limit, `application/json` in UTF-8 and no
 * Content-Encoding, and answers it exactly as express's route would: the same checks in the same
 * order, the same answer and problem documents, the same metrics (except that a body that is not
 * JSON counts under this route, where express counts it as unmatched). Anything else (a query, a
 * percent-encoded name, a chunked or compressed or oversized body, another charset) returns
 * false untouched and goes to express, which has the rules for it.
 *
 * @returns whether it took the request
 */
export function fastAppend(deps: FastAppendDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const match = PATH.exec(req.url ?? '');
    if (match === null) return false;
    const h = req.headers;
    const length = Number(h['content-length']);
    if (!(length >= 1 && length <= deps.maxBodyBytes)) return false;
    if (h['transfer-encoding'] !== undefined || (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity')) return false;
    if (!JSON_TYPE.test(h['content-type'] ?? '')) return false;

    const started = performance.now();
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
        const stream = checkName(match?.[1], 'Stream');
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
        const idempotencyKey = h['idempotency-key'];
        const result = await deps.routes.appendToStream(stream, body, Array.isArray(idempotencyKey) ? idempotencyKey.join(', ') : idempotencyKey);
        sendJson(res, 201, JSON.stringify(result));
      } catch (err) {
        const problem = toProblem(err);
        if (problem === undefined) deps.log.error({ err, method: req.method, path: req.url }, 'request failed');
        sendProblem(res, problem ?? { status: 500, code: 'InternalError', title: 'Internal error' });
      } finally {
        deps.metrics.observe(ROUTE, res.statusCode, started);
      }
    }
    return true;
  };
}
