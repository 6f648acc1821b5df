import { describe, expect, it } from '@jest/globals';
import type { DomainModule, Json, RecordedEvent } from '../../../../node/core/eventstore/index.ts';
import { account } from '../../../../node/domains/account.ts';
import type { AccountState } from '../../../../node/domains/account.ts';
import { user } from '../../../../node/domains/user.ts';
import type { UserState } from '../../../../node/domains/user.ts';

/** given events, when a command: the decision (events or the broken rule). */
function given<S>(module: DomainModule<S>, events: { type: string; data: Json }[]) {
  const state = events.reduce((s, e, version) => module.evolve(s, { ...e, version }), module.initialState);
  return {
    state,
    when: (type: string, data: Json) => module.decide({ type, data }, state),
  };
}

describe('account domain', () => {
  const opened = { type: 'AccountOpened', data: { owner: 'alice' } };
  it('opens once', () => {
    expect(given(account, []).when('Open', { owner: 'alice' })).toEqual({ ok: true, events: [opened] });
    expect(given(account, [opened]).when('Open', { owner: 'bob' })).toMatchObject({ ok: false, code: 'AccountAlreadyOpen' });
  });

  it('deposits and withdraws on an open account, never below zero', () => {
    const history = [opened, { type: 'MoneyDeposited', data: { amount: 100 } }, { type: 'MoneyWithdrawn', data: { amount: 30 } }];
    expect(given(account, history).state).toEqual({ open: true, owner: 'alice', balance: 70 } satisfies AccountState);
    expect(given(account, history).when('Withdraw', { amount: 70 })).toEqual({ ok: true, events: [{ type: 'MoneyWithdrawn', data: { amount: 70 } }] });
    expect(given(account, history).when('Withdraw', { amount: 71 })).toMatchObject({ ok: false, code: 'InsufficientFunds' });
    expect(given(account, []).when('Deposit', { amount: 5 })).toMatchObject({ ok: false, code: 'AccountNotOpen' });
    expect(given(account, []).when('Withdraw', { amount: 5 })).toMatchObject({ ok: false, code: 'AccountNotOpen' });
  });
});

describe('user domain', () => {
  it('registers once and changes the email only to a new one', () => {
    const registered = { type: 'UserRegistered', data: { email: 'a@x.io', displayName: 'Ann', marketingOptIn: false } };
    expect(given(user, []).when('Register', { email: 'a@x.io', displayName: 'Ann' })).toEqual({ ok: true, events: [registered] });
    expect(given(user, [registered]).when('Register', { email: 'b@x.io', displayName: 'B' })).toMatchObject({ ok: false, code: 'AlreadyRegistered' });
    expect(given(user, [registered]).when('ChangeEmail', { email: 'a@x.io' })).toMatchObject({ ok: false, code: 'EmailUnchanged' });
    expect(given(user, []).when('ChangeEmail', { email: 'a@x.io' })).toMatchObject({ ok: false, code: 'NotRegistered' });
    const changed = { type: 'UserEmailChanged', data: { email: 'new@x.io' } };
    expect(given(user, [registered]).when('ChangeEmail', { email: 'new@x.io' })).toEqual({ ok: true, events: [changed] });
    expect(given(user, [registered, changed]).state).toEqual({ registered: true, email: 'new@x.io', displayName: 'Ann' } satisfies UserState);
  });

  it('upcasts a version 1 UserRegistered to version 2', () => {
    const v1 = user.events.UserRegistered?.[1];
    expect(v1?.upcast?.({ email: 'old@x.io', name: 'Old Timer' })).toEqual({ email: 'old@x.io', displayName: 'Old Timer', marketingOptIn: false });
  });
});

describe('projections', () => {
  /** Runs a projection over events and returns its rows. */
  function project(module: DomainModule<never>, name: string, events: Partial<RecordedEvent>[]): Map<string, Json> {
    const projection = module.projections?.find((p) => p.name === name);
    if (projection === undefined) throw new Error(`no projection ${name}`);
    const rows = new Map<string, Json>();
    events.forEach((e, position) => {
      projection.apply({ id: `e${position}`, metadata: null, schemaVersion: 1, version: 0, position, timestamp: 0, stream: '', type: '', data: null, ...e }, {
        get: (k) => rows.get(k),
        set: (k, v) => (v === undefined ? rows.delete(k) : rows.set(k, v)),
      });
    });
    return rows;
  }

  it('accounts-by-owner keeps every account of an owner with its balance', () => {
    const rows = project(account as unknown as DomainModule<never>, 'accounts-by-owner', [
      { stream: 'account-1', type: 'AccountOpened', data: { owner: 'alice' } },
      { stream: 'account-2', type: 'AccountOpened', data: { owner: 'alice' } },
      { stream: 'account-1', type: 'MoneyDeposited', data: { amount: 50 } },
      { stream: 'account-2', type: 'MoneyDeposited', data: { amount: 7 } },
      { stream: 'account-1', type: 'MoneyWithdrawn', data: { amount: 20 } },
      { stream: 'user-9', type: 'UserRegistered', data: { email: 'x@y.z' } },
    ]);
    expect(rows.get('alice')).toEqual({ accounts: { 1: 30, 2: 7 } });
  });

  it('users-by-email moves a user to the new email', () => {
    const rows = project(user as unknown as DomainModule<never>, 'users-by-email', [
      { stream: 'user-1', type: 'UserRegistered', data: { email: 'a@x.io', displayName: 'Ann', marketingOptIn: false } },
      { stream: 'user-1', type: 'UserEmailChanged', data: { email: 'ann@x.io' } },
    ]);
    expect(rows.get('a@x.io')).toBeUndefined();
    expect(rows.get('ann@x.io')).toEqual({ userId: '1', displayName: 'Ann' });
  });
});
