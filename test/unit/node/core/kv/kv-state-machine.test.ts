import { describe, expect, it } from '@jest/globals';
import { KvStateMachine, encodeKvCommand } from '../../../../../node/core/kv/kv-state-machine.ts';
import type { KvCommand } from '../../../../../node/core/kv/kv-state-machine.ts';
import type { LogIndex } from '../../../../../node/core/raft/index.ts';

const put = (key: string, value: string): Uint8Array => encodeKvCommand({ op: 'put', key, value });
const noPause = (): Promise<void> => Promise.resolve();

function fill(kv: KvStateMachine, from: number, to: number): void {
  for (let i = from; i <= to; i++) kv.apply(i as LogIndex, `r${i}`, put(`k${i % 7}`, `v${i}`));
}

describe('KvStateMachine', () => {
  it('applies puts and deletes with revisions, and answers a repeated request id with its first result', () => {
    const kv = new KvStateMachine();
    expect(kv.apply(1 as LogIndex, 'a', put('x', '1'))).toEqual({ ok: true, revision: 1, previous: null });
    kv.skip(2 as LogIndex);
    expect(kv.apply(3 as LogIndex, 'b', put('x', '2'))).toEqual({ ok: true, revision: 3, previous: '1' });
    // The retry of request 'a' changes nothing and returns what 'a' returned.
    expect(kv.apply(4 as LogIndex, 'a', put('x', '1'))).toEqual({ ok: true, revision: 1, previous: null });
    expect(kv.get('x')).toEqual({ value: '2', revision: 3 });
    const del: KvCommand = { op: 'delete', key: 'x' };
    expect(kv.apply(5 as LogIndex, 'c', encodeKvCommand(del))).toEqual({ ok: true, revision: 5, previous: '2' });
    expect(kv.get('x')).toBeUndefined();
    expect(kv.appliedIndex).toBe(5);
  });

  it('rejects commands that are not valid, still advancing the applied index', () => {
    const kv = new KvStateMachine();
    expect(kv.apply(1 as LogIndex, 'a', new TextEncoder().encode('not json'))).toMatchObject({ ok: false, error: 'InvalidCommand' });
    expect(kv.apply(2 as LogIndex, 'b', new TextEncoder().encode('{"op":"put","key":"k"}'))).toMatchObject({ ok: false, error: 'InvalidCommand' });
    expect(kv.appliedIndex).toBe(2);
    expect(kv.size).toBe(0);
  });

  it('refuses to apply out of order', () => {
    const kv = new KvStateMachine();
    expect(() => kv.apply(2 as LogIndex, 'a', put('x', '1'))).toThrow(/applying 2 after 0/);
  });

  it('serializes a view frozen when it was taken, while applying goes on', async () => {
    const kv = new KvStateMachine();
    fill(kv, 1, 5000);
    const view = kv.snapshot();
    expect(view.index).toBe(5000);
    // Writes after the view, including to keys it holds, must not leak into its bytes.
    fill(kv, 5001, 9000);
    let pauses = 0;
    const bytes = await view.serialize(() => {
      pauses++;
      return Promise.resolve();
    });
    expect(pauses).toBeGreaterThan(0); // big states are serialized in slices

    const restored = new KvStateMachine();
    restored.restore(5000 as LogIndex, bytes);
    const reference = new KvStateMachine();
    fill(reference, 1, 5000);
    expect(restored.appliedIndex).toBe(5000);
    for (let k = 0; k < 7; k++) expect(restored.get(`k${k}`)).toEqual(reference.get(`k${k}`));
    // The same bytes as a snapshot taken with nothing applied after it.
    expect(Buffer.from(await reference.snapshot().serialize(noPause)).equals(Buffer.from(bytes))).toBe(true);
    // The de-duplication table travels with the snapshot: a retried request stays a no-op.
    expect(restored.apply(5001 as LogIndex, 'r42', put('k0', 'changed'))).toEqual(reference.apply(5001 as LogIndex, 'r42', put('k0', 'changed')));
    expect(restored.get('k0')).toEqual(reference.get('k0'));
  });

  it('round-trips an empty state, and refuses a snapshot for another index', async () => {
    const kv = new KvStateMachine();
    kv.skip(1 as LogIndex);
    const bytes = await kv.snapshot().serialize(noPause);
    const restored = new KvStateMachine();
    restored.restore(1 as LogIndex, bytes);
    expect(restored.appliedIndex).toBe(1);
    expect(restored.size).toBe(0);
    expect(() => { new KvStateMachine().restore(2 as LogIndex, bytes); }).toThrow(/expected 2/);
  });
});
