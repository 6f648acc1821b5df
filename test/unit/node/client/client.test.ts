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
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
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
