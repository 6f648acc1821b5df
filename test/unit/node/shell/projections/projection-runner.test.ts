import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { open as lmdbOpen } from 'lmdb';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { EventStoreStateMachine, MemoryEventStorage, encodeCommand, proposedEvent } from '../../../../../node/core/eventstore/index.ts';
import type { DomainModule, Json } from '../../../../../node/core/eventstore/index.ts';
import type { LogIndex } from '../../../../../node/core/raft/index.ts';
import { account } from '../../../../../node/domains/account.ts';
import { user } from '../../../../../node/domains/user.ts';
import { DomainRegistry } from '../../../../../node/shell/domains/index.ts';
import { ProjectionFailedError, ProjectionLaggingError, ProjectionRunner, ProjectionStore } from '../../../../../node/shell/projections/index.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';

const dirs = new TempDirs();
const open: { store: ProjectionStore; runner: ProjectionRunner }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    o.runner.stop();
    await o.store.close();
  }
});
afterAll(() => dirs.cleanup());
const log = pino({ level: 'silent' });

function append(sm: EventStoreStateMachine, stream: string, events: { type: string; data: Json; schemaVersion?: number }[]): void {
  const index = (sm.appliedIndex + 1) as LogIndex;
  const cmd = { type: 'Append' as const, timestamp: 1, appends: [{ stream, expectedVersion: 'any' as const, events: events.map((e, i) => proposedEvent({ id: `${stream}-${index}-${i}`, ...e })) }] };
  const outcome = sm.apply(index, `r${index}`, encodeCommand(cmd));
  if (!outcome.ok) throw new Error(JSON.stringify(outcome));
}

async function runner(dir: string, sm: EventStoreStateMachine, modules: DomainModule<never>[] = [account as never, user as never], registry?: Registry) {
  const store = ProjectionStore.open(dir);
  const r = new ProjectionRunner({ events: sm, domains: new DomainRegistry(modules), store, log, batchSize: 3, ...(registry === undefined ? {} : { registry }) });
  open.push({ store, runner: r });
  return Promise.resolve({ store, runner: r });
}

describe('ProjectionRunner', () => {
  it('processes every event in order, upcast, in batches, and serves rows once caught up', async () => {
    const sm = new EventStoreStateMachine(new MemoryEventStorage());
    append(sm, 'user-1', [{ type: 'UserRegistered', schemaVersion: 1, data: { email: 'old@x.io', name: 'Old' } }]);
    append(sm, 'account-a', [{ type: 'AccountOpened', data: { owner: 'alice' } }]);
    for (let i = 0; i < 10; i++) append(sm, 'account-a', [{ type: 'MoneyDeposited', data: { amount: 10 } }]);
    append(sm, 'user-1', [{ type: 'UserEmailChanged', data: { email: 'new@x.io' } }]);
    const registry = new Registry();
    const { runner: r } = await runner(await dirs.make(), sm, undefined, registry);
    await r.waitFor('accounts-by-owner', sm.nextPosition, 5000);
    await r.waitFor('users-by-email', sm.nextPosition, 5000);
    expect(r.get('accounts-by-owner', 'alice')).toEqual({ accounts: { a: 100 } });
    // The version 1 registration was upcast before the handler saw it.
    expect(r.get('users-by-email', 'new@x.io')).toEqual({ userId: '1', displayName: 'Old' });
    expect(r.get('users-by-email', 'old@x.io')).toBeUndefined();
    expect(r.status()).toEqual([
      { name: 'accounts-by-owner', checkpoint: 13, lag: 0, state: 'running' },
      { name: 'users-by-email', checkpoint: 13, lag: 0, state: 'running' },
    ]);
    expect(await registry.getSingleMetricAsString('eventraft_projection_lag_events')).toMatch(/projection="accounts-by-owner"} 0/);
  });

  it('resumes from its checkpoint after a restart, and a rebuild gives the same rows', async () => {
    const dir = await dirs.make();
    const sm = new EventStoreStateMachine(new MemoryEventStorage());
    append(sm, 'account-a', [{ type: 'AccountOpened', data: { owner: 'bob' } }, { type: 'MoneyDeposited', data: { amount: 5 } }]);
    const first = await runner(dir, sm);
    await first.runner.waitFor('accounts-by-owner', sm.nextPosition, 5000);
    first.runner.stop();
    await first.store.close();
    open.splice(0);

    append(sm, 'account-a', [{ type: 'MoneyWithdrawn', data: { amount: 2 } }]);
    const second = await runner(dir, sm);
    expect(second.runner.status()[0]?.checkpoint).toBe(2);
    await second.runner.waitFor('accounts-by-owner', sm.nextPosition, 5000);
    expect(second.runner.get('accounts-by-owner', 'bob')).toEqual({ accounts: { a: 3 } });
    second.runner.rebuild('accounts-by-owner');
    expect(second.runner.get('accounts-by-owner', 'bob')).toBeUndefined();
    await second.runner.waitFor('accounts-by-owner', sm.nextPosition, 5000);
    expect(second.runner.get('accounts-by-owner', 'bob')).toEqual({ accounts: { a: 3 } });
  });

  it('stops a projection whose handler throws, keeps what came before, and restarts on rebuild', async () => {
    let broken = true;
    const fragile: DomainModule = {
      ...(account as unknown as DomainModule),
      type: 'fragile',
      events: {},
      projections: [
        {
          name: 'counts',
          apply(event, rows) {
            if (broken && event.type === 'Poison') throw new Error('cannot digest');
            rows.set('count', ((rows.get('count') as number | undefined) ?? 0) + 1);
          },
        },
      ],
    };
    const sm = new EventStoreStateMachine(new MemoryEventStorage());
    append(sm, 's', [{ type: 'Fine', data: 1 }, { type: 'Fine', data: 2 }, { type: 'Poison', data: 3 }, { type: 'Fine', data: 4 }]);
    const { runner: r } = await runner(await dirs.make(), sm, [fragile as never]);
    await expect(r.waitFor('counts', sm.nextPosition, 5000)).rejects.toThrow(ProjectionFailedError);
    expect(r.status()[0]).toMatchObject({ checkpoint: 2, state: 'failed', error: expect.stringMatching(/position 2: cannot digest/) as unknown });
    expect(r.get('counts', 'count')).toBe(2);
    broken = false;
    r.rebuild('counts');
    await r.waitFor('counts', sm.nextPosition, 5000);
    expect(r.get('counts', 'count')).toBe(4);
  });

  it('reads large events in smaller batches, about batchBytes of JSON per round, and still processes each once, in order', async () => {
    // Every event a projection round processes is handled in one turn of the event loop; a counter
    // moved on by setImmediate tells the rounds apart.
    let turn = 0;
    let ticking = true;
    const tick = (): void => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    tick();
    const seen: { position: number; turn: number }[] = [];
    const sized: DomainModule = {
      ...(account as unknown as DomainModule),
      type: 'sized',
      events: {},
      projections: [
        {
          name: 'positions',
          apply(event) {
            seen.push({ position: event.position, turn });
          },
        },
      ],
    };
    const sm = new EventStoreStateMachine(new MemoryEventStorage());
    const text = 'x'.repeat(10_000);
    for (let i = 0; i < 40; i++) append(sm, `s${String(i % 3)}`, [{ type: 'Big', data: { text } }]);
    for (let i = 0; i < 60; i++) append(sm, 's', [{ type: 'Small', data: i }]);
    const store = ProjectionStore.open(await dirs.make());
    const r = new ProjectionRunner({ events: sm, domains: new DomainRegistry([sized]), store, log, batchSize: 500, batchBytes: 50_000 });
    open.push({ store, runner: r });
    r.notify();
    await r.waitFor('positions', sm.nextPosition, 5000);
    ticking = false;
    expect(seen.map((e) => e.position)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const rounds = new Map<number, number[]>();
    for (const e of seen) rounds.set(e.turn, [...(rounds.get(e.turn) ?? []), e.position]);
    // Each big event is ~10 KB of JSON: a round takes five (the fifth reaches 50 KB), never all 40;
    // the 60 small ones then go in one round (batchSize allows 500).
    expect([...rounds.values()].map((positions) => positions.length)).toEqual([5, 5, 5, 5, 5, 5, 5, 5, 60]);
  });

  it('gives every row the position of the last event that set it, and tells listeners after the commit', async () => {
    const sm = new EventStoreStateMachine(new MemoryEventStorage());
    append(sm, 'account-a', [{ type: 'AccountOpened', data: { owner: 'alice' } }]); // 0
    append(sm, 'user-1', [{ type: 'UserRegistered', schemaVersion: 2, data: { email: 'a@x.io', displayName: 'A', marketingOptIn: false } }]); // 1
    append(sm, 'account-a', [{ type: 'MoneyDeposited', data: { amount: 7 } }]); // 2
    append(sm, 'user-1', [{ type: 'UserEmailChanged', data: { email: 'b@x.io' } }]); // 3: a@x.io deleted
    const { runner: r } = await runner(await dirs.make(), sm);
    const heard: string[] = [];
    r.listen({
      rowsChanged: (name, changes) => {
        // Listeners hear of rows already on disk.
        for (const [key, { version }] of changes) heard.push(`${name}/${key}@${version}:${r.version(name, key)}`);
      },
      rebuilt: (name) => heard.push(`rebuilt ${name}`),
    });
    await r.waitFor('accounts-by-owner', sm.nextPosition, 5000);
    await r.waitFor('users-by-email', sm.nextPosition, 5000);
    expect(r.row('accounts-by-owner', 'alice')).toEqual({ version: 2, value: { accounts: { a: 7 } } });
    expect(r.row('users-by-email', 'b@x.io')).toEqual({ version: 3, value: { userId: '1', displayName: 'A' } });
    // A deleted row keeps the version of its deletion; a row never set is at -1.
    expect(r.row('users-by-email', 'a@x.io')).toEqual({ version: 3, value: undefined });
    expect(r.row('users-by-email', 'nobody@x.io')).toEqual({ version: -1, value: undefined });
    expect(heard.sort()).toEqual([
      // Batches of 3 events: changes to one row within a batch are committed once.
      'accounts-by-owner/account/a@0:0',
      'accounts-by-owner/alice@2:2',
      'users-by-email/a@x.io@1:1',
      'users-by-email/a@x.io@3:3',
      'users-by-email/b@x.io@3:3',
      'users-by-email/user/1@1:1',
      'users-by-email/user/1@3:3',
    ]);

    heard.length = 0;
    r.rebuild('users-by-email');
    expect([r.rebuilding('users-by-email'), r.rebuilding('accounts-by-owner')]).toEqual([true, false]);
    expect(r.row('users-by-email', 'b@x.io')).toEqual({ version: -1, value: undefined });
    await r.waitFor('users-by-email', sm.nextPosition, 5000);
    expect(r.rebuilding('users-by-email')).toBe(false);
    expect(r.row('users-by-email', 'b@x.io')).toEqual({ version: 3, value: { userId: '1', displayName: 'A' } });
    expect(heard[0]).toBe('rebuilt users-by-email');
  });

  it('starts every projection over when its store was written before rows had versions', async () => {
    const dir = await dirs.make();
    const old = lmdbOpen({ path: dir, compression: false, maxDbs: 1000 });
    await old.openDB<number, string>({ name: 'checkpoints' }).put('accounts-by-owner', 2);
    await old.openDB<Json, string>({ name: 'rows:accounts-by-owner' }).put('bob', { accounts: { a: 5 } });
    await old.close();
    const sm = new EventStoreStateMachine(new MemoryEventStorage());
    append(sm, 'account-a', [{ type: 'AccountOpened', data: { owner: 'bob' } }, { type: 'MoneyDeposited', data: { amount: 5 } }]);
    const { runner: r } = await runner(dir, sm);
    expect(r.status()[0]?.checkpoint).toBe(0);
    expect(r.get('accounts-by-owner', 'bob')).toBeUndefined();
    await r.waitFor('accounts-by-owner', sm.nextPosition, 5000);
    expect(r.row('accounts-by-owner', 'bob')).toEqual({ version: 1, value: { accounts: { a: 5 } } });
  });

  it('reports lagging when it cannot catch up in time', async () => {
    const sm = new EventStoreStateMachine(new MemoryEventStorage());
    const { runner: r } = await runner(await dirs.make(), sm);
    await expect(r.waitFor('accounts-by-owner', 1, 50)).rejects.toThrow(ProjectionLaggingError);
    expect(() => r.get('nope', 'x')).toThrow(/no projection nope/);
  });
});
