import { describe, expect, it } from '@jest/globals';
import { derivedEventId } from '../../node/shell/domains/index.ts';
import { clusterPerTest } from './support/cluster-fixture.ts';
import { getJson, readStream, until, waitForLeader } from './support/node-cluster.ts';
import type { ClusterView } from './support/node-cluster.ts';

const fixture = clusterPerTest();

interface CommandAnswer {
  readonly version?: number;
  readonly duplicate?: boolean;
  readonly events?: { id: string; type: string; data: { amount?: number } }[];
  readonly code?: string;
  readonly kind?: string;
}

const json = { 'content-type': 'application/json' };

function command(base: string, path: string, body: unknown, key?: string): Promise<{ status: number; body: CommandAnswer }> {
  return getJson(`${base}/v1/aggregates/${path}`, { method: 'POST', headers: key === undefined ? json : { ...json, 'idempotency-key': key }, body: JSON.stringify(body) });
}

describe('aggregates over HTTP on a 3-node cluster', () => {
  it('runs commands, answers rule violations with the domain code, and applies a retried command once', async () => {
    const c = await fixture.start(141);
    const leader = await waitForLeader(c);
    const follower = c.specs.map((s) => s.id).find((id) => id !== leader) as string;
    const base = c.url(follower); // commands work through any node

    expect((await command(base, 'account/acc1/commands/Open', { owner: 'alice' }, 'open-1')).status).toBe(200);
    const deposit = await command(base, 'account/acc1/commands/Deposit', { amount: 100 }, 'dep-1');
    expect(deposit).toMatchObject({ status: 200, body: { version: 1, duplicate: false, events: [{ type: 'MoneyDeposited', data: { amount: 100 } }] } });
    // The same key again: the original events, nothing appended.
    const again = await command(c.url(leader), 'account/acc1/commands/Deposit', { amount: 100 }, 'dep-1');
    expect(again).toMatchObject({ status: 200, body: { version: 1, duplicate: true } });
    expect(again.body.events?.map((e) => e.id)).toEqual(deposit.body.events?.map((e) => e.id));

    const overdraw = await command(base, 'account/acc1/commands/Withdraw', { amount: 101 }, 'w-1');
    expect(overdraw).toMatchObject({ status: 422, body: { code: 'InsufficientFunds', kind: 'DomainRuleViolation' } });
    expect((await command(base, 'account/acc1/commands/Withdraw', { amount: 40 }, 'w-2')).body.version).toBe(2);

    const state = await getJson<{ version: number; state: unknown }>(`${base}/v1/aggregates/account/acc1`);
    expect(state.body).toEqual({ type: 'account', id: 'acc1', version: 2, state: { open: true, owner: 'alice', balance: 60 } });
    const batch = await getJson<{ aggregates: { id: string; version: number }[] }>(`${base}/v1/aggregates/account?ids=acc1,nobody&consistency=eventual`);
    expect(batch.body.aggregates.map((a) => [a.id, a.version])).toEqual([['acc1', 2], ['nobody', -1]]);

    const problems: [string, unknown, number, string][] = [
      ['account/acc1/commands/Deposit', { amount: 'lots' }, 400, 'InvalidCommand'],
      ['account/acc1/commands/Explode', {}, 404, 'UnknownCommand'],
      ['ledger/l1/commands/Open', {}, 404, 'UnknownAggregateType'],
      ['account/acc2/commands/Deposit', { amount: 1 }, 422, 'AccountNotOpen'],
      ['account/acc1/commands/Open', { owner: 'bob' }, 422, 'AccountAlreadyOpen'],
    ];
    for (const [path, body, status, code] of problems) {
      const res = await command(base, path, body);
      expect({ path, status: res.status, code: res.body.code }).toEqual({ path, status, code });
    }
    expect((await getJson<{ code: string }>(`${base}/v1/aggregates/account/nobody`)).body.code).toBe('AggregateNotFound');
    expect((await getJson<{ version: number }>(`${base}/v1/aggregates/account/acc1`)).body.version).toBe(2);
    fixture.passed();
  }, 60_000);

  it('stores old event versions as written, serves them upcast, and rejects events that break their schema', async () => {
    const c = await fixture.start(151);
    const leader = await waitForLeader(c);
    const base = c.url(leader);
    // A version 1 event, as an older release wrote it.
    const v1 = await getJson(`${base}/v1/streams/user-u1/events`, { method: 'POST', headers: json, body: JSON.stringify({ events: [{ type: 'UserRegistered', schemaVersion: 1, data: { email: 'old@x.io', name: 'Old Timer' } }] }) });
    expect(v1.status).toBe(201);
    const read = await readStream(base, 'user-u1');
    expect(read.body.events[0]).toMatchObject({ type: 'UserRegistered', schemaVersion: 2, data: { email: 'old@x.io', displayName: 'Old Timer', marketingOptIn: false } });
    const aggregate = await getJson<{ state: unknown }>(`${base}/v1/aggregates/user/u1`);
    expect(aggregate.body.state).toEqual({ registered: true, email: 'old@x.io', displayName: 'Old Timer' });
    expect((await command(base, 'user/u1/commands/ChangeEmail', { email: 'new@x.io' })).status).toBe(200);

    const bad = await getJson<{ code: string }>(`${base}/v1/streams/user-u2/events`, { method: 'POST', headers: json, body: JSON.stringify({ events: [{ type: 'UserRegistered', schemaVersion: 2, data: { email: 'nope' } }] }) });
    expect([bad.status, bad.body.code]).toEqual([400, 'EventSchemaViolation']);
    const unknownVersion = await getJson<{ code: string }>(`${base}/v1/streams/user-u2/events`, { method: 'POST', headers: json, body: JSON.stringify({ events: [{ type: 'UserRegistered', schemaVersion: 9, data: {} }] }) });
    expect([unknownVersion.status, unknownVersion.body.code]).toEqual([400, 'EventSchemaViolation']);
    expect((await readStream(base, 'user-u2')).body.version).toBe(-1);
    // Without a schemaVersion, a declared type is taken at its latest version.
    const latest = await getJson(`${base}/v1/streams/user-u3/events`, { method: 'POST', headers: json, body: JSON.stringify({ events: [{ type: 'UserRegistered', data: { email: 'u3@x.io', displayName: 'U3', marketingOptIn: true } }] }) });
    expect(latest.status).toBe(201);
    expect((await readStream(base, 'user-u3')).body.events[0]).toMatchObject({ schemaVersion: 2 });
    fixture.passed();
  }, 60_000);

  it('serves projections: a strong read on a follower sees a command just acknowledged by the leader', async () => {
    const c = await fixture.start(171);
    const leader = await waitForLeader(c);
    const followers = c.specs.map((s) => s.id).filter((id) => id !== leader);
    expect((await command(c.url(leader), 'account/p1/commands/Open', { owner: 'carol' })).status).toBe(200);
    for (let i = 1; i <= 20; i++) {
      expect((await command(c.url(leader), 'account/p1/commands/Deposit', { amount: 1 })).status).toBe(200);
      const row = await getJson<{ value: unknown; checkpoint: number }>(`${c.url(followers[i % 2] as string)}/v1/projections/accounts-by-owner/carol`);
      // The whole answer, so that a failure shows the problem's code and detail.
      expect(row).toMatchObject({ status: 200, body: { value: { accounts: { p1: i } } } });
    }
    expect((await command(c.url(leader), 'user/u9/commands/Register', { email: 'dee@x.io', displayName: 'Dee' })).status).toBe(200);
    const byEmail = await getJson<{ value: unknown }>(`${c.url(followers[0] as string)}/v1/projections/users-by-email/${encodeURIComponent('dee@x.io')}`);
    expect(byEmail.body.value).toEqual({ userId: 'u9', displayName: 'Dee' });
    // Keys are decoded once: a '%' in a key is just a character.
    expect((await command(c.url(leader), 'user/u10/commands/Register', { email: '100%pure@x.io', displayName: 'Pure' })).status).toBe(200);
    const percent = await getJson<{ value: unknown }>(`${c.url(leader)}/v1/projections/users-by-email/${encodeURIComponent('100%pure@x.io')}`);
    expect(percent.body.value).toEqual({ userId: 'u10', displayName: 'Pure' });
    expect((await getJson<{ code: string }>(`${c.url(leader)}/v1/projections/users-by-email/nobody@x.io`)).body.code).toBe('RowNotFound');
    expect((await getJson<{ code: string }>(`${c.url(leader)}/v1/projections/nope/x`)).body.code).toBe('UnknownProjection');

    // A rebuild replays the whole log into the same rows.
    expect((await getJson(`${c.url(leader)}/v1/projections/accounts-by-owner/rebuild`, { method: 'POST' })).status).toBe(202);
    const rebuilt = await getJson<{ value: unknown }>(`${c.url(leader)}/v1/projections/accounts-by-owner/carol`);
    expect(rebuilt.body.value).toEqual({ accounts: { p1: 20 } });
    const list = await getJson<{ projections: { name: string; lag: number; state: string }[] }>(`${c.url(leader)}/v1/projections`);
    expect(list.body.projections.map((p) => [p.name, p.lag, p.state])).toEqual([['accounts-by-owner', 0, 'running'], ['users-by-email', 0, 'running']]);
    expect(await (await fetch(`${c.url(leader)}/metrics`)).text()).toMatch(/eventraft_projection_lag_events\{projection="users-by-email"\} 0/);
    fixture.passed();
  }, 60_000);

  it('concurrent commands on one aggregate through one node take turns: no log entry is spent on a conflict', async () => {
    const c = await fixture.start(251);
    const leader = await waitForLeader(c);
    const follower = c.specs.map((s) => s.id).find((id) => id !== leader) as string;
    for (const node of [leader, follower]) {
      const account = `t-${node}`;
      expect((await command(c.url(node), `account/${account}/commands/Open`, { owner: 'tess' })).status).toBe(200);
      const commitBefore = (await getJson<ClusterView>(`${c.url(leader)}/v1/cluster`)).body.commitIndex;
      const answers = await Promise.all(Array.from({ length: 30 }, () => command(c.url(node), `account/${account}/commands/Deposit`, { amount: 1 })));
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
      expect(answers.map((a) => a.body.version).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      // One entry per command: had they decided at once on the same version, the losers' appends
      // would each have taken an entry to fail.
      const commitAfter = (await getJson<ClusterView>(`${c.url(leader)}/v1/cluster`)).body.commitIndex;
      expect(commitAfter - commitBefore).toBe(30);
    }
    fixture.passed();
  }, 60_000);

  it('50 clients withdrawing from one account while the leader is killed: never overdrawn, no command twice, every acknowledged one kept', async () => {
    const c = await fixture.start(161);
    const leader = await waitForLeader(c);
    expect((await command(c.url(leader), 'account/shared/commands/Open', { owner: 'pool' }, 'open')).status).toBe(200);
    expect((await command(c.url(leader), 'account/shared/commands/Deposit', { amount: 1000 }, 'fund')).status).toBe(200);

    const outcome = new Map<string, 'applied' | 'refused' | 'unknown'>();
    let started = 0;
    let killed = false;
    const ids = c.specs.map((s) => s.id);
    /** One withdrawal, retried with the same key on any node until it gets a final answer. */
    const withdraw = async (key: string, client: number): Promise<void> => {
      for (let attempt = 0; attempt < 80; attempt++) {
        const id = ids[(client + attempt) % ids.length] as string;
        if (!c.running(id)) continue;
        try {
          const res = await command(c.url(id), 'account/shared/commands/Withdraw', { amount: 15 }, key);
          if (res.status === 200) return void outcome.set(key, 'applied');
          if (res.status === 422) return void outcome.set(key, 'refused');
        } catch {
          // Connection refused or reset (the node was killed): retry elsewhere.
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      outcome.set(key, 'unknown');
    };
    await Promise.all(
      Array.from({ length: 50 }, async (_, client) => {
        for (let n = 0; n < 2; n++) {
          if (++started > 25 && !killed) {
            killed = true;
            c.signal(leader, 'SIGKILL');
          }
          await withdraw(`client${client}-w${n}`, client);
        }
      }),
    );
    await c.stop(leader, 'SIGKILL');
    c.start(leader);
    await waitForLeader(c);

    const applied = [...outcome].filter(([, o]) => o === 'applied').map(([k]) => k);
    const refused = [...outcome].filter(([, o]) => o === 'refused').map(([k]) => k);
    expect(outcome.size).toBe(100);
    expect([...outcome.values()].filter((o) => o === 'unknown')).toEqual([]);
    for (const s of c.specs) {
      const stream = await until(`${s.id} to read the account`, async () => {
        const r = await readStream(c.url(s.id), 'account-shared');
        return r.status === 200 ? r.body : undefined;
      });
      // Replay the history: the balance never goes below zero at any point.
      let balance = 0;
      for (const e of stream.events) {
        const amount = (e.data as { amount?: number }).amount ?? 0;
        balance += e.type === 'MoneyDeposited' ? amount : e.type === 'MoneyWithdrawn' ? -amount : 0;
        expect(balance).toBeGreaterThanOrEqual(0);
      }
      const withdrawals = stream.events.filter((e) => e.type === 'MoneyWithdrawn').map((e) => e.id);
      // Each acknowledged withdrawal is there exactly once; no refused one is.
      expect(new Set(withdrawals).size).toBe(withdrawals.length);
      expect(withdrawals.sort()).toEqual(applied.map((k) => derivedEventId(k, 'account-shared', 0)).sort());
      expect(refused.length + applied.length).toBe(100);
      expect(applied.length).toBe(Math.min(100, Math.floor(1000 / 15)));
    }
    process.stdout.write(`withdrawals with a leader kill: ${applied.length} applied, ${refused.length} refused for insufficient funds\n`);
    fixture.passed();
  }, 180_000);
});
