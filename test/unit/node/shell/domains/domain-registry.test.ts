import { afterAll, describe, expect, it } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DomainModule, StoredEvent } from '../../../../../node/core/eventstore/index.ts';
import { account } from '../../../../../node/domains/account.ts';
import { user } from '../../../../../node/domains/user.ts';
import { DomainLoadError, DomainRegistry } from '../../../../../node/shell/domains/index.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

const stored = (type: string, schemaVersion: number, data: unknown): StoredEvent => {
  const event = { id: 'i', stream: 'user-1', type, data: data as never, metadata: null, schemaVersion, version: 0, position: 0, timestamp: 1 };
  return { event, json: JSON.stringify(event) };
};

describe('DomainRegistry', () => {
  const registry = new DomainRegistry([account, user]);

  it('checks command payloads and tells unknown commands apart', () => {
    expect(registry.checkCommand('account', 'Deposit', { amount: 5 })).toEqual([]);
    expect(registry.checkCommand('account', 'Deposit', { amount: -5 })).toEqual(['/amount must be >= 1']);
    expect(registry.checkCommand('account', 'Explode', {})).toBeUndefined();
    expect(registry.checkCommand('nope', 'Deposit', {})).toBeUndefined();
  });

  it('checks declared event types against their schema version and lets undeclared ones through', () => {
    expect(registry.checkEvent('UserRegistered', 2, { email: 'a@b.c', displayName: 'A', marketingOptIn: true })).toEqual([]);
    expect(registry.checkEvent('UserRegistered', 1, { email: 'a@b.c', name: 'A' })).toEqual([]);
    expect(registry.checkEvent('UserRegistered', 2, { email: 'a@b.c', name: 'A' })).not.toEqual([]);
    expect(registry.checkEvent('UserRegistered', 3, {})).toEqual(['UserRegistered has no schema version 3 (known: 1, 2)']);
    expect(registry.checkEvent('SomethingFreeForm', 1, { any: 'thing' })).toEqual([]);
  });

  it('serves old events upcast to the latest version, and current ones as stored', () => {
    const old = stored('UserRegistered', 1, { email: 'a@b.c', name: 'Ann' });
    const view = registry.view(old);
    expect(view.event).toMatchObject({ schemaVersion: 2, data: { email: 'a@b.c', displayName: 'Ann', marketingOptIn: false } });
    expect(JSON.parse(view.json)).toEqual(view.event);
    const current = stored('UserRegistered', 2, { email: 'a@b.c', displayName: 'Ann', marketingOptIn: true });
    expect(registry.view(current)).toBe(current);
  });

  it('refuses broken modules, listing every problem', () => {
    const broken = { type: 'Bad Type', initialState: null, commands: {}, events: {}, decide: 'no' } as unknown as DomainModule;
    expect(() => new DomainRegistry([broken])).toThrow(DomainLoadError);
    try {
      new DomainRegistry([broken]);
    } catch (err) {
      expect((err as Error).message).toMatch(/type must be lowercase/);
      expect((err as Error).message).toMatch(/decide must be a function/);
      expect((err as Error).message).toMatch(/evolve must be a function/);
    }
    const gap = { ...account, type: 'gappy', events: { Gappy: { 1: { schema: {} }, 3: { schema: {} } } } } as unknown as DomainModule;
    expect(() => new DomainRegistry([gap])).toThrow(/schema versions must be 1, 2, ... without gaps/);
    const clash = { ...account, type: 'other' } as unknown as DomainModule;
    expect(() => new DomainRegistry([account, clash])).toThrow(/event type AccountOpened is declared by domain account too/);
    expect(() => new DomainRegistry([account, account])).toThrow(/declared twice/);
  });

  it('loads modules from a directory', async () => {
    const dir = await dirs.make();
    await writeFile(
      path.join(dir, 'counter.mjs'),
      `export default { type: 'counter', initialState: 0, commands: { Add: { type: 'object' } }, events: { Added: { 1: { schema: { type: 'object' } } } },
        decide: () => ({ ok: true, events: [{ type: 'Added', data: {} }] }), evolve: (s) => s + 1 };`,
    );
    const modules = await DomainRegistry.importDirectory(dir);
    expect(new DomainRegistry([...modules, account]).types).toEqual(['counter', 'account']);
    await writeFile(path.join(dir, 'z-empty.mjs'), 'export const nothing = 1;');
    await expect(DomainRegistry.importDirectory(dir)).rejects.toThrow(/has no default export/);
    await expect(DomainRegistry.importDirectory(path.join(dir, 'missing'))).rejects.toThrow(/cannot read the domains directory/);
  });
});
