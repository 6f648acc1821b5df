import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { EventStoreStateMachine, encodeCommand, proposedEvent } from '../../../../../node/core/eventstore/index.ts';
import type { AppendCommand, AppendOutcome, EventStorage, EventStoreOptions, ExpectedVersion, StreamAppend } from '../../../../../node/core/eventstore/index.ts';
import { SeededRandom } from '../../../../../node/core/raft/index.ts';
import type { LogIndex } from '../../../../../node/core/raft/index.ts';

/** A fresh storage per call, and a way to dispose of all of them. */
export interface StorageFactory {
  make(): EventStorage;
}

const ev = (id: string, type = 'Happened', data: unknown = { id }) => proposedEvent({ id, type, data: data as never });
const cmd = (...appends: StreamAppend[]): AppendCommand => ({ type: 'Append', appends, timestamp: 1_700_000_000_000 });
/** The same append as proposed again through another node: only the timestamp differs. */
const copyOf = (c: AppendCommand): AppendCommand => ({ ...c, timestamp: c.timestamp + 1_234 });
const to = (stream: string, expectedVersion: ExpectedVersion, ...ids: string[]): StreamAppend => ({ stream, expectedVersion, events: ids.map((id) => ev(id)) });

/** Applies commands at the next index, each as its own batch. */
class Harness {
  readonly sm: EventStoreStateMachine;
  constructor(storage: EventStorage, options?: EventStoreOptions) {
    this.sm = new EventStoreStateMachine(storage, options);
  }
  run(c: AppendCommand | Uint8Array): AppendOutcome {
    const index = this.sm.appliedIndex + 1;
    return this.sm.apply(index as LogIndex, `r${index}`, c instanceof Uint8Array ? c : encodeCommand(c));
  }
  versions(stream: string): number[] {
    return this.sm.reader.readStream(stream, 0, 1000, 'forward').map((e) => e.event.version);
  }
}

export function describeEventStoreStateMachine(name: string, factory: StorageFactory): void {
  describe(`EventStoreStateMachine on ${name}`, () => {
    describe('expected versions, checked at apply time', () => {
      it("numbers versions from 0 per stream and positions from 0 over all streams", () => {
        const h = new Harness(factory.make());
        expect(h.run(cmd(to('a', 'no_stream', 'e1', 'e2')))).toEqual({ ok: true, duplicate: false, results: [{ stream: 'a', firstVersion: 0, lastVersion: 1, firstPosition: 0, lastPosition: 1 }] });
        expect(h.run(cmd(to('b', 'any', 'e3')))).toEqual({ ok: true, duplicate: false, results: [{ stream: 'b', firstVersion: 0, lastVersion: 0, firstPosition: 2, lastPosition: 2 }] });
        expect(h.run(cmd(to('a', 1, 'e4')))).toEqual({ ok: true, duplicate: false, results: [{ stream: 'a', firstVersion: 2, lastVersion: 2, firstPosition: 3, lastPosition: 3 }] });
        expect(h.versions('a')).toEqual([0, 1, 2]);
        expect(h.sm.nextPosition).toBe(4);
      });

      it.each<[ExpectedVersion, boolean, boolean]>([
        // expected, ok on a missing stream, ok on a stream at version 0
        ['any', true, true],
        ['no_stream', true, false],
        ['exists', false, true],
        [0, false, true],
        [1, false, false],
      ])('expectedVersion %p: on no stream ok=%p, on version 0 ok=%p', (expected, onMissing, onExisting) => {
        const h = new Harness(factory.make());
        const missing = h.run(cmd(to('s', expected, 'x1')));
        expect(missing.ok).toBe(onMissing);
        if (!missing.ok) expect(missing).toEqual({ ok: false, error: 'WrongExpectedVersion', stream: 's', expected, actual: -1 });
        const h2 = new Harness(factory.make());
        h2.run(cmd(to('s', 'any', 'first')));
        const existing = h2.run(cmd(to('s', expected, 'x2')));
        expect(existing.ok).toBe(onExisting);
        if (!existing.ok) expect(existing).toEqual({ ok: false, error: 'WrongExpectedVersion', stream: 's', expected, actual: 0 });
      });

      it('appends to several streams atomically: one failed expectation writes nothing', () => {
        const h = new Harness(factory.make());
        h.run(cmd(to('a', 'any', 'a0')));
        const hash = h.sm.stateHash;
        const failed = h.run(cmd(to('a', 0, 'a1'), to('b', 'exists', 'b0')));
        expect(failed).toEqual({ ok: false, error: 'WrongExpectedVersion', stream: 'b', expected: 'exists', actual: -1 });
        expect(h.versions('a')).toEqual([0]);
        expect(h.sm.stateHash).toBe(hash);
        const ok = h.run(cmd(to('a', 0, 'a1'), to('b', 'no_stream', 'b0', 'b1')));
        expect(ok).toEqual({
          ok: true,
          duplicate: false,
          results: [
            { stream: 'a', firstVersion: 1, lastVersion: 1, firstPosition: 1, lastPosition: 1 },
            { stream: 'b', firstVersion: 0, lastVersion: 1, firstPosition: 2, lastPosition: 3 },
          ],
        });
      });
    });

    describe('idempotency by event id', () => {
      it('answers a retried append with the original result and appends nothing, even after the stream moved on', () => {
        const h = new Harness(factory.make());
        const first = h.run(cmd(to('a', 'no_stream', 'e1', 'e2')));
        h.run(cmd(to('a', 1, 'e3')));
        const hash = h.sm.stateHash;
        const retry = h.run(cmd(to('a', 'no_stream', 'e1', 'e2')));
        expect(retry).toEqual({ ...first, duplicate: true });
        expect(h.versions('a')).toEqual([0, 1, 2]);
        expect(h.sm.stateHash).toBe(hash);
      });

      it('refuses an append where only some ids are stored, or the ids belong to another append', () => {
        const h = new Harness(factory.make());
        h.run(cmd(to('a', 'any', 'e1', 'e2')));
        expect(h.run(cmd(to('a', 'any', 'e2', 'e3')))).toMatchObject({ ok: false, error: 'EventIdConflict' });
        expect(h.run(cmd(to('b', 'any', 'e1', 'e2')))).toMatchObject({ ok: false, error: 'EventIdConflict' });
        expect(h.run(cmd(to('a', 'any', 'e2', 'e1')))).toMatchObject({ ok: false, error: 'EventIdConflict' });
        expect(h.versions('a')).toEqual([0, 1]);
        expect(h.versions('b')).toEqual([]);
      });

      it('sees appends made earlier in the same batch', () => {
        const storage = factory.make();
        const sm = new EventStoreStateMachine(storage);
        sm.beginBatch();
        const a = sm.apply(1 as LogIndex, 'r1', encodeCommand(cmd(to('a', 'no_stream', 'e1'))));
        const retry = sm.apply(2 as LogIndex, 'r2', encodeCommand(cmd(to('a', 'no_stream', 'e1'))));
        const next = sm.apply(3 as LogIndex, 'r3', encodeCommand(cmd(to('a', 0, 'e2'))));
        sm.skip(4 as LogIndex);
        expect(storage.meta.applied).toBe(0); // nothing written before the batch commits
        sm.commitBatch();
        expect(retry).toEqual({ ...a, duplicate: true });
        expect(next).toMatchObject({ ok: true, results: [{ firstVersion: 1, firstPosition: 1 }] });
        expect(storage.meta).toMatchObject({ applied: 4, nextPosition: 2 });
        expect(storage.streamVersion('a')).toBe(1);
      });
    });

    describe('copies of a refused append (a client retry that reached the log after the first attempt)', () => {
      it('are refused with the original answer even once the expectation has come true', () => {
        const h = new Harness(factory.make());
        const waiting = cmd(to('a', 'exists', 'w1'));
        const ahead = cmd(to('b', 1, 'v1'));
        const refusedA = { ok: false, error: 'WrongExpectedVersion', stream: 'a', expected: 'exists', actual: -1 };
        const refusedB = { ok: false, error: 'WrongExpectedVersion', stream: 'b', expected: 1, actual: -1 };
        expect(h.run(waiting)).toEqual(refusedA);
        expect(h.run(ahead)).toEqual(refusedB);
        h.run(cmd(to('a', 'any', 'a0')));
        h.run(cmd(to('b', 'any', 'b0', 'b1')));
        const hash = h.sm.stateHash;
        // The first refusal's answer, marked as repeated.
        expect(h.run(copyOf(waiting))).toEqual({ ...refusedA, repeated: true });
        expect(h.run(copyOf(ahead))).toEqual({ ...refusedB, repeated: true });
        expect(h.sm.stateHash).toBe(hash);
        expect(h.versions('a')).toEqual([0]);
      });

      it('are only copies with the same streams, expectations and event ids: another attempt with the same ids is judged afresh', () => {
        const h = new Harness(factory.make());
        expect(h.run(cmd(to('a', 'exists', 'w1', 'w2'))).ok).toBe(false);
        h.run(cmd(to('a', 'any', 'a0')));
        // A command's retry after a conflict: the same ids (from its idempotency key), a new expectation.
        expect(h.run(cmd(to('a', 0, 'w1', 'w2')))).toMatchObject({ ok: true, duplicate: false, results: [{ firstVersion: 1 }] });
        // Once stored, the ids answer every copy with the stored result, whatever it expected.
        expect(h.run(cmd(to('a', 'exists', 'w1', 'w2')))).toMatchObject({ ok: true, duplicate: true, results: [{ firstVersion: 1 }] });
        // Same first id, other ids or streams: not a copy.
        expect(h.run(cmd(to('c', 'exists', 'x1')))).toMatchObject({ ok: false, actual: -1 });
        h.run(cmd(to('c', 'any', 'c0')));
        expect(h.run(cmd(to('c', 'exists', 'x1', 'x2'))).ok).toBe(true);
      });

      it('of an append whose expectation is passed are refused on their own, with the version at their turn', () => {
        const h = new Harness(factory.make());
        h.run(cmd(to('a', 'any', 'a0', 'a1')));
        const stale = cmd(to('a', 0, 'x'));
        expect(h.run(stale)).toMatchObject({ ok: false, actual: 1 });
        h.run(cmd(to('a', 'any', 'a2')));
        // Not remembered (versions only grow, so no copy can succeed): answered as any append is.
        expect(h.run(copyOf(stale))).toMatchObject({ ok: false, actual: 2 });
        // Nor is a multi-stream append with one passed expectation, even if another decided.
        const mixed = cmd(to('m', 'exists', 'm1'), to('a', 0, 'm2'));
        expect(h.run(mixed)).toMatchObject({ ok: false, stream: 'm', actual: -1 });
        expect(h.sm.certainConflict(copyOf(mixed))).toBeUndefined(); // the first unmet, 'exists', may come true
        h.run(cmd(to('m', 'any', 'm0')));
        expect(h.run(copyOf(mixed))).toMatchObject({ ok: false, stream: 'a', actual: 2 });
      });

      it('are remembered for the newest refusals only, up to the bound, the same on every replica whatever its batches', () => {
        const one = new Harness(factory.make(), { rememberedRefusals: 2 });
        const batched = new EventStoreStateMachine(factory.make(), { rememberedRefusals: 2 });
        const refused = ['p', 'q', 'r'].map((s) => cmd(to(s, 'exists', `${s}-w`)));
        const create = ['p', 'q', 'r'].map((s) => cmd(to(s, 'any', `${s}-0`)));
        const copies = refused.map(copyOf);
        const all = [...refused, ...create, ...copies];
        const outcomes = all.map((c) => one.run(c));
        batched.beginBatch();
        const batchedOutcomes = all.map((c, i) => batched.apply((i + 1) as LogIndex, `r${i}`, encodeCommand(c)));
        batched.commitBatch();
        // p's refusal, the oldest of three, was forgotten: its copy succeeds. q's and r's are kept.
        expect(outcomes.slice(6).map((o) => o.ok)).toEqual([true, false, false]);
        expect(batchedOutcomes).toEqual(outcomes);
        expect(batched.stateHash).toBe(one.sm.stateHash);
      });

      it('are remembered by a store reopened on the same storage and by one restored from a snapshot', async () => {
        const storage = factory.make();
        const h = new Harness(storage);
        const waiting = cmd(to('a', 'exists', 'w1'));
        h.run(waiting);
        h.run(cmd(to('a', 'any', 'a0')));
        const bytes = await h.sm.snapshot().serialize(() => Promise.resolve());
        const reopened = new EventStoreStateMachine(storage);
        const restored = new EventStoreStateMachine(factory.make());
        restored.restore(2 as LogIndex, bytes);
        for (const sm of [reopened, restored]) {
          expect(sm.apply(3 as LogIndex, 'r3', encodeCommand(copyOf(waiting)))).toMatchObject({ ok: false, expected: 'exists', actual: -1 });
          expect(sm.reader.streamVersion('a')).toBe(0);
        }
      });

      it('make no certain conflict: apply answers them from the record', () => {
        const h = new Harness(factory.make());
        const ahead = cmd(to('a', 2, 'x'));
        expect(h.run(ahead)).toMatchObject({ ok: false, actual: -1 });
        h.run(cmd(to('a', 'any', 'a0', 'a1', 'a2', 'a3')));
        // The stream passed 2, but the copy's answer is the remembered one (actual -1), not 3.
        expect(h.sm.certainConflict(copyOf(ahead))).toBeUndefined();
        expect(h.run(copyOf(ahead))).toMatchObject({ ok: false, actual: -1 });
      });
    });

    describe('bad commands', () => {
      it.each([
        ['not JSON', new TextEncoder().encode('{nope')],
        ['an unknown command type', new TextEncoder().encode('{"type":"Delete","appends":[],"timestamp":1}')],
        ['no events', encodeCommand(cmd({ stream: 'a', expectedVersion: 'any', events: [] }))],
        ['a negative expected version', encodeCommand(cmd(to('a', -2, 'x')))],
        ['a duplicated event id', encodeCommand(cmd(to('a', 'any', 'x', 'x')))],
        ['a stream twice', encodeCommand(cmd(to('a', 'any', 'x'), to('a', 'any', 'y')))],
        ['an empty stream name', encodeCommand(cmd(to('', 'any', 'x')))],
      ])('rejects %s, changes no event and still advances the applied index', (_what, bytes) => {
        const h = new Harness(factory.make());
        const hash = h.sm.stateHash;
        expect(h.run(bytes)).toMatchObject({ ok: false, error: 'InvalidCommand' });
        expect(h.sm.appliedIndex).toBe(1);
        expect(h.sm.stateHash).toBe(hash);
        expect(h.sm.nextPosition).toBe(0);
      });

      it('refuses to apply out of order', () => {
        const sm = new EventStoreStateMachine(factory.make());
        expect(() => sm.apply(2 as LogIndex, 'r', encodeCommand(cmd(to('a', 'any', 'x'))))).toThrow(/applying 2 after 0/);
        expect(sm.appliedIndex).toBe(0);
      });
    });

    describe('snapshots', () => {
      it('streams the bytes serialize() gives, in slices of about 1 MiB, from a view taken before later writes', async () => {
        const source = new Harness(factory.make());
        const pad = 'x'.repeat(4_000);
        for (let i = 0; i < 700; i++) source.run(cmd({ stream: `s${i % 7}`, expectedVersion: 'any', events: [ev(`e${i}`, 'Happened', { pad })] }));
        const whole = await source.sm.snapshot().serialize(() => Promise.resolve());
        const stream = source.sm.snapshot().stream();
        source.run(cmd(to('late', 'any', 'late-1')));
        const slices: Uint8Array[] = [];
        for (let slice = stream.next(); slice !== undefined; slice = stream.next()) slices.push(slice);
        // A header, then ~2.8 MB of events cut by size: no slice over 1 MiB and one event.
        expect(slices.length).toBeGreaterThan(3);
        for (const slice of slices) expect(slice.length).toBeLessThan((1 << 20) + 4_200);
        expect(Buffer.concat(slices).equals(Buffer.from(whole))).toBe(true);
        expect(stream.next()).toBeUndefined();
        // Closed early, a stream gives nothing more.
        const early = source.sm.snapshot().stream();
        expect(early.next()).toBeDefined();
        early.close();
        early.close();
        expect(early.next()).toBeUndefined();
      });

      it('restores from slices cut anywhere, inside characters too, as from the whole bytes', async () => {
        const source = new Harness(factory.make());
        for (let i = 0; i < 60; i++) source.run(cmd({ stream: `s${i % 5}`, expectedVersion: 'any', events: [ev(`e${i}`, 'Happened', { text: `héllo wörld ✓ 𝄞 ${i}` })] }));
        const bytes = await source.sm.snapshot().serialize(() => Promise.resolve());
        const rng = new SeededRandom(5);
        for (let round = 0; round < 20; round++) {
          const slices: Uint8Array[] = [];
          for (let at = 0; at < bytes.length; ) {
            const n = round === 0 ? 1 : 1 + rng.int(200);
            slices.push(bytes.slice(at, at + n)); // copies: no slice shares memory with another
            at += n;
          }
          const target = new Harness(factory.make());
          target.sm.restoreSlices(60 as LogIndex, slices);
          expect(target.sm.stateHash).toBe(source.sm.stateHash);
          expect(target.sm.reader.readAll(0, 100).map((e) => e.json)).toEqual(source.sm.reader.readAll(0, 100).map((e) => e.json));
        }
        // Cut short anywhere: refused, and the store is left as it was.
        const target = new Harness(factory.make());
        target.run(cmd(to('kept', 'any', 'k1')));
        for (const cut of [bytes.length - 1, bytes.length - 30, 10]) {
          expect(() => {
            target.sm.restoreSlices(60 as LogIndex, [bytes.subarray(0, cut)]);
          }).toThrow();
          expect(target.sm.appliedIndex).toBe(1);
          expect(target.sm.reader.streamVersion('kept')).toBe(0);
        }
      });

      it('restores byte-identical events with the same hash, from a view taken before later writes', async () => {
        const source = new Harness(factory.make());
        for (let i = 0; i < 50; i++) source.run(cmd(to(`s${i % 7}`, 'any', `e${i}`)));
        const view = source.sm.snapshot();
        const hashAtView = source.sm.stateHash;
        source.run(cmd(to('late', 'any', 'late-1')));
        const bytes = await view.serialize(() => Promise.resolve());
        expect(view.index).toBe(50);

        const target = new Harness(factory.make());
        target.run(cmd(to('stale', 'any', 'old')));
        target.sm.restore(50 as LogIndex, bytes);
        expect(target.sm.appliedIndex).toBe(50);
        expect(target.sm.stateHash).toBe(hashAtView);
        expect(target.sm.reader.readAll(0, 1000).map((e) => e.json)).toEqual(source.sm.reader.readAll(0, 50).map((e) => e.json));
        expect(target.sm.reader.streamVersion('stale')).toBe(-1);
        // Both go on identically from there.
        const next = cmd(to('s1', 'any', 'after'));
        const sourceCopy = new Harness(factory.make());
        sourceCopy.sm.restore(50 as LogIndex, bytes);
        expect(target.run(next)).toEqual(sourceCopy.run(next));
        expect(target.sm.stateHash).toBe(sourceCopy.sm.stateHash);
      });

      it('refuses a snapshot whose events do not match its hash, or that is for another index, and keeps its state', async () => {
        const source = new Harness(factory.make());
        source.run(cmd(to('a', 'any', 'e1', 'e2')));
        const bytes = await source.sm.snapshot().serialize(() => Promise.resolve());
        const text = new TextDecoder().decode(bytes);
        const target = new Harness(factory.make());
        target.run(cmd(to('mine', 'any', 'm1', 'm2', 'm3')));
        await target.sm.makeDurable?.(); // as the driver does before a restore
        const before = { hash: target.sm.stateHash, events: target.sm.reader.readAll(0, 10) };
        const bad = (t: string) => new TextEncoder().encode(t);
        // The last event is checked last: the store has written the others when the hash fails.
        expect(() => { target.sm.restore(1 as LogIndex, bad(text.replace('"e2"', '"e9"'))); }).toThrow(/hash/);
        expect(() => { target.sm.restore(1 as LogIndex, bad(text.replace('"position":1', '"position":5'))); }).toThrow(/position 5 at 1/);
        expect(() => { target.sm.restore(1 as LogIndex, bad(text.replace('"e2"', 'e2'))); }).toThrow(SyntaxError);
        expect(() => { target.sm.restore(2 as LogIndex, bytes); }).toThrow(/expected 2/);
        expect(() => { target.sm.restore(1 as LogIndex, bytes.subarray(0, bytes.length - 1)); }).toThrow(/truncated/);
        expect(() => { target.sm.restore(1 as LogIndex, new Uint8Array()); }).toThrow(/truncated/);
        expect(target.sm.appliedIndex).toBe(1);
        expect(target.sm.stateHash).toBe(before.hash);
        expect(target.sm.reader.readAll(0, 10)).toEqual(before.events);
        expect(target.sm.reader.streamVersion('a')).toBe(-1);
        expect(target.sm.reader.positionOf('e1')).toBeUndefined();
        // And it still takes a good one, and goes on from it.
        target.sm.restore(1 as LogIndex, bytes);
        expect(target.sm.stateHash).toBe(source.sm.stateHash);
        expect(target.run(cmd(to('a', 1, 'e3')))).toMatchObject({ ok: true, results: [{ firstVersion: 2, firstPosition: 2 }] });
      });

      it('refuses a snapshot with a malformed refused append or count; takes one from before refusals were kept', async () => {
        const source = new Harness(factory.make());
        source.run(cmd(to('a', 'exists', 'w1')));
        source.run(cmd(to('b', 'any', 'b0')));
        const text = new TextDecoder().decode(await source.sm.snapshot().serialize(() => Promise.resolve()));
        expect(text.split('\n')[0]).toContain('"refused":1');
        const target = new EventStoreStateMachine(factory.make());
        const bad = (t: string) => new TextEncoder().encode(t);
        expect(() => { target.restore(2 as LogIndex, bad(text.replace('"WrongExpectedVersion"', '"Other"'))); }).toThrow(/malformed refused append/);
        expect(() => { target.restore(2 as LogIndex, bad(text.replace('"refused":1', '"refused":5'))); }).toThrow(/malformed refused append/); // the event line
        const [header = '', refusal = ''] = text.split('\n');
        expect(() => { target.restore(2 as LogIndex, bad(`${header.replace('"refused":1', '"refused":3')}\n${refusal}\n`)); }).toThrow(/count of refused appends: 3/);
        expect(() => { target.restore(2 as LogIndex, bad(text.replace('"refused":1', '"refused":-1'))); }).toThrow(/count of refused appends: -1/);
        expect(target.appliedIndex).toBe(0);
        // The old format: a header without a count, events straight after it.
        const lines = text.split('\n');
        const old = [lines[0]?.replace(',"refused":1', ''), ...lines.slice(2)].join('\n');
        target.restore(2 as LogIndex, bad(old));
        expect(target.stateHash).toBe(source.sm.stateHash);
      });
    });

    describe('certain conflicts, judged before an append is logged', () => {
      it('are the conflicts an expectation the stream has passed meets, as apply answers them', () => {
        const h = new Harness(factory.make());
        h.run(cmd(to('a', 'any', 'a0', 'a1', 'a2')));
        const passed = cmd(to('a', 1, 'x'));
        const conflict = { ok: false, error: 'WrongExpectedVersion', stream: 'a', expected: 1, actual: 2 };
        expect(h.sm.certainConflict(passed)).toEqual(conflict);
        expect(h.sm.certainConflict(cmd(to('a', 'no_stream', 'x')))).toEqual({ ...conflict, expected: 'no_stream' });
        // In a multi-stream append, the first unmet expectation decides, as in apply.
        expect(h.sm.certainConflict(cmd(to('b', 'no_stream', 'y'), to('a', 0, 'x')))).toEqual({ ...conflict, expected: 0 });
        expect(h.run(passed)).toEqual(conflict);
      });

      it('are not claimed where the outcome is still open, or the append may be a retry', () => {
        const h = new Harness(factory.make());
        h.run(cmd(to('a', 'any', 'a0', 'a1')));
        // Met expectations, or ones that may still come true.
        for (const expected of ['any', 'exists', 1, 2, 7] as const) expect(h.sm.certainConflict(cmd(to('a', expected, 'x')))).toBeUndefined();
        expect(h.sm.certainConflict(cmd(to('new', 'exists', 'x')))).toBeUndefined();
        expect(h.sm.certainConflict(cmd(to('new', 0, 'x')))).toBeUndefined();
        // The first unmet expectation may come true: no claim, even though a later one is passed.
        expect(h.sm.certainConflict(cmd(to('b', 'exists', 'y'), to('a', 0, 'x')))).toBeUndefined();
        // A stored id: a retry of the append that stored it (or an id conflict), not a conflict.
        expect(h.sm.certainConflict(cmd(to('a', 0, 'a1')))).toBeUndefined();
        expect(h.sm.certainConflict(cmd(to('a', 0, 'x', 'a0')))).toBeUndefined();
      });

      it('are met by the append whenever it is applied, and apply answers the claim at once (property)', () => {
        let claims = 0;
        // The probe's ids are its own, as a client's are (with the small id pool of the other
        // steps, most probes would otherwise reuse a stored id and be no claim), and its first
        // expectation is a low one, which the stream has often passed.
        const fresh = fc
          .tuple(arbitraryStep(), fc.constantFrom<ExpectedVersion>('no_stream', 0, 1))
          .map(([st, low]) => cmd(...st.command.appends.map((a, i) => ({ ...a, expectedVersion: i === 0 ? low : a.expectedVersion, events: a.events.map((e) => ({ ...e, id: `probe-${e.id}` })) }))));
        fc.assert(
          fc.property(fc.array(arbitraryStep(), { maxLength: 25 }), fresh, fc.array(fc.option(arbitraryStep(), { nil: undefined, freq: 5 }), { maxLength: 10 }), (before, probe, after) => {
            const h = new Harness(factory.make());
            for (const step of before) h.run(step.command);
            const claim = h.sm.certainConflict(probe);
            if (claim === undefined) return;
            claims++;
            const now = new Harness(factory.make());
            for (const step of before) now.run(step.command);
            expect(now.run(probe)).toEqual(claim);
            // Later appends by others and copies of the probe (a client's retries), then the
            // probe: it still fails.
            for (const step of after) {
              if (step === undefined) expect(h.run(probe).ok).toBe(false);
              else h.run(step.command);
            }
            expect(h.run(probe).ok).toBe(false);
          }),
          { numRuns: 300 },
        );
        expect(claims).toBeGreaterThan(40);
      });
    });

    describe('against a reference model (property)', () => {
      it.each([
        ['with the bound on remembered refusals out of reach', undefined],
        ['forgetting all but the last 2 refusals', 2],
      ])('gives the same outcome for every command and stores the same events, %s', (_what, remembered) => {
        fc.assert(
          fc.property(fc.array(arbitraryStep(), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 5 }), (steps, batchSize) => {
            const storage = factory.make();
            const sm = new EventStoreStateMachine(storage, remembered === undefined ? {} : { rememberedRefusals: remembered });
            const model = new ReferenceModel(remembered ?? Infinity);
            const sent: AppendCommand[] = [];
            const outcomes: AppendOutcome[] = [];
            const expected: AppendOutcome[] = [];
            let index = 0;
            for (let i = 0; i < steps.length; i += batchSize) {
              sm.beginBatch();
              for (const step of steps.slice(i, i + batchSize)) {
                // A retry re-sends an earlier command (through another node: a new timestamp); otherwise a new one.
                const c = step.retry !== undefined && sent.length > 0 ? copyOf(sent[step.retry % sent.length] as AppendCommand) : step.command;
                sent.push(c);
                outcomes.push(sm.apply(++index as LogIndex, `r${index}`, encodeCommand(c)));
                expected.push(model.apply(c));
              }
              sm.commitBatch();
            }
            expect(outcomes).toEqual(expected);
            expect(storage.readAll(0, 10_000).map((e) => ({ id: e.event.id, stream: e.event.stream, version: e.event.version, position: e.event.position }))).toEqual(model.events);
            expect(storage.meta.applied).toBe(index);
          }),
          { numRuns: 150 },
        );
      });
    });
  });
}

interface Step {
  readonly command: AppendCommand;
  readonly retry: number | undefined;
}

function arbitraryStep(): fc.Arbitrary<Step> {
  const stream = fc.constantFrom('a', 'b', 'c');
  const expected: fc.Arbitrary<ExpectedVersion> = fc.oneof(fc.constantFrom<ExpectedVersion>('any', 'no_stream', 'exists'), fc.integer({ min: 0, max: 4 }));
  // Ids from a small pool so that partial overlaps (conflicts) happen too.
  const ids = fc.uniqueArray(fc.integer({ min: 0, max: 30 }).map((n) => `id${n}`), { minLength: 1, maxLength: 3 });
  const append = fc.record({ stream, expectedVersion: expected, ids });
  const command = fc.uniqueArray(append, { minLength: 1, maxLength: 2, selector: (a) => a.stream }).filter((as) => new Set(as.flatMap((a) => a.ids)).size === as.flatMap((a) => a.ids).length).map((as) => cmd(...as.map((a) => to(a.stream, a.expectedVersion, ...a.ids))));
  return fc.record({ command, retry: fc.option(fc.nat(), { nil: undefined, freq: 4 }) });
}

/** The append rules written the plainest way, to check the real thing against. */
class ReferenceModel {
  readonly events: { id: string; stream: string; version: number; position: number }[] = [];
  /** Refusals that a copy would meet, oldest first: [first event id, the append's JSON without timestamp, outcome]. */
  private refused: [string, string, AppendOutcome][] = [];
  private readonly remembered: number;

  constructor(remembered: number) {
    this.remembered = remembered;
  }

  apply(c: AppendCommand): AppendOutcome {
    const ids = c.appends.flatMap((a) => a.events.map((e) => e.id));
    const stored = ids.filter((id) => this.events.some((e) => e.id === id));
    if (stored.length === ids.length) {
      const results = [];
      for (const a of c.appends) {
        const found = a.events.map((e) => this.events.find((x) => x.id === e.id) as (typeof this.events)[number]);
        const first = found[0] as (typeof found)[number];
        if (!found.every((x, i) => x.stream === a.stream && x.version === first.version + i && x.position === first.position + i)) {
          return { ok: false, error: 'EventIdConflict', detail: expect.any(String) as unknown as string };
        }
        results.push({ stream: a.stream, firstVersion: first.version, lastVersion: first.version + found.length - 1, firstPosition: first.position, lastPosition: first.position + found.length - 1 });
      }
      return { ok: true, results, duplicate: true };
    }
    if (stored.length > 0) return { ok: false, error: 'EventIdConflict', detail: expect.any(String) as unknown as string };
    const same = JSON.stringify(c.appends.map((a) => [a.stream, a.expectedVersion, a.events.map((e) => e.id)]));
    const record = this.refused.find(([first]) => first === ids[0]);
    if (record?.[1] === same) return { ...record[2], repeated: true } as AppendOutcome;
    const version = (stream: string): number => this.events.filter((e) => e.stream === stream).length - 1;
    for (const a of c.appends) {
      const actual = version(a.stream);
      const ok = a.expectedVersion === 'any' || (a.expectedVersion === 'no_stream' && actual === -1) || (a.expectedVersion === 'exists' && actual >= 0) || a.expectedVersion === actual;
      if (ok) continue;
      const outcome: AppendOutcome = { ok: false, error: 'WrongExpectedVersion', stream: a.stream, expected: a.expectedVersion, actual };
      // Remembered when no expectation is passed for good (so that a copy could succeed later).
      const hopeless = c.appends.some((x) => (x.expectedVersion === 'no_stream' && version(x.stream) >= 0) || (typeof x.expectedVersion === 'number' && version(x.stream) > x.expectedVersion));
      if (!hopeless) {
        this.refused = this.refused.filter(([first]) => first !== ids[0]);
        this.refused.push([ids[0] as string, same, outcome]);
        if (this.refused.length > this.remembered) this.refused.shift();
      }
      return outcome;
    }
    const results = [];
    for (const a of c.appends) {
      const firstVersion = this.events.filter((e) => e.stream === a.stream).length;
      const firstPosition = this.events.length;
      a.events.forEach((e, i) => this.events.push({ id: e.id, stream: a.stream, version: firstVersion + i, position: firstPosition + i }));
      results.push({ stream: a.stream, firstVersion, lastVersion: firstVersion + a.events.length - 1, firstPosition, lastPosition: firstPosition + a.events.length - 1 });
    }
    return { ok: true, results, duplicate: false };
  }
}
