import { describe, expect, it } from '@jest/globals';
import { isLinearizable, streamModel } from './linearizability.ts';
import type { Operation, StreamInput, StreamOutput } from './linearizability.ts';

type Op = Operation<StreamInput, StreamOutput>;
const append = (call: number, ret: number, expected: StreamInput & { kind: 'append' } extends infer A ? (A extends { expected: infer E } ? E : never) : never, output: StreamOutput | undefined, count = 1): Op => ({ call, ret, input: { kind: 'append', expected, count }, output });
const read = (call: number, ret: number, version: number): Op => ({ call, ret, input: { kind: 'read' }, output: { kind: 'read', version } });

describe('the linearizability checker, on one stream', () => {
  it('accepts sequential histories that follow the rules, and rejects ones that do not', () => {
    expect(isLinearizable(streamModel, [append(0, 1, 'no_stream', { kind: 'appended', firstVersion: 0 }), read(2, 3, 0), append(4, 5, 0, { kind: 'appended', firstVersion: 1 }, 2), read(6, 7, 2)])).toBe(true);
    expect(isLinearizable(streamModel, [append(0, 1, 'no_stream', { kind: 'appended', firstVersion: 0 }), read(2, 3, -1)])).toBe(false); // stale read
    expect(isLinearizable(streamModel, [append(0, 1, 'no_stream', { kind: 'appended', firstVersion: 0 }), append(2, 3, 'no_stream', { kind: 'appended', firstVersion: 1 })])).toBe(false); // lost expectation
    expect(isLinearizable(streamModel, [append(0, 1, 5, { kind: 'conflict', actual: -1 })])).toBe(true);
    expect(isLinearizable(streamModel, [append(0, 1, 5, { kind: 'conflict', actual: 3 })])).toBe(false);
  });

  it('orders concurrent operations any way that works', () => {
    // Two concurrent no_stream appends: exactly one may win.
    expect(isLinearizable(streamModel, [append(0, 10, 'no_stream', { kind: 'appended', firstVersion: 0 }), append(1, 9, 'no_stream', { kind: 'conflict', actual: 0 })])).toBe(true);
    expect(isLinearizable(streamModel, [append(0, 10, 'no_stream', { kind: 'appended', firstVersion: 0 }), append(1, 9, 'no_stream', { kind: 'appended', firstVersion: 0 })])).toBe(false);
    // A read concurrent with an append may see before or after, but not a version that never was.
    expect(isLinearizable(streamModel, [append(0, 10, 'any', { kind: 'appended', firstVersion: 0 }), read(1, 2, -1)])).toBe(true);
    expect(isLinearizable(streamModel, [append(0, 10, 'any', { kind: 'appended', firstVersion: 0 }), read(1, 2, 0)])).toBe(true);
    expect(isLinearizable(streamModel, [append(0, 10, 'any', { kind: 'appended', firstVersion: 0 }), read(1, 2, 1)])).toBe(false);
  });

  it('lets an unanswered append take effect or not, as the rest of the history requires', () => {
    expect(isLinearizable(streamModel, [append(0, Infinity, 'any', undefined), read(5, 6, 0)])).toBe(true);
    expect(isLinearizable(streamModel, [append(0, Infinity, 'any', undefined), read(5, 6, -1)])).toBe(true);
    expect(isLinearizable(streamModel, [append(0, Infinity, 'any', undefined), read(5, 6, 0), read(7, 8, -1)])).toBe(false);
  });

  it('stays fast on a burst of concurrent refused appends and reads (the search places them greedily)', () => {
    // 40 operations all concurrent, as after a long partition: refused appends pinned to each
    // version as it passes, and appends that move it.
    const ops: Op[] = [];
    for (let v = 0; v < 10; v++) {
      ops.push(append(v, 1000, 'any', { kind: 'appended', firstVersion: v }));
      for (let k = 0; k < 3; k++) ops.push(append(v, 1000, 'no_stream', { kind: 'conflict', actual: v }));
    }
    expect(isLinearizable(streamModel, ops)).toBe(true);
    // One refused append claiming a version the stream never had breaks it.
    expect(isLinearizable(streamModel, [...ops, append(5, 1000, 'no_stream', { kind: 'conflict', actual: 42 })])).toBe(false);
  });
});
