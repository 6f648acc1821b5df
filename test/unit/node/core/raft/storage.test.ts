import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { MemoryStorage, emptyMembership } from '../../../../../node/core/raft/index.ts';
import type { Entry, LogIndex, Term } from '../../../../../node/core/raft/index.ts';
import { RaftLog } from '../../../../../node/core/raft/raft-log.ts';

const e = (index: number, term: number, payload = ''): Entry => ({ type: 'Normal', index: index as LogIndex, term: term as Term, data: new TextEncoder().encode(payload) });

describe('MemoryStorage', () => {
  it('starts empty: first index 1, last index 0, term 0 at index 0', () => {
    const s = new MemoryStorage();
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    expect(s.term(0 as LogIndex)).toBe(0);
    expect(s.term(1 as LogIndex)).toBeUndefined();
  });

  it('replaces a conflicting suffix on append (§5.3)', () => {
    const s = new MemoryStorage();
    s.append([e(1, 1), e(2, 1), e(3, 1)]);
    s.append([e(2, 2)]);
    expect(s.lastIndex()).toBe(2);
    expect(s.term(2 as LogIndex)).toBe(2);
    expect(() => {
      s.append([e(5, 2)]);
    }).toThrow(/gap/);
  });

  it('compacts up to the snapshot, keeping the term at the compaction point', () => {
    const s = new MemoryStorage();
    s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
    s.createSnapshot(3 as LogIndex, emptyMembership, new Uint8Array([1]));
    s.compact(2 as LogIndex);
    expect(s.firstIndex()).toBe(3);
    expect(s.term(2 as LogIndex)).toBe(1);
    expect(s.term(1 as LogIndex)).toBeUndefined();
    expect(s.entries(3 as LogIndex, 5 as LogIndex, Infinity).map((x) => x.index)).toEqual([3, 4]);
    expect(() => {
      s.compact(4 as LogIndex);
    }).toThrow(/beyond snapshot/);
  });

  it('returns at least one entry however small maxBytes is, and stops before exceeding it', () => {
    const s = new MemoryStorage();
    s.append([e(1, 1, 'x'.repeat(100)), e(2, 1, 'y'.repeat(100)), e(3, 1)]);
    expect(s.entries(1 as LogIndex, 4 as LogIndex, 1)).toHaveLength(1);
    expect(s.entries(1 as LogIndex, 4 as LogIndex, 250)).toHaveLength(2);
  });

  it('applySnapshot replaces the whole log', () => {
    const s = new MemoryStorage();
    s.append([e(1, 1), e(2, 1)]);
    s.applySnapshot({ metadata: { index: 10 as LogIndex, term: 3 as Term, membership: emptyMembership }, data: new Uint8Array() });
    expect(s.firstIndex()).toBe(11);
    expect(s.lastIndex()).toBe(10);
    expect(s.term(10 as LogIndex)).toBe(3);
  });

  it('behaves like a plain array of entries under any sequence of appends and compactions (property)', () => {
    type Op = { kind: 'append'; at: number; terms: number[] } | { kind: 'compact'; back: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('append' as const), at: fc.nat(30), terms: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 6 }) }),
      fc.record({ kind: fc.constant('compact' as const), back: fc.nat(5) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const s = new MemoryStorage();
        let model: number[] = []; // model[i] = term of index i + 1
        let compacted = 0;
        for (const o of ops) {
          if (o.kind === 'append') {
            const start = Math.max(compacted + 1, Math.min(o.at, model.length) + 1);
            const entries = o.terms.map((t, k) => e(start + k, t));
            s.append(entries);
            model = [...model.slice(0, start - 1), ...o.terms];
          } else {
            const target = Math.max(compacted, model.length - o.back);
            if (target > compacted && target <= model.length) {
              s.createSnapshot(target as LogIndex, emptyMembership, new Uint8Array());
              s.compact(target as LogIndex);
              compacted = target;
            }
          }
          expect(s.lastIndex()).toBe(model.length);
          expect(s.firstIndex()).toBe(compacted + 1);
          for (let i = compacted + 1; i <= model.length; i++) expect(s.term(i as LogIndex)).toBe(model[i - 1]);
        }
      }),
    );
  });
});

describe('RaftLog', () => {
  it('reads across durable storage and the unstable tail', () => {
    const s = new MemoryStorage();
    s.append([e(1, 1), e(2, 1)]);
    const log = new RaftLog(s);
    log.append([e(3, 2), e(4, 2)]);
    expect(log.lastIndex()).toBe(4);
    expect(log.slice(1 as LogIndex, 5 as LogIndex, Infinity).map((x) => x.term)).toEqual([1, 1, 2, 2]);
    log.unstable.stableTo(4 as LogIndex, 2 as Term);
    expect(log.unstable.entries).toEqual([]);
  });

  it('does not mark entries stable when they were replaced after the Ready was taken', () => {
    const log = new RaftLog(new MemoryStorage());
    log.append([e(1, 1), e(2, 1)]);
    log.append([e(2, 2)]); // replaced before the driver acknowledged (2, 1)
    log.unstable.stableTo(2 as LogIndex, 1 as Term);
    expect(log.unstable.entries.map((x) => x.term)).toEqual([1, 2]);
  });

  it('refuses to append below the commit index or commit beyond the log (broken invariants)', () => {
    const log = new RaftLog(new MemoryStorage());
    log.append([e(1, 1), e(2, 1)]);
    log.commitTo(2 as LogIndex);
    expect(() => log.append([e(2, 2)])).toThrow(/below committed/);
    expect(() => {
      log.commitTo(3 as LogIndex);
    }).toThrow(/beyond last index/);
  });

  it('findConflictByTerm skips back over a whole term at once', () => {
    const log = new RaftLog(new MemoryStorage());
    log.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2), e(5, 2), e(6, 4)]);
    expect(log.findConflictByTerm(6 as LogIndex, 3 as Term)).toEqual({ index: 5, term: 2 });
    expect(log.findConflictByTerm(5 as LogIndex, 1 as Term)).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(9 as LogIndex, 9 as Term)).toEqual({ index: 6, term: 4 });
  });

  it('§5.4.1 up-to-date comparison: last term first, then length', () => {
    const log = new RaftLog(new MemoryStorage());
    log.append([e(1, 1), e(2, 3)]);
    expect(log.isUpToDate(1 as LogIndex, 4 as Term)).toBe(true);
    expect(log.isUpToDate(5 as LogIndex, 2 as Term)).toBe(false);
    expect(log.isUpToDate(2 as LogIndex, 3 as Term)).toBe(true);
    expect(log.isUpToDate(1 as LogIndex, 3 as Term)).toBe(false);
  });
});
