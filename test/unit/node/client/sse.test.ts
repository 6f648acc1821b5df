import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseEventStream } from '../../../../node/client/sse.ts';
import type { SseMessage } from '../../../../node/client/sse.ts';

const enc = new TextEncoder();
function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(typeof c === 'string' ? enc.encode(c) : c);
      controller.close();
    },
  });
}

async function all(chunks: (string | Uint8Array)[]): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const m of parseEventStream(streamOf(chunks))) out.push(m);
  return out;
}

describe('parseEventStream', () => {
  it('reads ids and data, skips comments, joins data lines, and keeps id-only messages', async () => {
    const text = ': keep-alive\n\nid: 0\ndata: {"a":1}\n\nid: 1\ndata: line one\ndata: line two\n\nid: 7\n\nevent: ignored\ndata:no-space\r\n\r\n';
    expect(await all([text])).toEqual([
      { id: '0', data: '{"a":1}' },
      { id: '1', data: 'line one\nline two' },
      { id: '7', data: undefined },
      { id: undefined, data: 'no-space' },
    ]);
  });

  it('gives the same messages however the bytes are split, even inside a character (property)', async () => {
    const bytes = enc.encode('id: 0\r\ndata: {"text":"é ✓"}\n\n: ping\n\nid: 1\rdata: x\r\n\r\n');
    const expected = await all([bytes]);
    expect(expected).toEqual([{ id: '0', data: '{"text":"é ✓"}' }, { id: '1', data: 'x' }]);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 10 }), async (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const chunks = points.slice(1).map((end, i) => bytes.slice(points[i], end));
        expect(await all(chunks)).toEqual(expected);
      }),
    );
  });
});
