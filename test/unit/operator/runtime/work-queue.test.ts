import { describe, expect, it } from '@jest/globals';
import { WorkQueue } from '../../../../operator/runtime/work-queue.ts';

describe('WorkQueue', () => {
  it('queues a key once however often it is added, in first-added order', async () => {
    const q = new WorkQueue();
    for (const k of ['a', 'b', 'a', 'c', 'b']) q.add(k);
    expect(q.length).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(['a', 'b', 'c']);
  });

  it('never hands a key to two workers: a key added while processed comes back after done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    q.add('a');
    q.add('b');
    expect(await q.get()).toBe('b'); // not 'a': it is being processed
    expect(q.length).toBe(0);
    q.done(first as string);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('hands a key to a worker that was already waiting', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('a');
    expect(await waiting).toBe('a');
  });

  it('backs off per key exponentially until forgotten', () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 70 });
    expect([q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a')]).toEqual([10, 20, 40, 70]);
    expect(q.retries('a')).toBe(4);
    expect(q.addRateLimited('b')).toBe(10); // other keys are not affected
    q.forget('a');
    expect(q.addRateLimited('a')).toBe(10);
    void q.shutDown();
  });

  it('limits the overall rate of retries with a token bucket', () => {
    let now = 0;
    const q = new WorkQueue({ baseDelayMs: 1, qps: 10, burst: 3, now: () => now });
    const delays = ['a', 'b', 'c', 'd', 'e'].map((k) => q.addRateLimited(k));
    expect(delays).toEqual([1, 1, 1, 100, 200]); // the burst, then one token every 100 ms
    now = 1_000; // the bucket refills
    expect(q.addRateLimited('f')).toBe(1);
    void q.shutDown();
  });

  it('keeps the earliest schedule of a key', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 60_000);
    q.addAfter('a', 5);
    expect(q.scheduled).toBe(1);
    expect(await q.get()).toBe('a');
    expect(q.scheduled).toBe(0);
  });

  it('shuts down: waiting workers get undefined, and shutDown waits for keys in flight', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = (await q.get()) as string;
    const waiting = q.get();
    let stopped = false;
    const stopping = q.shutDown().then(() => (stopped = true));
    expect(await waiting).toBeUndefined();
    await new Promise((r) => setTimeout(r, 10));
    expect(stopped).toBe(false);
    q.done(key);
    await stopping;
    expect(stopped).toBe(true);
    q.add('b');
    expect(await q.get()).toBeUndefined();
  });
});
