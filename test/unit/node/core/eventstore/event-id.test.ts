import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { EventIdGenerator, uuidV7Time } from '../../../../../node/core/eventstore/index.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A clock the test moves by hand. */
function manualClock(start: number): { now: () => number; set: (ms: number) => void } {
  let ms = start;
  return {
    now: () => ms,
    set: (to) => {
      ms = to;
    },
  };
}

const cryptoRandom = (bytes: Uint8Array): void => {
  randomFillSync(bytes);
};

describe('EventIdGenerator (UUID version 7)', () => {
  it('makes RFC 9562 version 7 ids that carry the clock in milliseconds', () => {
    const at = Date.UTC(2026, 11, 3, 16, 30, 0, 123);
    const ids = new EventIdGenerator(() => at, cryptoRandom);
    const id = ids.next();
    expect(id).toMatch(UUID_V7);
    expect(uuidV7Time(id)).toBe(at);
  });

  it('encodes the whole 48-bit time range', () => {
    for (const at of [0, 1, 2 ** 16 - 1, 2 ** 16, 2 ** 32 + 5, 2 ** 48 - 1]) {
      const id = new EventIdGenerator(() => at, cryptoRandom).next();
      expect(id).toMatch(UUID_V7);
      expect(uuidV7Time(id)).toBe(at);
    }
  });

  it('sorts in the order it made the ids, within a millisecond and across them', () => {
    const clock = manualClock(1_700_000_000_000);
    const ids = new EventIdGenerator(clock.now, cryptoRandom);
    const made: string[] = [];
    for (let ms = 0; ms < 50; ms++) {
      clock.set(1_700_000_000_000 + ms * 3);
      for (let i = 0; i < 97; i++) made.push(ids.next());
    }
    expect([...made].sort()).toEqual(made);
    expect(new Set(made).size).toBe(made.length);
  });

  it('borrows the next millisecond when a millisecond runs out of counter', () => {
    const at = 1_700_000_000_000;
    const ids = new EventIdGenerator(() => at, cryptoRandom);
    const made = Array.from({ length: 10_000 }, () => ids.next());
    expect([...made].sort()).toEqual(made);
    expect(new Set(made).size).toBe(made.length);
    // Counters start below 2^11 and end at 2^12 - 1: at least 2,049 ids per millisecond.
    const last = uuidV7Time(made.at(-1) as string);
    expect(last).toBeGreaterThan(at);
    expect(last).toBeLessThanOrEqual(at + Math.ceil(10_000 / 2_049));
    // Once the clock passes the borrowed milliseconds, ids follow it again.
    const later = new EventIdGenerator(() => at + 1_000, cryptoRandom).next();
    expect(uuidV7Time(later)).toBe(at + 1_000);
  });

  it('does not go back when the clock does', () => {
    const clock = manualClock(1_700_000_000_500);
    const ids = new EventIdGenerator(clock.now, cryptoRandom);
    const before = ids.next();
    clock.set(1_700_000_000_000);
    const after = ids.next();
    expect(after > before).toBe(true);
    expect(uuidV7Time(after)).toBe(1_700_000_000_500);
  });

  it('puts 62 random bits in every id, drawn from the given source', () => {
    const at = 1_700_000_000_000;
    const zeros = new EventIdGenerator(
      () => at,
      (bytes) => {
        bytes.fill(0);
      },
    );
    expect(zeros.next().slice(19)).toBe('8000-000000000000');
    const ones = new EventIdGenerator(
      () => at,
      (bytes) => {
        bytes.fill(0xff);
      },
    );
    // The variant's two bits stay 10 whatever the random bytes are.
    expect(ones.next().slice(19)).toBe('bfff-ffffffffffff');
    // Two generators at the same instant (two nodes) still make different ids.
    const a = new EventIdGenerator(() => at, cryptoRandom);
    const b = new EventIdGenerator(() => at, cryptoRandom);
    const fromA = new Set(Array.from({ length: 1_000 }, () => a.next()));
    for (let i = 0; i < 1_000; i++) expect(fromA.has(b.next())).toBe(false);
  });

  it('draws random bytes in blocks rather than per id', () => {
    let calls = 0;
    const ids = new EventIdGenerator(
      () => 1_700_000_000_000,
      (bytes) => {
        calls++;
        randomFillSync(bytes);
      },
    );
    for (let i = 0; i < 1_000; i++) ids.next();
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(10);
  });
});
