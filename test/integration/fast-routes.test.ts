import http from 'node:http';
import { describe, expect, it } from '@jest/globals';
import { clusterPerTest } from './support/cluster-fixture.ts';
import { waitForLeader } from './support/node-cluster.ts';

const fixture = clusterPerTest();

interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: Record<string, unknown>;
}

/**
 * POSTs `body` to `path` on a node. `framing: 'length'` sends a Content-Length (the form the fast
 * path takes); `'chunked'` sends the same bytes chunked, which only express's route serves.
 */
function post(host: string, port: number, path: string, body: string, framing: 'length' | 'chunked', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const bytes = Buffer.from(body);
    const req = http.request({ host, port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers, ...(framing === 'length' ? { 'content-length': String(bytes.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    if (framing === 'chunked') {
      // Two writes without a Content-Length: node frames them chunked.
      req.write(bytes.subarray(0, 1));
      req.end(bytes.subarray(1));
    } else {
      req.end(bytes);
    }
  });
}

/** GETs `path` from a node, raw (percent-encodings as given, which keeps a request off the fast path). */
function get(host: string, port: number, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The request counts of the append route and of unmatched requests, by status code. */
async function requestCounts(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^eventraft_http_requests_total\{route="([^"]+)",code="(\d+)"\} (\d+)$/gm)) counts.set(`${m[1] as string} ${m[2] as string}`, Number(m[3]));
  return counts;
}

const event = (value: string): string => JSON.stringify({ type: 'ValueWritten', data: { value } });
const appendBody = (value: string, expectedVersion?: number | string): string => `{${expectedVersion === undefined ? '' : `"expectedVersion":${JSON.stringify(expectedVersion)},`}"events":[${event(value)}]}`;

describe('the fast path for appends, commands and stream reads', () => {
  it('answers every plain form of an append, a command and a stream read exactly as express does', async () => {
    const c = await fixture.start(44, { EVENTRAFT_MAX_APPEND_EVENTS: '3' });
    const leader = await waitForLeader(c);
    const { host, httpPort: port } = c.spec(leader);
    const route = 'POST /v1/streams/:stream/events';
    const before = await requestCounts(c.url(leader));

    // Each case goes both ways; the answers must be the same but for what the store assigns.
    const both = async (path: string, body: string, headers: Record<string, string> = {}): Promise<[Answer, Answer]> => [await post(host, port, path, body, 'length', headers), await post(host, port, path, body, 'chunked', headers)];
    const assigned = ({ firstPosition: _f, lastPosition: _l, ...rest }: Record<string, unknown>): Record<string, unknown> => rest;

    // Successful appends, to a stream each, with and without a charset and a byte order mark.
    for (const [suffix, body, headers] of [
      ['plain', appendBody('a'), {}],
      ['charset', appendBody('b'), { 'content-type': 'application/json; charset=utf-8' }],
      ['bom', `\uFEFF${appendBody('c')}`, {}],
    ] as const) {
      const fast = await post(host, port, `/v1/streams/fast-${suffix}/events`, body, 'length', headers);
      const slow = await post(host, port, `/v1/streams/slow-${suffix}/events`, body, 'chunked', headers);
      expect([fast.status, fast.contentType]).toEqual([201, 'application/json; charset=utf-8']);
      expect(assigned(fast.body)).toEqual({ stream: `fast-${suffix}`, firstVersion: 0, lastVersion: 0, duplicate: false });
      expect([slow.status, slow.contentType, assigned(slow.body)]).toEqual([fast.status, fast.contentType, { ...assigned(fast.body), stream: `slow-${suffix}` }]);
    }

    // A retry with the same Idempotency-Key, by either way, returns the first result.
    const first = await post(host, port, '/v1/streams/fast-retry/events', appendBody('r'), 'length', { 'idempotency-key': 'retry-1' });
    const [again, againSlow] = await both('/v1/streams/fast-retry/events', appendBody('r'), { 'idempotency-key': 'retry-1' });
    expect(first.status).toBe(201);
    expect(again).toEqual({ ...first, body: { ...first.body, duplicate: true } });
    expect(againSlow).toEqual(again);

    // Refusals and bad requests: the same status, type and problem document.
    const refusals: [string, string, Record<string, string>, number, string][] = [
      ['/v1/streams/fast-plain/events', appendBody('x', 5), {}, 409, 'WrongExpectedVersion'],
      ['/v1/streams/fast-plain/events', '{"events": [', {}, 400, 'MalformedJson'],
      ['/v1/streams/fast-plain/events', '123', {}, 400, 'MalformedJson'],
      ['/v1/streams/fast-plain/events', '{"events": []}', {}, 400, 'InvalidRequest'],
      ['/v1/streams/fast-plain/events', `{"events":[${[1, 2, 3, 4].map((i) => event(String(i))).join(',')}]}`, {}, 413, 'AppendTooLarge'],
      [`/v1/streams/${'s'.repeat(257)}/events`, appendBody('x'), {}, 400, 'InvalidStream'],
      ['/v1/streams/fast-plain/events', appendBody('x'), { 'idempotency-key': 'k'.repeat(201) }, 400, 'InvalidIdempotencyKey'],
    ];
    for (const [path, body, headers, status, code] of refusals) {
      const [fast, slow] = await both(path, body, headers);
      expect([fast.status, fast.contentType, fast.body.code]).toEqual([status, 'application/problem+json; charset=utf-8', code]);
      expect(slow).toEqual(fast);
    }

    // The refusals changed nothing: the stream still holds its one event.
    const stream = (await (await fetch(`${c.url(leader)}/v1/streams/fast-plain/events`)).json()) as { version: number };
    expect(stream.version).toBe(0);

    // Commands: the same, on the command route.
    const commandRoute = 'POST /v1/aggregates/:type/:id/commands/:command';
    const cmdPath = (id: string, command: string): string => `/v1/aggregates/account/${id}/commands/${command}`;
    const opened = await post(host, port, cmdPath('fast-acct', 'Open'), '{"owner":"ann"}', 'length');
    const openedSlow = await post(host, port, cmdPath('slow-acct', 'Open'), '{"owner":"ann"}', 'chunked');
    expect([opened.status, opened.contentType]).toEqual([200, 'application/json; charset=utf-8']);
    // Two accounts: the same answer but for the names, ids, positions and times.
    const decided = (a: Answer): unknown => [a.status, a.contentType, Object.keys(a.body), a.body.version, a.body.state, (a.body.events as { type: string; data: unknown }[]).map((e) => [e.type, e.data])];
    expect(decided(openedSlow)).toEqual(decided(opened));
    expect(opened.body.id).toBe('fast-acct');
    const deposit = await post(host, port, cmdPath('fast-acct', 'Deposit'), '{"amount":5}', 'length', { 'idempotency-key': 'dep-1' });
    const depositAgain = await post(host, port, cmdPath('fast-acct', 'Deposit'), '{"amount":5}', 'chunked', { 'idempotency-key': 'dep-1' });
    expect(deposit.status).toBe(200);
    expect(depositAgain).toEqual({ ...deposit, body: { ...deposit.body, duplicate: true } });
    const commandRefusals: [string, string, Record<string, string>, number, string][] = [
      [cmdPath('fast-acct', 'Withdraw'), '{"amount":50}', {}, 422, 'InsufficientFunds'],
      [cmdPath('fast-acct', 'Close'), '{}', {}, 404, 'UnknownCommand'],
      [cmdPath('fast-acct', 'Deposit'), '{"amount":-1}', {}, 400, 'InvalidCommand'],
      [cmdPath('fast-acct', 'Deposit'), '{"amount":', {}, 400, 'MalformedJson'],
      [cmdPath('a'.repeat(257), 'Deposit'), '{"amount":1}', {}, 400, 'InvalidAggregateId'],
      [cmdPath('fast-acct', 'Deposit'), '{"amount":1}', { 'idempotency-key': '' }, 400, 'InvalidIdempotencyKey'],
    ];
    for (const [path, body, headers, status, code] of commandRefusals) {
      const [fast, slow] = await both(path, body, headers);
      expect([fast.status, fast.contentType, fast.body.code]).toEqual([status, 'application/problem+json; charset=utf-8', code]);
      expect(slow).toEqual(fast);
    }
    // Only the one deposit applied (its retry by the other way was the same command).
    const account = (await (await fetch(`${c.url(leader)}/v1/aggregates/account/fast-acct`)).json()) as { version: number; state: { balance: number } };
    expect([account.version, account.state.balance]).toEqual([1, 5]);

    // Reads of a stream: the fast path takes the plain path; a percent-encoded '-' in the name
    // (decoded by express to the same stream) sends the same read through express.
    const follower = c.specs.find((sp) => sp.id !== leader)?.id as string;
    const reads: [string, string, string, number][] = [
      [leader, 'fast-plain', '', 200],
      [leader, 'fast-plain', '?direction=backward&limit=1', 200],
      [leader, 'fast-plain', '?from=0&limit=1&consistency=eventual', 200],
      [leader, 'fast-plain', '?consistency=leader', 200],
      [follower, 'fast-plain', '?consistency=strong', 200],
      [leader, 'nothing-here', '', 200],
      [leader, 'fast-plain', '?direction=sideways', 400],
      [leader, 'fast-plain', '?limit=abc', 400],
      [leader, 'fast-plain', '?limit=1&limit=2', 400],
      [leader, 'fast-plain', '?limit=5000', 400],
      [leader, 'fast-plain', '?consistency=weird', 400],
      [follower, 'fast-plain', '?consistency=leader', 421],
    ];
    for (const [nodeId, stream, query, status] of reads) {
      const { host: h, httpPort: p } = c.spec(nodeId);
      const fast = await get(h, p, `/v1/streams/${stream}/events${query}`);
      const slow = await get(h, p, `/v1/streams/${stream.replace('-', '%2D')}/events${query}`);
      expect([stream, query, fast.status]).toEqual([stream, query, status]);
      expect(fast.contentType).toBe(status === 200 ? 'application/json; charset=utf-8' : 'application/problem+json; charset=utf-8');
      expect(slow).toEqual(fast);
    }
    expect((await get(host, port, '/v1/streams/fast-plain/events')).body).toMatchObject({ stream: 'fast-plain', version: 0, events: [{ version: 0, data: { value: 'a' } }] });
    const longName = await get(host, port, `/v1/streams/${'s'.repeat(257)}/events`);
    expect(longName.body.code).toBe('InvalidStream');
    expect(await get(host, port, `/v1/streams/${'s'.repeat(256)}%73/events`)).toEqual(longName);

    // Counted under the route, as express counts it, but for bodies that are not JSON, which
    // express counts as unmatched: the proof that the fast path took the Content-Length forms.
    const after = await requestCounts(c.url(leader));
    const delta = (key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    expect(delta(`${route} 201`)).toBe(6 + 3);
    expect(delta(`${route} 409`)).toBe(2);
    expect(delta(`${route} 413`)).toBe(2);
    expect(delta(`${route} 400`)).toBe(2 + 2 * 3);
    expect(delta(`${commandRoute} 200`)).toBe(4);
    expect(delta(`${commandRoute} 422`) + delta(`${commandRoute} 404`)).toBe(4);
    expect(delta(`${commandRoute} 400`)).toBe(1 + 2 * 3);
    expect(delta('unmatched 400')).toBe(2 + 1);
    fixture.passed();
  }, 30_000);
});
