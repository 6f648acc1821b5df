import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { attemptId, decodeProposal, encodeProposal, requestIdOf } from '../../../../node/shell/proposal-envelope.ts';

describe('proposal envelope', () => {
  it('decodes what it encoded, every envelope intact after thousands more were cut from shared slabs', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 60 }), fc.uint8Array({ maxLength: 12_000 })), { minLength: 1, maxLength: 300 }), (inputs) => {
        const envelopes = inputs.map(([id, command]) => encodeProposal(id, command));
        // Decoded only once all were made: a later envelope never overwrote an earlier one.
        envelopes.forEach((data, i) => {
          const [id, command] = inputs[i] as [string, Uint8Array];
          const got = decodeProposal(data);
          expect(got?.requestId).toBe(id);
          expect(Buffer.from(got?.command ?? [])).toEqual(Buffer.from(command));
        });
      }),
      { numRuns: 50 },
    );
  });

  it('cuts small envelopes from shared buffers and gives large ones their own', () => {
    const small = Array.from({ length: 1_000 }, (_, i) => encodeProposal(attemptId(`req-${String(i)}`, 'tag.1'), new Uint8Array(300)));
    // About 330 bytes each: some 200 to a 64 KiB slab.
    expect(new Set(small.map((e) => e.buffer)).size).toBeLessThanOrEqual(6);
    const large = encodeProposal('big', new Uint8Array(20_000));
    expect(large.byteOffset).toBe(0);
    expect(large.buffer.byteLength).toBe(large.length);
    expect(requestIdOf(decodeProposal(small[999] as Uint8Array)?.requestId ?? '')).toBe('req-999');
  });

  it('refuses what is not an envelope', () => {
    expect(decodeProposal(new Uint8Array([]))).toBeUndefined();
    expect(decodeProposal(new Uint8Array([2, 0, 0]))).toBeUndefined();
    expect(decodeProposal(new Uint8Array([1, 0, 9, 65]))).toBeUndefined();
  });
});
