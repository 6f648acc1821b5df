import { describe, expect, it } from '@jest/globals';
import { DomainRuleViolationError, EventraftClient, WrongExpectedVersionError } from '../../node/client/index.ts';
import type { RecordedEvent } from '../../node/core/eventstore/index.ts';
import { clusterPerTest } from './support/cluster-fixture.ts';
import { until, waitForLeader } from './support/node-cluster.ts';

const fixture = clusterPerTest();

describe('the TypeScript client against a real cluster', () => {
  it('appends, reads, runs commands, reads aggregates and projections, and subscribes', async () => {
    const c = await fixture.start(201);
    await waitForLeader(c);
    const client = new EventraftClient({ endpoints: c.specs.map((s) => c.url(s.id)) });

    const first = await client.appendToStream('orders-1', [{ type: 'OrderPlaced', data: { total: 12 } }], { expectedVersion: 'no_stream' });
    expect(first).toMatchObject({ stream: 'orders-1', firstVersion: 0, duplicate: false });
    await expect(client.appendToStream('orders-1', [{ type: 'OrderPaid', data: {} }], { expectedVersion: 'no_stream' })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    await client.appendToStreams([
      { stream: 'orders-1', expectedVersion: 0, events: [{ type: 'OrderPaid', data: {} }] },
      { stream: 'ledger', events: [{ type: 'Credited', data: { amount: 12 } }] },
    ]);
    const page = await client.readStream('orders-1', { direction: 'backward', limit: 1 });
    expect(page).toMatchObject({ version: 1, events: [{ type: 'OrderPaid', version: 1 }] });
    // Paged reads: a page of one event at a time, to the end and no further.
    const versions: number[] = [];
    for await (const e of client.streamEvents('orders-1', { pageSize: 1, direction: 'backward' })) versions.push(e.version);
    expect(versions).toEqual([1, 0]);
    const positions: number[] = [];
    for await (const e of client.allEvents({ pageSize: 2 })) positions.push(e.position);
    expect(positions).toEqual([0, 1, 2]);

    await client.execute('account', 'c1', 'Open', { owner: 'erin' });
    await client.execute('account', 'c1', 'Deposit', { amount: 50 });
    const retried = await client.execute('account', 'c1', 'Deposit', { amount: 50 }, { idempotencyKey: 'same' });
    const again = await client.execute('account', 'c1', 'Deposit', { amount: 50 }, { idempotencyKey: 'same' });
    expect([retried.duplicate, again.duplicate, again.version]).toEqual([false, true, retried.version]);
    await expect(client.execute('account', 'c1', 'Withdraw', { amount: 1000 })).rejects.toBeInstanceOf(DomainRuleViolationError);
    expect((await client.getAggregate('account', 'c1')).state).toEqual({ open: true, owner: 'erin', balance: 100 });
    expect((await client.getAggregates('account', ['c1', 'none'])).map((a) => a.version)).toEqual([2, -1]);
    expect((await client.getProjection('accounts-by-owner', 'erin')).value).toEqual({ accounts: { c1: 100 } });

    const abort = new AbortController();
    const seen: RecordedEvent[] = [];
    for await (const e of client.subscribe({ fromPosition: 1, signal: abort.signal })) {
      seen.push(e);
      if (seen.length === 4) abort.abort();
    }
    expect(seen.map((e) => e.position)).toEqual([1, 2, 3, 4]);

    // Every replica counts the events it stored; the nodes that took writes timed them.
    const head = (await client.readAll({ limit: 1 })).headPosition;
    // Followers may apply a moment after the read: wait for each to count every event.
    const metrics = await Promise.all(
      c.specs.map((s) =>
        until(`${s.id} to count ${head + 1} events`, async () => {
          const text = await (await fetch(`${c.url(s.id)}/metrics`)).text();
          return text.includes(`eventraft_events_appended_total ${head + 1}`) ? text : undefined;
        }),
      ),
    );
    const timedCommands = metrics.map((t) => Number(/eventraft_append_duration_seconds_count\{kind="command",outcome="ok"\} (\d+)/.exec(t)?.[1] ?? 0));
    expect(timedCommands.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4);
    fixture.passed();
  }, 60_000);

  it('rides out a leader kill: every command succeeds once', async () => {
    const c = await fixture.start(211);
    const leader = await waitForLeader(c);
    const client = new EventraftClient({ endpoints: c.specs.map((s) => c.url(s.id)), timeoutMs: 3000, retry: { maxAttempts: 40, baseDelayMs: 20, maxDelayMs: 500 } });
    await client.execute('account', 'k1', 'Open', { owner: 'fay' });
    const results = [];
    for (let i = 0; i < 60; i++) {
      if (i === 20) c.signal(leader, 'SIGKILL');
      results.push(await client.execute('account', 'k1', 'Deposit', { amount: 1 }, { idempotencyKey: `deposit-${i}` }));
    }
    expect((await client.getAggregate<{ balance: number }>('account', 'k1')).state.balance).toBe(60);
    expect(new Set(results.map((r) => r.version)).size).toBe(60);
    fixture.passed();
  }, 90_000);

  it('tells the truth about a retried append whose first attempt reaches the log after the refused retry', async () => {
    const c = await fixture.start(101);
    const leader = await waitForLeader(c);
    const [held, other] = c.specs.map((s) => s.id).filter((id) => id !== leader) as [string, string];
    const client = new EventraftClient({ endpoints: [c.url(held), c.url(other)], timeoutMs: 1000, retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20 } });
    const committedThrough = async (id: string): Promise<number> => Number(/eventraft_raft_proposals_committed_total (\d+)/.exec(await (await fetch(`${c.url(id)}/metrics`)).text())?.[1]);
    expect(await committedThrough(held)).toBe(0);

    // The first attempt waits in a frozen node's socket; the client times out and retries through
    // the other follower, where the stream does not exist yet: refused, and the client is told so.
    c.signal(held, 'SIGSTOP');
    const waiting = [{ id: 'c2d5f0b6-0000-4000-8000-000000000001', type: 'Waited', data: {} }];
    await expect(client.appendToStream('waiting', waiting, { expectedVersion: 'exists' })).rejects.toBeInstanceOf(WrongExpectedVersionError);
    // Every running replica remembers the refusal (the frozen one will when it applies it).
    for (const id of [leader, other]) {
      await until(`${id} to remember the refusal`, async () => ((await (await fetch(`${c.url(id)}/metrics`)).text()).includes('eventraft_store_refused_appends 1') ? true : undefined));
    }
    await new EventraftClient({ endpoints: [c.url(leader)] }).appendToStream('waiting', [{ type: 'Created', data: {} }]);

    // Thawed, the node serves the first attempt, which the stream now satisfies: it reaches the
    // log, and is refused as its copy was (the client heard "refused"), not stored.
    c.signal(held, 'SIGCONT');
    await until('the first attempt to be applied', async () => ((await committedThrough(held)) === 1 ? true : undefined));
    const stream = await new EventraftClient({ endpoints: [c.url(leader)] }).readStream('waiting');
    expect(stream.events.map((e) => e.type)).toEqual(['Created']);
    // Sent once more, the same append gets the same answer, marked as repeated.
    const again = await fetch(`${c.url(other)}/v1/streams/waiting/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ expectedVersion: 'exists', events: waiting }) });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: 'WrongExpectedVersion', stream: 'waiting', expected: 'exists', actual: -1, repeated: true, detail: expect.stringContaining('was refused before') as unknown });
    fixture.passed();
  }, 60_000);
});
