import { describe, expect, it } from '@jest/globals';
import { DomainRuleViolationError, EventraftClient, InvalidRequestError, UnavailableError, WrongExpectedVersionError } from '../../../../node/client/index.ts';

/**
 * A scripted network for the retry policy: each call takes the next answer (a status and body, or
 * a thrown network error) and records what was sent where. Real-cluster behaviour is covered by
 * test/integration/client.test.ts; this pins down the policy deterministically.
 */
function scripted(answers: ({ status: number; body?: unknown; headers?: Record<string, string> } | Error)[]) {
  const sent: { url: string; method: string; body: unknown; headers: Record<string, string> }[] = [];
  const fake = (async (url: string | URL | Request, init?: RequestInit) => {
    sent.push({ url: url instanceof Request ? url.url : url.toString(), method: init?.method ?? 'GET', body: init?.body === undefined ? undefined : JSON.parse(init.body as string), headers: (init?.headers ?? {}) as Record<string, string> });
    const next = answers.shift();
    if (next === undefined) throw new Error('no more scripted answers');
    if (next instanceof Error) throw next;
    return Promise.resolve(new Response(next.body === undefined ? '' : JSON.stringify(next.body), { status: next.status, headers: next.headers ?? {} }));
  }) as typeof fetch;
  const client = new EventraftClient({ endpoints: ['http://a', 'http://b', 'http://c'], fetch: fake, random: () => 0, retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 } });
  return { client, sent };
}

const appended = { stream: 's', firstVersion: 0, lastVersion: 0, firstPosition: 0, lastPosition: 0, duplicate: false };

describe('EventraftClient retry policy', () => {
  it('retries no-leader, timeouts and network failures on the next endpoint with the same event ids', async () => {
    const { client, sent } = scripted([
      { status: 503, body: { code: 'NoLeader' }, headers: { 'retry-after': '0' } },
      new TypeError('fetch failed'),
      { status: 504, body: { code: 'OutcomeUnknown' } },
      { status: 201, body: appended },
    ]);
    await expect(client.appendToStream('s', [{ type: 'T', data: 1 }])).resolves.toEqual(appended);
    expect(sent.map((s) => new URL(s.url).host)).toEqual(['a', 'b', 'c', 'a']);
    const ids = sent.map((s) => (s.body as { events: { id: string }[] }).events[0]?.id);
    expect(new Set(ids).size).toBe(1);
    // Time-ordered (UUID version 7): the store's id index grows at its edge.
    expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('keeps the Idempotency-Key of a command across retries, including on a contended aggregate', async () => {
    const { client, sent } = scripted([{ status: 409, body: { code: 'ConcurrencyConflict' } }, { status: 503, body: { code: 'Overloaded' } }, { status: 200, body: { version: 3 } }]);
    await client.execute('account', 'a1', 'Deposit', { amount: 5 });
    const keys = sent.map((s) => s.headers['idempotency-key']);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
  });

  it('fails at once, with a typed error, on answers a retry cannot change', async () => {
    const conflict = scripted([{ status: 409, body: { code: 'WrongExpectedVersion', stream: 's', expected: 3, actual: 5 } }]);
    const err = await conflict.client.appendToStream('s', [{ type: 'T', data: 1 }], { expectedVersion: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WrongExpectedVersionError);
    expect([(err as WrongExpectedVersionError).actual, conflict.sent.length]).toEqual([5, 1]);

    const rule = scripted([{ status: 422, body: { code: 'InsufficientFunds', kind: 'DomainRuleViolation' } }]);
    const violation = await rule.client.execute('account', 'a', 'Withdraw', { amount: 9 }).catch((e: unknown) => e);
    expect(violation).toBeInstanceOf(DomainRuleViolationError);
    expect((violation as DomainRuleViolationError).code).toBe('InsufficientFunds');

    const bad = scripted([{ status: 400, body: { code: 'InvalidRequest' } }]);
    await expect(bad.client.readStream('s')).rejects.toBeInstanceOf(InvalidRequestError);
    expect(bad.sent).toHaveLength(1);
  });

  it('gives up after the attempt budget with the last failure as the cause', async () => {
    const { client, sent } = scripted([new TypeError('fetch failed'), { status: 503, body: { code: 'NoLeader' } }, new TypeError('fetch failed'), { status: 503, body: { code: 'ShuttingDown' } }]);
    const err = await client.readAll().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).attempts).toBe(4);
    expect(String((err as UnavailableError).cause)).toMatch(/ShuttingDown/);
    expect(sent).toHaveLength(4);
  });
});

describe('EventraftClient paging', () => {
  const event = (version: number, position = version) => ({ id: `e${String(position)}`, stream: 's', type: 'T', data: null, metadata: null, schemaVersion: 1, version, position, timestamp: 0 });
  const drain = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
    const out: T[] = [];
    for await (const x of it) out.push(x);
    return out;
  };
  const queryOf = (url: string): Record<string, string> => Object.fromEntries(new URL(url).searchParams);

  it('reads a stream page after page, a short page included, and stops at its end without another read', async () => {
    // The second page is short (a node ends a page at 16 MiB): not the end of the stream.
    const { client, sent } = scripted([
      { status: 200, body: { stream: 's', version: 4, events: [event(0), event(1)] } },
      { status: 200, body: { stream: 's', version: 4, events: [event(2)] } },
      { status: 200, body: { stream: 's', version: 4, events: [event(3), event(4)] } },
    ]);
    const got = await drain(client.streamEvents('s', { pageSize: 2, consistency: 'leader' }));
    expect(got.map((e) => e.version)).toEqual([0, 1, 2, 3, 4]);
    expect(sent.map((s) => queryOf(s.url))).toEqual([
      { limit: '2', direction: 'forward', consistency: 'leader' },
      { from: '2', limit: '2', direction: 'forward', consistency: 'leader' },
      { from: '3', limit: '2', direction: 'forward', consistency: 'leader' },
    ]);
  });

  it('reads a stream backward down to version 0, and an empty stream in one read', async () => {
    const backward = scripted([
      { status: 200, body: { stream: 's', version: 2, events: [event(2), event(1)] } },
      { status: 200, body: { stream: 's', version: 2, events: [event(0)] } },
    ]);
    expect((await drain(backward.client.streamEvents('s', { direction: 'backward', pageSize: 2 }))).map((e) => e.version)).toEqual([2, 1, 0]);
    expect(backward.sent.map((s) => queryOf(s.url).from)).toEqual([undefined, '0']);

    const empty = scripted([{ status: 200, body: { stream: 's', version: -1, events: [] } }]);
    expect(await drain(empty.client.streamEvents('s'))).toEqual([]);
    expect(empty.sent).toHaveLength(1);
  });

  it('reads the global log page after page up to the head position it reported', async () => {
    const { client, sent } = scripted([
      { status: 200, body: { headPosition: 3, events: [event(0), event(1)] } },
      { status: 200, body: { headPosition: 4, events: [event(2)] } },
      { status: 200, body: { headPosition: 4, events: [event(3), event(4)] } },
    ]);
    expect((await drain(client.allEvents({ pageSize: 2 }))).map((e) => e.position)).toEqual([0, 1, 2, 3, 4]);
    expect(sent.map((s) => queryOf(s.url).fromPosition)).toEqual(['0', '2', '3']);
  });
});
