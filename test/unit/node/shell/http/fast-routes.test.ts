import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { fastRoutes } from '../../../../../node/shell/http/fast-routes.ts';
import type { FastRoute } from '../../../../../node/shell/http/fast-routes.ts';
import { HttpMetrics } from '../../../../../node/shell/http/http-metrics.ts';
import { HttpProblem } from '../../../../../node/shell/http/problem.ts';
import { headerValue } from '../../../../../node/shell/http/request.ts';

/**
 * The fast path's dispatch, on a real HTTP server: what it takes, what it leaves to the listener
 * behind it (here a stand-in for express that answers 299), and how it answers. That its answers
 * equal express's, route by route, is test/integration/fast-routes.test.ts.
 */
const registry = new Registry();
const logged: unknown[] = [];
const log = pino({ level: 'error' }, { write: (line: string) => logged.push(JSON.parse(line)) });
const echo: FastRoute = {
  method: 'POST',
  label: 'POST /echo/:name',
  path: /^\/echo\/([^/?#%]+)$/,
  status: 201,
  handle: (captures, body, headers) => {
    const b = body as { fail?: string };
    if (b.fail === 'problem') throw new HttpProblem({ status: 409, code: 'Refused', title: 'Refused here' });
    if (b.fail === 'bug') throw new Error('a bug');
    return Promise.resolve({ captures, body, key: headerValue(headers, 'idempotency-key') ?? null });
  },
};
const look: FastRoute = {
  method: 'GET',
  label: 'GET /echo/:name',
  path: /^\/echo\/([^/?#%]+)$/,
  handle: (captures, query) => (query.fail === 'problem' ? Promise.reject(new HttpProblem({ status: 400, code: 'BadQuery', title: 'Bad query' })) : Promise.resolve(JSON.stringify({ captures, query }))),
};
const fast = fastRoutes({ routes: [echo, look], metrics: new HttpMetrics(registry), maxBodyBytes: 1_000, log });
const server = http.createServer((req, res) => {
  if (fast(req, res)) return;
  req.resume();
  req.on('end', () => {
    res.statusCode = 299;
    res.end('behind');
  });
});
let port = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

interface Sent {
  readonly method?: string;
  readonly path?: string;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  /** Send the body chunked (no Content-Length). */
  readonly chunked?: boolean;
}

function send({ method = 'POST', path = '/echo/a1', body = '{"x":1}', headers = {}, chunked = false }: Sent): Promise<{ status: number; type: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': String(bytes.length) }), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], text: Buffer.concat(chunks).toString() });
      });
    });
    req.on('error', reject);
    if (chunked) {
      req.write(bytes.subarray(0, 1));
      req.end(bytes.subarray(1));
    } else {
      req.end(bytes);
    }
  });
}

describe('fastRoutes', () => {
  it('takes the plain form of a matching POST and answers with the route status and JSON', async () => {
    const a = await send({ headers: { 'idempotency-key': 'k1' } });
    expect([a.status, a.type]).toEqual([201, 'application/json; charset=utf-8']);
    expect(JSON.parse(a.text)).toEqual({ captures: ['a1'], body: { x: 1 }, key: 'k1' });
    for (const type of ['application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"']) {
      expect((await send({ headers: { 'content-type': type } })).status).toBe(201);
    }
    // As body-parser reads it: a byte order mark is dropped.
    expect(JSON.parse((await send({ body: '\uFEFF{"x":2}' })).text)).toMatchObject({ body: { x: 2 } });
  });

  it('leaves every other form to the listener behind it, untouched', async () => {
    const behind: Sent[] = [
      { method: 'PUT' },
      { method: 'DELETE', body: '' },
      { path: '/echo/a1?q=1' },
      { path: '/echo/a%31' },
      { path: '/echo/a1/more' },
      { path: '/other' },
      { chunked: true },
      { headers: { 'content-encoding': 'gzip' } },
      { headers: { 'content-type': 'text/plain' } },
      { headers: { 'content-type': 'application/json; charset=latin1' } },
      { headers: { 'content-type': 'application/vnd.api+json' } },
      { body: '' },
      { body: `{"x":"${'y'.repeat(1_000)}"}` },
    ];
    for (const sent of behind) {
      const a = await send(sent);
      expect([JSON.stringify(sent), a.status, a.text]).toEqual([JSON.stringify(sent), 299, 'behind']);
    }
  });

  it('answers bodies that are not JSON objects or arrays, and failures, with problem documents', async () => {
    for (const body of ['{"x":', '"a string"', '12', 'null']) {
      const a = await send({ body });
      expect([a.status, a.type, JSON.parse(a.text)]).toEqual([400, 'application/problem+json; charset=utf-8', expect.objectContaining({ code: 'MalformedJson' })]);
    }
    expect((await send({ body: '[1]' })).status).toBe(201);
    const refused = await send({ body: '{"fail":"problem"}' });
    expect([refused.status, JSON.parse(refused.text)]).toEqual([409, expect.objectContaining({ code: 'Refused', title: 'Refused here' })]);
    const bug = await send({ body: '{"fail":"bug"}' });
    expect([bug.status, JSON.parse(bug.text)]).toEqual([500, expect.objectContaining({ code: 'InternalError' })]);
    // The client sees no internals; the log has them.
    expect(bug.text).not.toContain('a bug');
    expect(logged).toContainEqual(expect.objectContaining({ msg: 'request failed', err: expect.objectContaining({ message: 'a bug' }) }));
  });

  it('takes a GET without a body or conditions, with its query parsed as express parses it', async () => {
    const a = await send({ method: 'GET', path: '/echo/b2?limit=1&limit=2&x=%41&flag', body: '', headers: {} });
    expect([a.status, a.type]).toEqual([200, 'application/json; charset=utf-8']);
    expect(JSON.parse(a.text)).toEqual({ captures: ['b2'], query: { limit: ['1', '2'], x: 'A', flag: '' } });
    expect(JSON.parse((await send({ method: 'GET', path: '/echo/b2', body: '' })).text)).toEqual({ captures: ['b2'], query: {} });
    const refused = await send({ method: 'GET', path: '/echo/b2?fail=problem', body: '' });
    expect([refused.status, refused.type, (JSON.parse(refused.text) as { code: string }).code]).toEqual([400, 'application/problem+json; charset=utf-8', 'BadQuery']);
    const behind: Sent[] = [
      { method: 'GET', path: '/echo/b2', body: '{}' },
      { method: 'GET', path: '/echo/b2', body: '', headers: { 'if-none-match': '*' } },
      { method: 'GET', path: '/echo/b2', body: '', headers: { 'if-modified-since': 'Thu, 03 Dec 2026 00:00:00 GMT' } },
      { method: 'GET', path: '/echo/b%32', body: '' },
      { method: 'HEAD', path: '/echo/b2', body: '' },
    ];
    for (const sent of behind) {
      const a = await send(sent);
      expect([JSON.stringify(sent), a.status]).toEqual([JSON.stringify(sent), 299]);
    }
  });

  it('counts what it answered under the route, by status', async () => {
    const before = await registry.getSingleMetricAsString('eventraft_http_requests_total');
    const count = (text: string, code: number): number => Number(new RegExp(`route="POST /echo/:name",code="${String(code)}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    await send({});
    await send({ body: '{"x":' });
    await send({ chunked: true });
    const after = await registry.getSingleMetricAsString('eventraft_http_requests_total');
    expect([count(after, 201) - count(before, 201), count(after, 400) - count(before, 400)]).toEqual([1, 1]);
  });
});
