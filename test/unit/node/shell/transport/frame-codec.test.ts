import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { FrameDecoder, FrameError, FrameKind, encodeFrame, packValue } from '../../../../../node/shell/transport/index.ts';
import { unpackValue } from '../../../../../node/shell/transport/frame-codec.ts';
import { validateMessage } from '../../../../../node/shell/transport/index.ts';
import type { Message } from '../../../../../node/core/raft/index.ts';

const sample: Message[] = [
  { type: 'PreVote', from: 'a', to: 'b', term: 3, lastLogIndex: 9, lastLogTerm: 2 } as unknown as Message,
  { type: 'RequestVote', from: 'a', to: 'b', term: 3, lastLogIndex: 9, lastLogTerm: 2, leadershipTransfer: true } as unknown as Message,
  { type: 'RequestVoteResponse', from: 'b', to: 'a', term: 3, reject: false } as unknown as Message,
  {
    type: 'AppendEntries', from: 'a', to: 'b', term: 3, prevLogIndex: 4, prevLogTerm: 2, leaderCommit: 4,
    entries: [
      { type: 'Normal', index: 5, term: 3, data: new Uint8Array([1, 2, 3]) },
      { type: 'ConfChange', index: 6, term: 3, change: { type: 'AddLearner', nodeId: 'd', address: 'd:7000' } },
    ],
  } as unknown as Message,
  { type: 'AppendEntriesResponse', from: 'b', to: 'a', term: 3, reject: true, index: 4, rejectHint: 2, rejectHintTerm: 1 } as unknown as Message,
  { type: 'Heartbeat', from: 'a', to: 'b', term: 3, leaderCommit: 4, context: 'a|r1' } as unknown as Message,
  { type: 'HeartbeatResponse', from: 'b', to: 'a', term: 3, context: '' } as unknown as Message,
  {
    type: 'InstallSnapshot', from: 'a', to: 'b', term: 3,
    snapshot: { metadata: { index: 10, term: 3, membership: { voters: ['a', 'b'], learners: [], addresses: { a: 'a:1', b: 'b:1' } } }, data: new Uint8Array(100) },
  } as unknown as Message,
  { type: 'TimeoutNow', from: 'a', to: 'b', term: 3 } as unknown as Message,
  { type: 'Propose', from: 'b', to: 'a', term: 0, data: [new Uint8Array([9])] } as unknown as Message,
  { type: 'ReadIndex', from: 'b', to: 'a', term: 0, requestId: 'r' } as unknown as Message,
  { type: 'ReadIndexResponse', from: 'a', to: 'b', term: 0, requestId: 'r', index: 7, reject: false } as unknown as Message,
  { type: 'TransferLeadership', from: 'b', to: 'a', term: 0, transferee: 'c' } as unknown as Message,
];

describe('frame codec', () => {
  it('splits frames correctly whatever the TCP chunk boundaries (property)', () => {
    const frames = sample.map((m) => encodeFrame(FrameKind.Message, packValue(m)));
    const stream = Buffer.concat(frames);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const decoder = new FrameDecoder(1 << 20);
        const got: Buffer[] = [];
        let prev = 0;
        for (const p of [...points, stream.length]) {
          for (const f of decoder.push(stream.subarray(prev, p))) got.push(f.payload);
          prev = p;
        }
        decoder.end();
        expect(got.map((p) => validateMessage(unpackValue(p)))).toEqual(sample.map((m) => validateMessage(unpackValue(packValue(m)))));
      }),
    );
  });

  it('random bytes either decode to frames or fail with a FrameError, never anything else (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const decoder = new FrameDecoder(4096);
        try {
          decoder.push(Buffer.from(bytes));
          decoder.end();
        } catch (err) {
          expect(err).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reports a frame cut short by the end of the stream as truncated', () => {
    const frame = encodeFrame(FrameKind.Message, packValue(sample[0]));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: frame.length - 1 }), (cut) => {
        const decoder = new FrameDecoder(1 << 20);
        expect(decoder.push(frame.subarray(0, cut))).toEqual([]);
        expect(() => {
          decoder.end();
        }).toThrow(/truncated/);
      }),
    );
  });

  it('rejects a frame longer than the limit before buffering it', () => {
    const decoder = new FrameDecoder(100);
    const header = Buffer.alloc(5);
    header.writeUInt32BE(1_000_000, 0);
    header.writeUInt8(FrameKind.Message, 4);
    expect(() => decoder.push(header)).toThrow(/oversized/);
  });

  it('rejects unknown frame kinds', () => {
    expect(() => new FrameDecoder(100).push(Buffer.from([0, 0, 0, 2, 99, 0]))).toThrow(/bad_kind/);
  });
});

describe('message validation', () => {
  it('accepts every message type after a round trip through the wire encoding', () => {
    for (const m of sample) expect(validateMessage(unpackValue(packValue(m)))).toMatchObject({ type: m.type, from: m.from, to: m.to });
  });

  it('rejects messages with missing or mistyped fields', () => {
    const bad: unknown[] = [
      null,
      [],
      'x',
      { type: 'RequestVote', from: 'a', to: 'b', term: 1, lastLogIndex: 1, lastLogTerm: 1 },
      { type: 'Heartbeat', from: 'a', to: 'b', term: -1, leaderCommit: 0, context: '' },
      { type: 'Heartbeat', from: '', to: 'b', term: 1, leaderCommit: 0, context: '' },
      { type: 'AppendEntries', from: 'a', to: 'b', term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries: [{ type: 'Normal', index: 2, term: 1, data: new Uint8Array() }] },
      { type: 'AppendEntries', from: 'a', to: 'b', term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, entries: [{ type: 'Normal', index: 1, term: 1, data: 'text' }] },
      { type: 'InstallSnapshot', from: 'a', to: 'b', term: 1, snapshot: { metadata: { index: 1, term: 1 }, data: new Uint8Array() } },
      { type: 'Nope', from: 'a', to: 'b', term: 1 },
      { type: 'Propose', from: 'a', to: 'b', term: 0, data: ['x'] },
      { type: 'AppendEntriesResponse', from: 'a', to: 'b', term: 1.5, reject: false, index: 0, rejectHint: 0, rejectHintTerm: 0 },
    ];
    for (const v of bad) expect(typeof validateMessage(v)).toBe('string');
  });

  it('never throws on arbitrary decoded values (property)', () => {
    fc.assert(
      fc.property(fc.anything({ withTypedArray: true }), (v) => {
        const r = validateMessage(v);
        expect(typeof r === 'string' || typeof r === 'object').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
