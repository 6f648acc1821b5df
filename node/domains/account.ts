import type { DomainModule, Json, ProjectionRows, RecordedEvent } from '../core/eventstore/index.ts';

/**
 * Bank accounts: Open, Deposit, Withdraw. Amounts are integers (cents). A withdrawal never takes
 * the balance below zero, even under concurrent commands: each decision is appended with the
 * version it was made on, so a concurrent change makes it retry on the new balance.
 */
export interface AccountState {
  readonly open: boolean;
  readonly owner: string | null;
  readonly balance: number;
}

const amount = { type: 'object', additionalProperties: false, required: ['amount'], properties: { amount: { type: 'integer', minimum: 1, maximum: 1e12 } } } as const;
const owner = { type: 'string', minLength: 1, maxLength: 200 } as const;

export const account: DomainModule<AccountState> = {
  type: 'account',
  initialState: { open: false, owner: null, balance: 0 },
  commands: {
    Open: { type: 'object', additionalProperties: false, required: ['owner'], properties: { owner } },
    Deposit: amount,
    Withdraw: amount,
  },
  events: {
    AccountOpened: { 1: { schema: { type: 'object', additionalProperties: false, required: ['owner'], properties: { owner } } } },
    MoneyDeposited: { 1: { schema: amount } },
    MoneyWithdrawn: { 1: { schema: amount } },
  },
  decide(command, state) {
    const data = command.data as { owner?: string; amount?: number };
    switch (command.type) {
      case 'Open':
        if (state.open) return { ok: false, code: 'AccountAlreadyOpen', detail: `the account is already open, owned by ${String(state.owner)}` };
        return { ok: true, events: [{ type: 'AccountOpened', data: { owner: data.owner as string } }] };
      case 'Deposit':
        if (!state.open) return { ok: false, code: 'AccountNotOpen', detail: 'open the account first' };
        return { ok: true, events: [{ type: 'MoneyDeposited', data: { amount: data.amount as number } }] };
      case 'Withdraw': {
        if (!state.open) return { ok: false, code: 'AccountNotOpen', detail: 'open the account first' };
        const wanted = data.amount as number;
        if (wanted > state.balance) return { ok: false, code: 'InsufficientFunds', detail: `balance ${state.balance} is less than ${wanted}` };
        return { ok: true, events: [{ type: 'MoneyWithdrawn', data: { amount: wanted } }] };
      }
      default:
        return { ok: false, code: 'UnknownCommand', detail: command.type };
    }
  },
  evolve(state, event) {
    const data = event.data as { owner?: string; amount?: number };
    switch (event.type) {
      case 'AccountOpened':
        return { open: true, owner: data.owner ?? null, balance: 0 };
      case 'MoneyDeposited':
        return { ...state, balance: state.balance + (data.amount ?? 0) };
      case 'MoneyWithdrawn':
        return { ...state, balance: state.balance - (data.amount ?? 0) };
      default:
        return state;
    }
  },
  projections: [
    {
      // Rows keyed by owner: { accounts: { <account id>: balance } }. Internal rows
      // "account/<id>" remember each account's owner.
      name: 'accounts-by-owner',
      apply(event: RecordedEvent, rows: ProjectionRows) {
        if (!event.stream.startsWith('account-')) return;
        const id = event.stream.slice('account-'.length);
        const data = event.data as { owner?: string; amount?: number };
        if (event.type === 'AccountOpened' && data.owner !== undefined) {
          rows.set(`account/${id}`, { owner: data.owner });
          changeBalance(rows, data.owner, id, 0);
          return;
        }
        const ownerOf = (rows.get(`account/${id}`) as { owner: string } | undefined)?.owner;
        if (ownerOf === undefined) return;
        if (event.type === 'MoneyDeposited') changeBalance(rows, ownerOf, id, data.amount ?? 0);
        if (event.type === 'MoneyWithdrawn') changeBalance(rows, ownerOf, id, -(data.amount ?? 0));
      },
    },
  ],
};

function changeBalance(rows: ProjectionRows, owner: string, id: string, delta: number): void {
  const row = (rows.get(owner) as { accounts: Record<string, number> } | undefined) ?? { accounts: {} };
  const accounts: Record<string, Json> = { ...row.accounts, [id]: (row.accounts[id] ?? 0) + delta };
  rows.set(owner, { accounts });
}

export default account;
