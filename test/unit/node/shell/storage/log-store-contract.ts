import { describe, expect, it } from '@jest/globals';
import { makeMembership } from '../../../../../node/core/raft/index.ts';
import type { Entry, HardState, LogIndex, NodeId, Snapshot, Term } from '../../../../../node/core/raft/index.ts';
import type { LogStore } from '../../../../../node/shell/storage/index.ts';

export interface StoreFixture {
  readonly store: LogStore;
  /** Closes and reopens from durable state (the same object for in-memory stores). */
  reopen(): Promise<LogStore>;
}

const enc = new TextEncoder();
export const entry = (index: number, term: number, payload = `e${index}`): Entry => ({
  type: 'Normal',
  index: index as LogIndex,
  term: term as Term,
  data: enc.encode(payload),
});
export const hs = (term: number, vote: string, commit: number): HardState => ({ term: term as Term, vote: vote as NodeId, commit: commit as LogIndex });
const membership = makeMembership(['a', 'b', 'c'] as NodeId[], [], { a: 'a:1', b: 'b:1', c: 'c:1' });

export function payloads(store: LogStore): string[] {
  const first = store.firstIndex();
  const last = store.lastIndex();
  if (last < first) return [];
  return store.entries(first, (last + 1) as LogIndex, Infinity).map((e) => (e.type === 'Normal' ? new TextDecoder().decode(e.data) : 'conf'));
}

/**
 * The behaviour every LogStore must have. `make` builds a fresh, empty store; each test that
 * reopens checks that what a resolved persist() returned survives.
 */
export function describeLogStoreContract(name: string, make: () => Promise<StoreFixture>): void {
  describe(`LogStore contract: ${name}`, () => {
    it('starts empty', async () => {
      const { store } = await make();
      expect(store.initialState().hardState).toEqual(hs(0, '', 0));
      expect(store.firstIndex()).toBe(1);
      expect(store.lastIndex()).toBe(0);
      await store.close();
    });

    it('returns persisted entries and hard state, also after reopening', async () => {
      const f = await make();
      await f.store.persist({ hardState: hs(2, 'a', 0), entries: [entry(1, 1), entry(2, 2)] });
      await f.store.persist({ hardState: hs(2, 'a', 2), entries: [entry(3, 2)] });
      for (const store of [f.store, await f.reopen()]) {
        expect(store.initialState().hardState).toEqual(hs(2, 'a', 2));
        expect(payloads(store)).toEqual(['e1', 'e2', 'e3']);
        expect(store.term(3 as LogIndex)).toBe(2);
      }
    });

    it('replaces a conflicting suffix (§5.3), durably', async () => {
      const f = await make();
      await f.store.persist({ entries: [entry(1, 1), entry(2, 1), entry(3, 1)] });
      await f.store.persist({ hardState: hs(3, '', 1), entries: [entry(2, 3, 'new2')] });
      for (const store of [f.store, await f.reopen()]) {
        expect(payloads(store)).toEqual(['e1', 'new2']);
        expect(store.lastIndex()).toBe(2);
      }
    });

    it('a received snapshot replaces the whole log, durably', async () => {
      const f = await make();
      await f.store.persist({ hardState: hs(2, '', 3), entries: [entry(1, 1), entry(2, 2), entry(3, 2), entry(4, 2)] });
      const snap: Snapshot = { metadata: { index: 10 as LogIndex, term: 4 as Term, membership }, data: enc.encode('state@10') };
      await f.store.persist({ hardState: hs(4, '', 10), entries: [], snapshot: snap });
      await f.store.persist({ entries: [entry(11, 4)] });
      for (const store of [f.store, await f.reopen()]) {
        expect(store.snapshot().metadata).toEqual(snap.metadata);
        expect(Buffer.concat([...store.snapshotData()]).toString()).toBe('state@10');
        expect(store.firstIndex()).toBe(11);
        expect(payloads(store)).toEqual(['e11']);
        expect(store.term(10 as LogIndex)).toBe(4);
      }
    });

    it('saves an application snapshot and compacts the log before it, keeping a tail if asked', async () => {
      const f = await make();
      const entries = Array.from({ length: 20 }, (_, i) => entry(i + 1, 1));
      await f.store.persist({ hardState: hs(1, '', 20), entries });
      await f.store.saveSnapshot(15 as LogIndex, membership, enc.encode('state@15'), 12 as LogIndex);
      expect(f.store.firstIndex()).toBe(13);
      expect(f.store.snapshot().metadata.index).toBe(15);
      await f.store.persist({ hardState: hs(1, '', 21), entries: [entry(21, 1)] });
      const reopened = await f.reopen();
      // After a restart the snapshot is the starting point; entries after it are all there.
      expect(reopened.snapshot().metadata.index).toBe(15);
      expect(reopened.snapshot().metadata.membership).toEqual(membership);
      expect(reopened.lastIndex()).toBe(21);
      expect(reopened.term(15 as LogIndex)).toBe(1);
      expect(payloads(reopened).slice(-6)).toEqual(['e16', 'e17', 'e18', 'e19', 'e20', 'e21']);
      expect(reopened.initialState().hardState.commit).toBe(21);
    });

    it('refuses an application snapshot that is not newer than the current one, changing nothing', async () => {
      const f = await make();
      await f.store.persist({ hardState: hs(1, '', 20), entries: Array.from({ length: 20 }, (_, i) => entry(i + 1, 1)) });
      await f.store.saveSnapshot(15 as LogIndex, membership, enc.encode('state@15'), 10 as LogIndex);
      await expect(f.store.saveSnapshot(15 as LogIndex, membership, enc.encode('again'), 15 as LogIndex)).rejects.toThrow(RangeError);
      await expect(f.store.saveSnapshot(12 as LogIndex, membership, enc.encode('older'), 12 as LogIndex)).rejects.toThrow(RangeError);
      expect(f.store.firstIndex()).toBe(11);
      for (const store of [f.store, await f.reopen()]) {
        expect(Buffer.concat([...store.snapshotData()]).toString()).toBe('state@15');
        expect(store.lastIndex()).toBe(20);
      }
    });

    it('keeps a commit-only batch written without sync across a clean reopen', async () => {
      const f = await make();
      await f.store.persist({ hardState: hs(2, 'a', 1), entries: [entry(1, 2), entry(2, 2)] });
      await f.store.persist({ hardState: hs(2, 'a', 2), entries: [], sync: false });
      expect(f.store.initialState().hardState).toEqual(hs(2, 'a', 2));
      const store = await f.reopen();
      expect(store.initialState().hardState).toEqual(hs(2, 'a', 2));
      expect(payloads(store)).toEqual(['e1', 'e2']);
    });

    it('keeps configuration-change entries intact', async () => {
      const f = await make();
      const conf: Entry = { type: 'ConfChange', index: 1 as LogIndex, term: 1 as Term, change: { type: 'Bootstrap', membership } };
      await f.store.persist({ hardState: hs(1, '', 1), entries: [conf] });
      const store = await f.reopen();
      expect(store.entries(1 as LogIndex, 2 as LogIndex, Infinity)).toEqual([conf]);
    });

    it('survives many batches (segment rotation on disk) with the latest hard state', async () => {
      const f = await make();
      for (let i = 1; i <= 300; i++) {
        await f.store.persist({ hardState: hs(1 + Math.floor(i / 100), '', i - 1), entries: [entry(i, 1 + Math.floor(i / 100), 'x'.repeat(200))] });
      }
      const store = await f.reopen();
      expect(store.lastIndex()).toBe(300);
      expect(store.initialState().hardState).toEqual(hs(4, '', 299));
    });
  });
}
