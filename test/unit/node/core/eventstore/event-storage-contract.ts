import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { EMPTY_HASH } from '../../../../../node/core/eventstore/index.ts';
import type { EventStorage, RefusedAppend, StoredEvent } from '../../../../../node/core/eventstore/index.ts';
import type { LogIndex } from '../../../../../node/core/raft/index.ts';
import { eventsFor } from '../../../../support/stored-events.ts';

export { eventsFor };

export interface EventStorageFixture {
  readonly storage: EventStorage;
  /** Closes and reopens from disk (the same object for in-memory storage). */
  reopen(): Promise<EventStorage>;
}

/** The storage as it is, then as reopened from disk (the first is closed by then). */
async function* nowAndAfterReopen(f: EventStorageFixture): AsyncGenerator<EventStorage> {
  yield f.storage;
  yield await f.reopen();
}

/** The behaviour every EventStorage must have. `make` builds a fresh, empty storage. */
export function describeEventStorageContract(name: string, make: () => Promise<EventStorageFixture>): void {
  describe(`EventStorage contract: ${name}`, () => {
    it('starts empty', async () => {
      const { storage } = await make();
      expect(storage.meta).toEqual({ applied: 0, hash: EMPTY_HASH, nextPosition: 0 });
      expect(storage.streamVersion('s')).toBe(-1);
      expect(storage.readAll(0, 10)).toEqual([]);
      expect(storage.readStream('s', 0, 10, 'forward')).toEqual([]);
    });

    it('stores events and meta together and reads them back by stream, id and position, also after reopening', async () => {
      const f = await make();
      const a = eventsFor(f.storage.meta, 'a', 0, 3, 1);
      f.storage.write(a.events, a.meta);
      const b = eventsFor(a.meta, 'b', 0, 2, 2);
      const a2 = eventsFor(b.meta, 'a', 3, 2, 3);
      f.storage.write([...b.events, ...a2.events], a2.meta);
      for await (const s of nowAndAfterReopen(f)) {
        expect(s.meta).toEqual(a2.meta);
        expect(s.streamVersion('a')).toBe(4);
        expect(s.streamVersion('b')).toBe(1);
        expect(s.positionOf('b-1')).toBe(4);
        expect(s.positionOf('nope')).toBeUndefined();
        expect(s.eventAt(5)).toEqual(a2.events[0]);
        expect(s.readAll(0, 100).map((e) => e.json)).toEqual([...a.events, ...b.events, ...a2.events].map((e) => e.json));
        expect(s.readAll(3, 2).map((e) => e.event.position)).toEqual([3, 4]);
        expect(s.readStream('a', 2, 10, 'forward').map((e) => e.event.version)).toEqual([2, 3, 4]);
        expect(s.readStream('a', 3, 2, 'backward').map((e) => e.event.version)).toEqual([3, 2]);
        expect(s.readStream('a', Number.MAX_SAFE_INTEGER, 2, 'backward').map((e) => e.event.version)).toEqual([4, 3]);
        expect(s.readStream('b', 5, 10, 'forward')).toEqual([]);
        expect(s.readStream('a', 0, 0, 'forward')).toEqual([]);
      }
    });

    it('reads the global log up to a number of events or a size, whichever comes first, at least one event', async () => {
      const f = await make();
      // Written one event at a time: a store that commits every few writes has some in lmdb and
      // the rest in memory, and a read crosses from one to the other.
      let meta = f.storage.meta;
      const all: StoredEvent[] = [];
      for (let i = 0; i < 9; i++) {
        const w = eventsFor(meta, `s${String(i % 2)}`, Math.floor(i / 2), 1, i + 1);
        f.storage.write(w.events, w.meta);
        all.push(...w.events);
        meta = w.meta;
      }
      const length = (n: number, from = 0): number => all.slice(from, from + n).reduce((sum, e) => sum + e.json.length, 0);
      for await (const s of nowAndAfterReopen(f)) {
        const positions = (position: number, limit: number, maxBytes?: number): number[] => s.readAll(position, limit, maxBytes).map((e) => e.event.position);
        expect(positions(0, 100, 1)).toEqual([0]);
        expect(positions(0, 100, length(3))).toEqual([0, 1, 2]);
        expect(positions(0, 100, length(3) + 1)).toEqual([0, 1, 2, 3]);
        expect(positions(4, 100, length(4, 4))).toEqual([4, 5, 6, 7]);
        expect(positions(2, 3, Number.MAX_SAFE_INTEGER)).toEqual([2, 3, 4]);
        expect(positions(7, 100, length(9))).toEqual([7, 8]);
        expect(positions(9, 100, 1)).toEqual([]);
      }
    });

    it('reads any window of a stream, in either direction and up to any size, as a model of its versions says', async () => {
      const f = await make();
      // Stream 'a' gets 40 events in writes of 1-7, interleaved with another stream's.
      let meta = f.storage.meta;
      let version = 0;
      const jsonLengths: number[] = []; // of stream 'a', by version
      for (let w = 0; version < 40; w++) {
        const n = Math.min(40 - version, 1 + (w % 7));
        const a = eventsFor(meta, 'a', version, n, 2 * w + 1);
        const b = eventsFor(a.meta, 'b', w, 1, 2 * w + 2);
        f.storage.write([...a.events, ...b.events], b.meta);
        jsonLengths.push(...a.events.map((e) => e.json.length));
        meta = b.meta;
        version += n;
      }
      // Versions in the window, ending with the one whose JSON brings the total to maxBytes.
      const expected = (from: number, limit: number, direction: 'forward' | 'backward', maxBytes: number): number[] => {
        const out: number[] = [];
        let bytes = 0;
        const step = direction === 'forward' ? 1 : -1;
        for (let v = direction === 'forward' ? Math.max(0, from) : Math.min(from, 39); v >= 0 && v < 40 && out.length < limit && bytes < maxBytes; v += step) {
          out.push(v);
          bytes += jsonLengths[v] as number;
        }
        return out;
      };
      const total = jsonLengths.reduce((sum, n) => sum + n, 0);
      for await (const s of nowAndAfterReopen(f)) {
        fc.assert(
          fc.property(
            fc.integer({ min: 0, max: 45 }),
            fc.integer({ min: 0, max: 45 }),
            fc.constantFrom('forward' as const, 'backward' as const),
            fc.option(fc.integer({ min: 1, max: total + 1 }), { nil: undefined }),
            (from, limit, direction, maxBytes) => {
              const got = s.readStream('a', from, limit, direction, maxBytes);
              expect(got.map((e) => e.event.version)).toEqual(expected(from, limit, direction, maxBytes ?? Infinity));
              expect(got.every((e) => e.event.stream === 'a' && e.json === JSON.stringify(e.event))).toBe(true);
            },
          ),
          { numRuns: 400 },
        );
        expect(s.readStream('a', Number.MAX_SAFE_INTEGER, 1, 'backward').map((e) => e.event.version)).toEqual([39]);
      }
    });

    it('keeps stream names apart even when one is a prefix of another', async () => {
      const f = await make();
      const a = eventsFor(f.storage.meta, 'order', 0, 2, 1);
      const b = eventsFor(a.meta, 'order-1', 0, 1, 2);
      f.storage.write([...a.events, ...b.events], b.meta);
      expect(f.storage.readStream('order', 0, 10, 'forward').map((e) => e.event.stream)).toEqual(['order', 'order']);
      expect(f.storage.readStream('order-1', 0, 10, 'backward').map((e) => e.event.stream)).toEqual(['order-1']);
    });

    it('freezes a view: writes after it do not show in it', async () => {
      const f = await make();
      const a = eventsFor(f.storage.meta, 'a', 0, 3, 1);
      f.storage.write(a.events, a.meta);
      const view = f.storage.view();
      const b = eventsFor(a.meta, 'a', 3, 2, 2);
      f.storage.write(b.events, b.meta);
      expect(view.meta).toEqual(a.meta);
      expect(view.readAll(0, 100).map((e) => e.event.position)).toEqual([0, 1, 2]);
      expect(view.readAll(2, 100).map((e) => e.event.position)).toEqual([2]);
      view.close();
      expect(f.storage.readAll(0, 100)).toHaveLength(5);
    });

    it('replaces the whole state', async () => {
      const f = await make();
      const a = eventsFor(f.storage.meta, 'a', 0, 3, 1);
      f.storage.write(a.events, a.meta);
      // As the driver does before a restore: let every write being committed land first.
      await f.storage.makeDurable?.();
      const fresh = eventsFor({ applied: 0 as LogIndex, hash: EMPTY_HASH, nextPosition: 0 }, 'z', 0, 2, 40);
      f.storage.replace(fresh.events, fresh.meta);
      for await (const s of nowAndAfterReopen(f)) {
        expect(s.meta).toEqual(fresh.meta);
        expect(s.streamVersion('a')).toBe(-1);
        expect(s.positionOf('a-0')).toBeUndefined();
        expect(s.readAll(0, 10).map((e) => e.event.id)).toEqual(['z-0', 'z-1']);
      }
    });

    it('stores refused appends with the write that records them, forgets those a write forgets, lists them oldest first', async () => {
      const f = await make();
      const a = eventsFor(f.storage.meta, 'a', 0, 2, 1);
      f.storage.write(a.events, a.meta, new Map([['k3', refusal('k3', 1)]]));
      f.storage.write([], { ...a.meta, applied: 2 as LogIndex }, new Map([['k1', refusal('k1', 2)], ['k2', refusal('k2', 2)]]));
      // A later write forgets k1 and re-records k3 at a newer index: it moves to the end.
      f.storage.write([], { ...a.meta, applied: 5 as LogIndex }, new Map([['k1', null], ['k3', refusal('k3', 5)]]));
      for await (const s of nowAndAfterReopen(f)) {
        expect(s.refusedAppends()).toEqual([refusal('k2', 2), refusal('k3', 5)]);
        expect(s.meta.applied).toBe(5);
      }
    });

    it('replaces the refused appends with the state', async () => {
      const f = await make();
      f.storage.write([], { applied: 1 as LogIndex, hash: EMPTY_HASH, nextPosition: 0 }, new Map([['old', refusal('old', 1)]]));
      await f.storage.makeDurable?.();
      f.storage.replace([], { applied: 9 as LogIndex, hash: EMPTY_HASH, nextPosition: 0 }, [refusal('n1', 3), refusal('n2', 8)]);
      let last = f.storage;
      for await (const s of nowAndAfterReopen(f)) {
        expect(s.refusedAppends()).toEqual([refusal('n1', 3), refusal('n2', 8)]);
        last = s;
      }
      last.replace([], { applied: 10 as LogIndex, hash: EMPTY_HASH, nextPosition: 0 });
      expect(last.refusedAppends()).toEqual([]);
    });

    it('records a meta-only write (entries that stored no event)', async () => {
      const f = await make();
      f.storage.write([], { applied: 7 as LogIndex, hash: EMPTY_HASH, nextPosition: 0 });
      for await (const s of nowAndAfterReopen(f)) expect(s.meta.applied).toBe(7);
    });
  });
}

function refusal(key: string, index: number): RefusedAppend {
  return { key, fingerprint: `fp-${key}`, index: index as LogIndex, outcome: { ok: false, error: 'WrongExpectedVersion', stream: `s-${key}`, expected: 'exists', actual: -1 } };
}
