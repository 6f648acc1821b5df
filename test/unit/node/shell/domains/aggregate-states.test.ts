import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { EventStoreStateMachine, MemoryEventStorage, encodeCommand, proposedEvent } from '../../../../../node/core/eventstore/index.ts';
import type { DomainModule, Json } from '../../../../../node/core/eventstore/index.ts';
import type { LogIndex } from '../../../../../node/core/raft/index.ts';
import { account } from '../../../../../node/domains/account.ts';
import type { AccountState } from '../../../../../node/domains/account.ts';
import { AggregateStates, DomainRegistry } from '../../../../../node/shell/domains/index.ts';

/** The account domain, counting the events it folds. */
function countingAccount(): { module: DomainModule<AccountState>; folded: () => number } {
  let folded = 0;
  const module: DomainModule<AccountState> = {
    ...account,
    evolve(state, event) {
      folded++;
      return account.evolve(state, event);
    },
  };
  return { module, folded: () => folded };
}

function setUp(maxAggregates?: number): { sm: EventStoreStateMachine; registry: DomainRegistry; states: AggregateStates; folded: () => number; append: (id: string, type: string, amount?: number) => void } {
  const sm = new EventStoreStateMachine(new MemoryEventStorage());
  const { module, folded } = countingAccount();
  const registry = new DomainRegistry([module]);
  const states = new AggregateStates({ events: sm, registry, ...(maxAggregates === undefined ? {} : { maxAggregates }) });
  const append = (id: string, type: string, amount?: number): void => {
    const index = (sm.appliedIndex + 1) as LogIndex;
    const data: Json = type === 'AccountOpened' ? { owner: 'o' } : { amount: amount ?? 0 };
    const cmd = { type: 'Append' as const, timestamp: 1, appends: [{ stream: `account-${id}`, expectedVersion: 'any' as const, events: [proposedEvent({ id: `e${index}`, type, data })] }] };
    const outcome = sm.apply(index, `r${index}`, encodeCommand(cmd));
    if (!outcome.ok) throw new Error(JSON.stringify(outcome));
  };
  return { sm, registry, states, folded, append };
}

describe('AggregateStates', () => {
  it('folds only the events appended since an aggregate was last loaded', () => {
    const { states, folded, append } = setUp();
    append('a', 'AccountOpened');
    for (let i = 0; i < 5; i++) append('a', 'MoneyDeposited', 10);
    expect(states.load('account', 'a')).toEqual({ type: 'account', id: 'a', version: 5, state: { open: true, owner: 'o', balance: 50 } });
    expect(folded()).toBe(6);
    append('a', 'MoneyWithdrawn', 20);
    append('a', 'MoneyDeposited', 1);
    expect(states.load('account', 'a')).toMatchObject({ version: 7, state: { balance: 31 } });
    expect(folded()).toBe(8);
    // Nothing new: nothing folded.
    expect(states.load('account', 'a').version).toBe(7);
    expect(folded()).toBe(8);
    // An aggregate without events is not kept.
    expect(states.load('account', 'none')).toEqual({ type: 'account', id: 'none', version: -1, state: account.initialState });
    expect(states.size).toBe(1);
  });

  it('gives what a fold of the whole stream gives, for any interleaving of appends and loads', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('x', 'y', 'z'), fc.constantFrom('deposit', 'withdraw', 'load')), { maxLength: 60 }), fc.integer({ min: 1, max: 3 }), (steps, keep) => {
        const { sm, registry, states, append } = setUp(keep);
        for (const id of ['x', 'y', 'z']) append(id, 'AccountOpened');
        for (const [id, step] of steps) {
          if (step === 'deposit') append(id, 'MoneyDeposited', 7);
          else if (step === 'withdraw') append(id, 'MoneyWithdrawn', 3);
          else expect(states.load('account', id)).toEqual(registry.load(sm, 'account', id));
        }
        for (const id of ['x', 'y', 'z']) expect(states.load('account', id)).toEqual(registry.load(sm, 'account', id));
        expect(states.size).toBeLessThanOrEqual(keep);
      }),
    );
  });

  it('keeps the most recently loaded aggregates up to its bound', () => {
    const { states, folded, append } = setUp(2);
    for (const id of ['a', 'b', 'c']) append(id, 'AccountOpened');
    states.load('account', 'a');
    states.load('account', 'b');
    states.load('account', 'a'); // a is now the most recent
    states.load('account', 'c'); // evicts b
    expect(states.size).toBe(2);
    const before = folded();
    states.load('account', 'a');
    expect(folded()).toBe(before);
    states.load('account', 'b');
    expect(folded()).toBe(before + 1);
  });

  it('peeks only at aggregates it keeps: their state as of now, without folding the others', () => {
    const { sm, registry, states, folded, append } = setUp(1);
    append('a', 'AccountOpened');
    append('b', 'AccountOpened');
    expect(states.peek('account', 'a')).toBeUndefined();
    expect(folded()).toBe(0);
    states.load('account', 'a');
    append('a', 'MoneyDeposited', 4);
    // Kept: folded on through the deposit only.
    const peeked = states.peek('account', 'a');
    expect(folded()).toBe(2);
    expect(peeked).toMatchObject({ version: 1, state: { balance: 4 } });
    expect(peeked).toEqual(registry.load(sm, 'account', 'a'));
    // Loading b evicts a (a bound of 1): a peek at a finds nothing again.
    states.load('account', 'b');
    expect(states.peek('account', 'a')).toBeUndefined();
    expect(states.peek('account', 'b')).toMatchObject({ version: 0 });
    expect(states.peek('account', 'none')).toBeUndefined();
  });

  it('keeps nothing with a bound of 0, and still loads correctly', () => {
    const { states, append } = setUp(0);
    append('a', 'AccountOpened');
    append('a', 'MoneyDeposited', 3);
    expect(states.load('account', 'a')).toMatchObject({ version: 1, state: { balance: 3 } });
    expect(states.load('account', 'a')).toMatchObject({ version: 1, state: { balance: 3 } });
    expect(states.size).toBe(0);
  });

  it('folds a stream of large events in pages of about 8 MiB, each event once', () => {
    // Measures the pages the fold reads.
    class MeasuredStorage extends MemoryEventStorage {
      readonly pages: number[] = [];
      override readStream(...args: Parameters<MemoryEventStorage['readStream']>): ReturnType<MemoryEventStorage['readStream']> {
        const page = super.readStream(...args);
        this.pages.push(page.reduce((sum, e) => sum + e.json.length, 0));
        return page;
      }
    }
    const storage = new MeasuredStorage();
    const sm = new EventStoreStateMachine(storage);
    const registry = new DomainRegistry([account]);
    const note = 'x'.repeat(200_000);
    for (let i = 0; i <= 50; i++) {
      const index = (sm.appliedIndex + 1) as LogIndex;
      const e = i === 0 ? proposedEvent({ id: `e${index}`, type: 'AccountOpened', data: { owner: 'o' } }) : proposedEvent({ id: `e${index}`, type: 'MoneyDeposited', data: { amount: 1 }, metadata: { note } });
      const outcome = sm.apply(index, `r${index}`, encodeCommand({ type: 'Append', timestamp: 1, appends: [{ stream: 'account-big', expectedVersion: 'any', events: [e] }] }));
      expect(outcome.ok).toBe(true);
    }
    // 50 events of ~200 KB: about 10 MB, more than one page.
    expect(registry.load(sm, 'account', 'big')).toEqual({ type: 'account', id: 'big', version: 50, state: { open: true, owner: 'o', balance: 50 } });
    expect(storage.pages.filter((bytes) => bytes > 0).length).toBeGreaterThan(1);
    expect(Math.max(...storage.pages)).toBeLessThan(8 * 2 ** 20 + 250_000);
  });

  it('does not fold on from a state newer than the store (a store that went back)', () => {
    const { sm, states, append } = setUp();
    append('a', 'AccountOpened');
    const older = sm.snapshotBytes();
    const olderIndex = sm.appliedIndex;
    append('a', 'MoneyDeposited', 5);
    expect(states.load('account', 'a')).toMatchObject({ version: 1, state: { balance: 5 } });
    sm.restore(olderIndex, older);
    expect(states.load('account', 'a')).toMatchObject({ version: 0, state: { balance: 0 } });
  });
});
