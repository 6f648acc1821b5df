import type { DomainModule, ProjectionRows, RecordedEvent } from '../core/eventstore/index.ts';

/**
 * Users: Register, ChangeEmail. UserRegistered shows schema versioning: version 1 stored a `name`;
 * version 2 has `displayName` and `marketingOptIn`. Version 1 events stay stored as written and
 * are read as version 2 through the upcaster.
 */
export interface UserState {
  readonly registered: boolean;
  readonly email: string | null;
  readonly displayName: string | null;
}

const email = { type: 'string', minLength: 3, maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+$' } as const;
const displayName = { type: 'string', minLength: 1, maxLength: 200 } as const;

export const user: DomainModule<UserState> = {
  type: 'user',
  initialState: { registered: false, email: null, displayName: null },
  commands: {
    Register: { type: 'object', additionalProperties: false, required: ['email', 'displayName'], properties: { email, displayName, marketingOptIn: { type: 'boolean' } } },
    ChangeEmail: { type: 'object', additionalProperties: false, required: ['email'], properties: { email } },
  },
  events: {
    UserRegistered: {
      1: {
        schema: { type: 'object', additionalProperties: false, required: ['email', 'name'], properties: { email, name: displayName } },
        upcast: (data) => {
          const v1 = data as { email: string; name: string };
          return { email: v1.email, displayName: v1.name, marketingOptIn: false };
        },
      },
      2: { schema: { type: 'object', additionalProperties: false, required: ['email', 'displayName', 'marketingOptIn'], properties: { email, displayName, marketingOptIn: { type: 'boolean' } } } },
    },
    UserEmailChanged: { 1: { schema: { type: 'object', additionalProperties: false, required: ['email'], properties: { email } } } },
  },
  decide(command, state) {
    const data = command.data as { email?: string; displayName?: string; marketingOptIn?: boolean };
    switch (command.type) {
      case 'Register':
        if (state.registered) return { ok: false, code: 'AlreadyRegistered', detail: 'this user is registered already' };
        return { ok: true, events: [{ type: 'UserRegistered', data: { email: data.email as string, displayName: data.displayName as string, marketingOptIn: data.marketingOptIn ?? false } }] };
      case 'ChangeEmail':
        if (!state.registered) return { ok: false, code: 'NotRegistered', detail: 'register the user first' };
        if (state.email === data.email) return { ok: false, code: 'EmailUnchanged', detail: 'that is the current email' };
        return { ok: true, events: [{ type: 'UserEmailChanged', data: { email: data.email as string } }] };
      default:
        return { ok: false, code: 'UnknownCommand', detail: command.type };
    }
  },
  evolve(state, event) {
    const data = event.data as { email?: string; displayName?: string };
    switch (event.type) {
      case 'UserRegistered':
        return { registered: true, email: data.email ?? null, displayName: data.displayName ?? null };
      case 'UserEmailChanged':
        return { ...state, email: data.email ?? state.email };
      default:
        return state;
    }
  },
  projections: [
    {
      // Rows keyed by email: { userId, displayName }. Internal rows "user/<id>" remember each
      // user's current email, to remove the old row when it changes.
      name: 'users-by-email',
      apply(event: RecordedEvent, rows: ProjectionRows) {
        if (!event.stream.startsWith('user-')) return;
        const id = event.stream.slice('user-'.length);
        const data = event.data as { email?: string; displayName?: string };
        if (data.email === undefined) return;
        if (event.type === 'UserRegistered') {
          rows.set(`user/${id}`, { email: data.email, displayName: data.displayName ?? null });
          rows.set(data.email, { userId: id, displayName: data.displayName ?? null });
        } else if (event.type === 'UserEmailChanged') {
          const current = rows.get(`user/${id}`) as { email: string; displayName: string | null } | undefined;
          if (current === undefined) return;
          rows.set(current.email, undefined);
          rows.set(`user/${id}`, { ...current, email: data.email });
          rows.set(data.email, { userId: id, displayName: current.displayName });
        }
      },
    },
  ],
};

export default user;
