import { afterAll, describe, expect, it } from '@jest/globals';
import { EventraftClient } from '../../node/client/index.ts';
import type { RecordedEvent } from '../../node/core/eventstore/index.ts';
import { TempDirs } from '../support/temp-dir.ts';
import { clusterPerTest } from './support/cluster-fixture.ts';
import { NodeCluster, waitForLeader } from './support/node-cluster.ts';

const fixture = clusterPerTest();
const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

/**
 * The logical export of docs/operations.md, as written there: every event of the source's global
 * log appended to the target under its stream, id and the version before it. Stops after `limit`
 * events (an export cut short).
 */
async function exportEvents(from: EventraftClient, to: EventraftClient, limit = Infinity): Promise<number> {
  let copied = 0;
  for await (const e of from.allEvents({ consistency: 'eventual', pageSize: 1000 })) {
    if (copied === limit) break;
    await to.appendToStream(e.stream, [{ id: e.id, type: e.type, data: e.data, metadata: e.metadata, schemaVersion: e.schemaVersion }], { expectedVersion: e.version === 0 ? 'no_stream' : e.version - 1 });
    copied++;
  }
  return copied;
}

/** What an export keeps of an event: everything but its position and timestamp. */
function kept(e: RecordedEvent): Pick<RecordedEvent, 'id' | 'stream' | 'type' | 'data' | 'metadata' | 'schemaVersion' | 'version'> {
  return { id: e.id, stream: e.stream, type: e.type, data: e.data, metadata: e.metadata, schemaVersion: e.schemaVersion, version: e.version };
}

describe('logical export and import (docs/operations.md)', () => {
  it('copies every stream with its versions and event ids, and an import run again or resumed appends nothing twice', async () => {
    const source = await fixture.start(11);
    const target = await NodeCluster.create(await dirs.make(), 1, 14);
    try {
      target.startAll();
      await Promise.all([waitForLeader(source), waitForLeader(target)]);
      const from = new EventraftClient({ endpoints: source.specs.map((s) => source.url(s.id)) });
      const to = new EventraftClient({ endpoints: target.specs.map((s) => target.url(s.id)) });

      await from.execute('account', 'a1', 'Open', { owner: 'dana' });
      for (const amount of [10, 20, 30]) await from.execute('account', 'a1', 'Deposit', { amount });
      // A version 1 event: the export reads it upcast and stores it at version 2.
      await from.appendToStream('user-u1', [{ type: 'UserRegistered', schemaVersion: 1, data: { email: 'old@x.io', name: 'Old Timer' } }]);
      await from.appendToStreams([
        { stream: 'orders-1', expectedVersion: 'no_stream', events: [{ type: 'OrderPlaced', data: { total: 12 }, metadata: { via: 'web' } }] },
        { stream: 'ledger', events: [{ type: 'Credited', data: { amount: 12 } }] },
      ]);
      await from.appendToStream('orders-1', [{ type: 'OrderPaid', data: {} }], { expectedVersion: 0 });

      // Cut short after three events, then run from the start: the first three come back as duplicates.
      expect(await exportEvents(from, to, 3)).toBe(3);
      expect(await exportEvents(from, to)).toBe(8);
      expect(await exportEvents(from, to)).toBe(8);

      for (const stream of ['account-a1', 'user-u1', 'orders-1', 'ledger']) {
        const [a, b] = await Promise.all([from.readStream(stream), to.readStream(stream)]);
        expect(b.version).toBe(a.version);
        expect(b.events.map(kept)).toEqual(a.events.map(kept));
      }
      expect((await to.readAll()).headPosition).toBe(7);
      expect((await to.readStream('user-u1')).events[0]).toMatchObject({ schemaVersion: 2, data: { email: 'old@x.io', displayName: 'Old Timer' } });
      expect((await to.getAggregate('account', 'a1')).state).toEqual((await from.getAggregate('account', 'a1')).state);
      expect((await to.getProjection('accounts-by-owner', 'dana')).value).toEqual({ accounts: { a1: 60 } });
      fixture.passed();
    } finally {
      await target.stopAll('SIGKILL');
    }
  }, 60_000);
});
