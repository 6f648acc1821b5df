import { describe, expect, it } from '@jest/globals';
import { parseEventStream } from '../../node/client/sse.ts';
import { clusterPerTest } from './support/cluster-fixture.ts';
import { getJson, waitForLeader } from './support/node-cluster.ts';
import type { NodeCluster } from './support/node-cluster.ts';

const fixture = clusterPerTest();

interface Delivered {
  readonly position: number;
  readonly id: string;
  readonly stream: string;
  readonly node: string;
}

/**
 * A subscriber that survives its node going away: it reconnects to the next running node with
 * Last-Event-ID, as any SSE client does.
 */
function subscribe(c: NodeCluster, first: string, path: string, until: (got: Delivered[]) => boolean): { done: Promise<Delivered[]>; stop: () => void } {
  const got: Delivered[] = [];
  const abort = new AbortController();
  const ids = c.specs.map((s) => s.id);
  const done = (async (): Promise<Delivered[]> => {
    let node = first;
    let lastId: string | undefined;
    while (!until(got) && !abort.signal.aborted) {
      try {
        const res = await fetch(`${c.url(node)}${path}`, { headers: lastId === undefined ? {} : { 'last-event-id': lastId }, signal: abort.signal });
        if (res.status === 200 && res.body !== null) {
          for await (const m of parseEventStream(res.body, abort.signal)) {
            if (m.id !== undefined) lastId = m.id;
            if (m.data !== undefined) {
              const e = JSON.parse(m.data) as { position: number; id: string; stream: string };
              got.push({ position: e.position, id: e.id, stream: e.stream, node });
            }
            if (until(got)) break;
          }
        }
      } catch {
        // The node went away mid-stream: resume elsewhere.
      }
      if (until(got)) break;
      await new Promise((r) => setTimeout(r, 100));
      const at = ids.indexOf(node);
      node = [...ids.slice(at + 1), ...ids.slice(0, at + 1)].find((id) => c.running(id)) ?? node;
    }
    abort.abort();
    return got;
  })();
  return { done, stop: () => { abort.abort(); } };
}

/** Appends one event with a fixed id, retrying on any node until it is acknowledged. */
async function appendOnce(c: NodeCluster, i: number): Promise<void> {
  const ids = c.specs.map((s) => s.id);
  for (let attempt = 0; attempt < 200; attempt++) {
    const node = ids[(i + attempt) % ids.length] as string;
    if (!c.running(node)) continue;
    try {
      const res = await getJson(`${c.url(node)}/v1/streams/s${i % 5}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ events: [{ id: `event-${i}`, type: 'Numbered', data: { i } }] }),
      });
      if (res.status === 201) return;
    } catch {
      // Killed node: retry elsewhere.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`event ${i} was never acknowledged`);
}

describe('SSE subscriptions', () => {
  it('delivers every event once and in order, catching up then live, across a leader kill and a restart of its own node', async () => {
    const c = await fixture.start(181);
    const leader = await waitForLeader(c);
    const total = 300;
    for (let i = 0; i < 50; i++) await appendOnce(c, i); // history to catch up on
    const serving = c.specs.map((s) => s.id).find((id) => id !== leader) as string;
    const sub = subscribe(c, serving, '/v1/subscriptions/events?fromPosition=0', (got) => got.length >= total);
    const writers = (async () => {
      for (let i = 50; i < total; i++) {
        // One node down at a time, so a majority keeps accepting writes.
        if (i === 120) c.signal(leader, 'SIGKILL'); // failover while live
        if (i === 160) {
          await c.stop(leader, 'SIGKILL');
          c.start(leader);
        }
        if (i === 200) c.signal(serving, 'SIGKILL'); // the subscriber's own node dies
        if (i === 260) {
          await c.stop(serving, 'SIGKILL');
          c.start(serving);
        }
        await appendOnce(c, i);
      }
    })();
    let got: Delivered[];
    let timer: NodeJS.Timeout | undefined;
    try {
      await writers;
      got = await Promise.race([sub.done, new Promise<never>((_, reject) => (timer = setTimeout(() => { reject(new Error('subscription did not deliver everything')); }, 60_000)))]);
    } finally {
      clearTimeout(timer);
      sub.stop();
    }
    expect(got.map((d) => d.position)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(new Set(got.map((d) => d.id)).size).toBe(total);
    expect(new Set(got.map((d) => d.node)).size).toBeGreaterThan(1); // it really moved
    fixture.passed();
  }, 120_000);

  it('filters by stream and resumes a filtered subscription after the last position seen', async () => {
    const c = await fixture.start(191);
    const leader = await waitForLeader(c);
    for (let i = 0; i < 20; i++) await appendOnce(c, i);
    const res = await fetch(`${c.url(leader)}/v1/subscriptions/events?stream=s3`);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const seen: { id: string | undefined; stream?: string }[] = [];
    const abort = new AbortController();
    for await (const m of parseEventStream(res.body as ReadableStream<Uint8Array>, abort.signal)) {
      seen.push({ id: m.id, ...(m.data === undefined ? {} : { stream: (JSON.parse(m.data) as { stream: string }).stream }) });
      if (m.id === '19') break;
    }
    abort.abort();
    expect(seen.filter((s) => s.stream !== undefined).map((s) => [s.id, s.stream])).toEqual([['3', 's3'], ['8', 's3'], ['13', 's3'], ['18', 's3']]);
    expect(seen.at(-1)).toEqual({ id: '19' }); // the position moved past the filtered tail
    // Resuming after position 13 gives 18 next.
    const resumed = await fetch(`${c.url(leader)}/v1/subscriptions/events?stream=s3`, { headers: { 'last-event-id': '13' } });
    const abort2 = new AbortController();
    for await (const m of parseEventStream(resumed.body as ReadableStream<Uint8Array>, abort2.signal)) {
      if (m.data !== undefined) {
        expect(JSON.parse(m.data)).toMatchObject({ position: 18, stream: 's3' });
        break;
      }
    }
    abort2.abort();
    const bad = await getJson<{ code: string }>(`${c.url(leader)}/v1/subscriptions/events`, { headers: { 'last-event-id': 'yesterday' } });
    expect([bad.status, bad.body.code]).toEqual([400, 'InvalidLastEventId']);
    fixture.passed();
  }, 60_000);
});
