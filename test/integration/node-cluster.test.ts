import { describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { uuidV7Time } from '../../node/core/eventstore/index.ts';
import { clusterPerTest } from './support/cluster-fixture.ts';
import { appendValue, getJson, readStream, until, waitForLeader } from './support/node-cluster.ts';
import type { ClusterView, NodeCluster, StreamView } from './support/node-cluster.ts';

const fixture = clusterPerTest();
const passed = (): void => {
  fixture.passed();
};
const newCluster = (hostBase: number, env: Record<string, string> = {}): Promise<NodeCluster> => fixture.start(hostBase, env);

/**
 * Each test stream holds one value event: its value, its global position, and how many events
 * the stream has (more than one would be a write applied twice).
 */
async function read(url: string, stream: string, consistency = 'strong'): Promise<{ status: number; body: { value?: string; position?: number; count?: number } }> {
  const res = await readStream(url, stream, consistency);
  const first = res.status === 200 ? res.body.events[0] : undefined;
  if (first === undefined) return { status: res.status === 200 ? 404 : res.status, body: {} };
  return { status: 200, body: { value: first.data.value, position: first.position, count: res.body.events.length } };
}

/** Writes with retries (same Idempotency-Key) across nodes until acknowledged or out of attempts. */
async function writeWithRetry(c: NodeCluster, key: string, value: string, attempts = 40): Promise<number | undefined> {
  const ids = c.specs.map((s) => s.id);
  for (let i = 0; i < attempts; i++) {
    const id = ids[(key.length + i) % ids.length] as string;
    if (!c.running(id)) continue;
    try {
      const res = await appendValue(c.url(id), key, value, `idem-${key}`);
      if (res.status === 201 && res.body.firstPosition !== undefined) return res.body.firstPosition;
    } catch {
      // Connection refused or reset (the node was killed): try another node.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

describe('a 3-node cluster of real processes', () => {
  it('elects a leader, replicates writes, and every node reads them back', async () => {
    const c = await newCluster(31);
    const leader = await waitForLeader(c);
    const started = Date.now();
    for (let i = 0; i < 20; i++) {
      const via = c.specs[i % 3]?.id as string;
      const res = await appendValue(c.url(via), `k${i}`, `v${i}`);
      expect(res.status).toBe(201);
    }
    const ended = Date.now();
    // Events sent without ids get time-ordered ones (UUID version 7) from the node that took them.
    for (let i = 0; i < 20; i++) {
      const id = (await readStream(c.url(leader), `k${i}`)).body.events[0]?.id ?? '';
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(uuidV7Time(id)).toBeGreaterThanOrEqual(started);
      expect(uuidV7Time(id)).toBeLessThanOrEqual(ended);
    }
    for (const s of c.specs) {
      for (let i = 0; i < 20; i++) {
        const got = await read(c.url(s.id), `k${i}`);
        expect(got.status).toBe(200);
        expect(got.body.value).toBe(`v${i}`);
      }
    }
    const view = (await getJson<ClusterView>(`${c.url(leader)}/v1/cluster`)).body;
    expect(view.members.map((m) => m.role)).toEqual(['voter', 'voter', 'voter']);
    passed();
  }, 30_000);

  it('keeps every acknowledged write through kill -9 of the leader during 2,000 concurrent writes, applying none twice', async () => {
    const c = await newCluster(41);
    const leader = await waitForLeader(c);
    const total = 2000;
    const acked = new Map<string, number>();
    let next = 0;
    let killed = false;
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        if (!killed && i >= total / 4) {
          killed = true;
          c.signal(leader, 'SIGKILL');
        }
        const revision = await writeWithRetry(c, `w${i}`, `value-${i}`);
        if (revision !== undefined) acked.set(`w${i}`, revision);
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: 64 }, () => worker()));
    const writeSeconds = (Date.now() - started) / 1000;
    await c.stop(leader, 'SIGKILL');
    c.start(leader);
    await waitForLeader(c);
    expect(acked.size).toBeGreaterThan(total * 0.95);
    // Every acknowledged write is on every node, at the position it was acknowledged with, and
    // exactly once (its stream holds one event). One strong read per node is a barrier
    // covering every write acknowledged before it (linearizability); the rest can be local reads.
    for (const s of c.specs) {
      await until(`${s.id} to serve a strong read`, async () => ((await getJson(`${c.url(s.id)}/v1/events?limit=1&consistency=strong`)).status === 200 ? true : undefined));
      const keys = [...acked.keys()];
      for (let i = 0; i < keys.length; i += 100) {
        await Promise.all(
          keys.slice(i, i + 100).map(async (key) => {
            const got = await read(c.url(s.id), key, 'eventual');
            expect({ key, node: s.id, status: got.status, position: got.body.position, count: got.body.count }).toEqual({ key, node: s.id, status: 200, position: acked.get(key), count: 1 });
          }),
        );
      }
    }
    process.stdout.write(`2,000 writes with a leader kill: ${acked.size} acknowledged in ${writeSeconds.toFixed(1)} s\n`);
    passed();
  }, 120_000);

  it('preserves state when all three stop and start again', async () => {
    const c = await newCluster(51);
    await waitForLeader(c);
    for (let i = 0; i < 10; i++) expect((await appendValue(c.url('node-0'), `p${i}`, `v${i}`)).status).toBe(201);
    for (const s of c.specs) expect(await c.stop(s.id, 'SIGTERM')).toBe(0); // clean exit within the deadline
    c.startAll();
    await waitForLeader(c);
    for (const s of c.specs) for (let i = 0; i < 10; i++) expect((await read(c.url(s.id), `p${i}`)).body.value).toBe(`v${i}`);
    passed();
  }, 60_000);

  it('a leader frozen past the election timeout steps down when thawed: no split brain, nothing lost', async () => {
    const c = await newCluster(61);
    const old = await waitForLeader(c);
    for (let i = 0; i < 5; i++) expect((await appendValue(c.url(old), `before${i}`, 'x')).status).toBe(201);
    c.signal(old, 'SIGSTOP');
    const others = c.specs.map((s) => s.id).filter((id) => id !== old);
    // Asked while the follower still takes the frozen node for leader: its ReadIndex goes
    // unanswered, and the follower asks the next leader instead of failing the read.
    const strongDuringElection = read(c.url(others[0] as string), 'before0');
    const fresh = await waitForLeader(c, others);
    expect(fresh).not.toBe(old);
    expect(await strongDuringElection).toEqual({ status: 200, body: { value: 'x', position: expect.any(Number), count: 1 } });
    for (let i = 0; i < 5; i++) expect((await appendValue(c.url(fresh), `during${i}`, 'y')).status).toBe(201);
    c.signal(old, 'SIGCONT');
    const agreed = await waitForLeader(c);
    expect(agreed).toBe(fresh);
    const view = (await getJson<ClusterView>(`${c.url(old)}/v1/cluster`)).body;
    expect(view.role).toBe('follower');
    for (const s of c.specs) {
      for (let i = 0; i < 5; i++) {
        expect((await read(c.url(s.id), `before${i}`)).body.value).toBe('x');
        expect((await read(c.url(s.id), `during${i}`)).body.value).toBe('y');
      }
    }
    passed();
  }, 60_000);

  it('garbage on the peer and HTTP ports changes nothing', async () => {
    const c = await newCluster(71);
    const leader = await waitForLeader(c);
    expect((await appendValue(c.url(leader), 'stable', 'yes')).status).toBe(201);
    // The 201 needs only a majority: wait until every member holds the write, so that the view
    // below changes only if the garbage changes something.
    const before = await until('every member to hold the write', async () => {
      const view = (await getJson<ClusterView>(`${c.url(leader)}/v1/cluster`)).body;
      return view.members.every((m) => m.match === view.commitIndex) ? view : undefined;
    });
    const blast = (host: string, port: number, bytes: Buffer): Promise<void> =>
      new Promise((resolve) => {
        const s = net.connect({ host, port }, () => s.end(bytes));
        s.on('error', () => { resolve(); });
        s.on('close', () => { resolve(); });
        s.resume();
      });
    for (const spec of c.specs) {
      for (let i = 0; i < 20; i++) {
        const junk = Buffer.from(Array.from({ length: 1 + ((i * 37) % 500) }, (_, k) => (k * 131 + i * 7) % 256));
        await blast(spec.host, spec.peerPort, junk);
        await blast(spec.host, spec.httpPort, junk);
      }
      await blast(spec.host, spec.httpPort, Buffer.from('POST /v1/streams/x/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{"ev'));
    }
    const bad = await getJson<{ code: string }>(`${c.url(leader)}/v1/streams/stable/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"events":' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(bad.body.code).toBe('MalformedJson');
    // Every kind of bad request gets its problem code and changes nothing.
    const json = { 'content-type': 'application/json' };
    const stable = '/v1/streams/stable/events';
    const cases: [string, RequestInit, number, string][] = [
      [stable, { method: 'POST', headers: json, body: '{"evnts":[]}' }, 400, 'InvalidRequest'],
      [stable, { method: 'POST', headers: json, body: '{"events":[]}' }, 400, 'InvalidRequest'],
      [stable, { method: 'POST', headers: json, body: '{"events":[{"type":5,"data":{}}]}' }, 400, 'InvalidRequest'],
      [stable, { method: 'POST', headers: json, body: '{"expectedVersion":"sometimes","events":[{"type":"T","data":{}}]}' }, 400, 'InvalidRequest'],
      [stable, { method: 'POST', headers: json, body: JSON.stringify({ events: [{ type: 'T', data: 'x'.repeat(2 << 20) }] }) }, 413, 'PayloadTooLarge'],
      [stable, { method: 'POST', headers: json, body: JSON.stringify({ events: [{ type: 'T', data: 'x'.repeat(300_000) }] }) }, 413, 'EventTooLarge'],
      [stable, { method: 'POST', headers: json, body: JSON.stringify({ events: Array.from({ length: 1001 }, () => ({ type: 'T', data: 1 })) }) }, 413, 'AppendTooLarge'],
      ['/v1/events', { method: 'POST', headers: json, body: '{"appends":[{"stream":"a","events":[{"type":"T","data":1}]},{"stream":"a","events":[{"type":"T","data":2}]}]}' }, 400, 'InvalidRequest'],
      [`/v1/streams/${'k'.repeat(300)}/events`, { method: 'POST', headers: json, body: '{"events":[{"type":"T","data":{}}]}' }, 400, 'InvalidStream'],
      [`${stable}?consistency=sometimes`, {}, 400, 'InvalidConsistency'],
      [`${stable}?limit=5000`, {}, 400, 'InvalidQuery'],
      [`${stable}?direction=sideways`, {}, 400, 'InvalidQuery'],
      ['/v1/events?fromPosition=-1', {}, 400, 'InvalidQuery'],
      [stable, { method: 'POST', headers: { ...json, 'idempotency-key': 'x'.repeat(300) }, body: '{"events":[{"type":"T","data":{}}]}' }, 400, 'InvalidIdempotencyKey'],
      ['/v1/cluster/members', { method: 'POST', headers: json, body: '{"id":"Bad Id","address":"nowhere"}' }, 400, 'InvalidRequest'],
      ['/v1/cluster/members/node-9/promote', { method: 'POST' }, 409, 'InvalidConfChange'],
      ['/v1/cluster/leadership', { method: 'POST', headers: json, body: '{"to":"node-9"}' }, 409, 'InvalidTransferee'],
      ['/v1/nowhere', {}, 404, 'NotFound'],
    ];
    for (const [pathname, init, status, code] of cases) {
      const res = await getJson<{ code: string; status: number }>(`${c.url(leader)}${pathname}`, init);
      expect({ pathname, status: res.status, code: res.body.code, type: res.headers.get('content-type') }).toEqual({ pathname, status, code, type: expect.stringMatching(/application\/problem\+json/) as unknown });
    }
    const after = (await getJson<ClusterView>(`${c.url(leader)}/v1/cluster`)).body;
    expect(after.leader).toBe(before.leader);
    expect(after.term).toBe(before.term);
    expect(after.members).toEqual(before.members);
    expect((await read(c.url('node-2'), 'stable')).body).toEqual({ value: 'yes', position: 0, count: 1 });
    // An expectation the stream may still reach is decided at apply time: a log entry, nothing stored.
    const conflict = await getJson<{ code: string; actual: number }>(`${c.url('node-1')}${stable}`, { method: 'POST', headers: json, body: '{"expectedVersion":7,"events":[{"type":"T","data":{}}]}' });
    expect([conflict.status, conflict.body.code, conflict.body.actual]).toEqual([409, 'WrongExpectedVersion', 0]);
    expect((await read(c.url('node-2'), 'stable')).body).toEqual({ value: 'yes', position: 0, count: 1 });
    expect((await getJson<{ headPosition: number }>(`${c.url('node-1')}/v1/events`)).body.headPosition).toBe(0);
    const metrics = await (await fetch(`${c.url('node-0')}/metrics`)).text();
    expect(metrics).toMatch(/eventraft_transport_frames_rejected_total\{reason="[a-z_]+"\} [1-9]/);
    passed();
  }, 60_000);

  it('answers an append whose expectation its stream has passed without a log entry, with the latest version', async () => {
    const c = await newCluster(91);
    const leader = await waitForLeader(c);
    const follower = c.specs.map((s) => s.id).find((id) => id !== leader) as string;
    const json = { 'content-type': 'application/json' };
    const append = (via: string, expectedVersion: number | string, key?: string) =>
      getJson<{ code?: string; actual?: number; firstVersion?: number; duplicate?: boolean }>(`${c.url(via)}/v1/streams/hot/events`, {
        method: 'POST',
        headers: key === undefined ? json : { ...json, 'idempotency-key': key },
        body: JSON.stringify({ expectedVersion, events: [{ type: 'T', data: { n: 1 } }] }),
      });
    const commitIndex = async (): Promise<number> => (await getJson<ClusterView>(`${c.url(leader)}/v1/cluster`)).body.commitIndex;
    for (let v = 0; v < 4; v++) expect((await append(leader, v === 0 ? 'no_stream' : v - 1)).status).toBe(201);

    // Certain conflicts, through the leader and a follower: answered, and no entry logged.
    const before = await commitIndex();
    for (const [via, expected] of [[leader, 1], [follower, 'no_stream'], [follower, 0]] as const) {
      const res = await append(via, expected);
      expect([res.status, res.body.code, res.body.actual]).toEqual([409, 'WrongExpectedVersion', 3]);
    }
    // An atomic append to several streams: the first unmet expectation decides, as at apply.
    const multi = await getJson<{ code?: string; stream?: string; actual?: number }>(`${c.url(follower)}/v1/events`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ appends: [{ stream: 'cold', expectedVersion: 'no_stream', events: [{ type: 'T', data: {} }] }, { stream: 'hot', expectedVersion: 2, events: [{ type: 'T', data: {} }] }] }),
    });
    expect([multi.status, multi.body.code, multi.body.stream, multi.body.actual]).toEqual([409, 'WrongExpectedVersion', 'hot', 3]);
    expect(await commitIndex()).toBe(before);
    expect((await readStream(c.url(leader), 'cold', 'strong')).body.events).toEqual([]);

    // The follower answers with the version of the write acknowledged just before, even when it
    // has not applied that write yet when the conflicting append arrives.
    for (let v = 4; v < 24; v++) {
      expect((await append(leader, v - 1)).status).toBe(201);
      const res = await append(follower, v - 2);
      expect([res.status, res.body.actual]).toEqual([409, v]);
    }

    // A retried append (its event ids stored) is answered with its original result, not as a
    // conflict, although the stream has moved past its expectation since.
    const first = await append(leader, 23, 'retried');
    expect([first.status, first.body.firstVersion]).toEqual([201, 24]);
    expect((await append(leader, 24)).status).toBe(201);
    const retry = await append(follower, 23, 'retried');
    expect([retry.status, retry.body.firstVersion, retry.body.duplicate]).toEqual([201, 24, true]);
    expect((await readStream(c.url(follower), 'hot', 'strong')).body.events.map((e) => e.version)).toEqual(Array.from({ length: 26 }, (_, i) => i));
    passed();
  }, 60_000);

  it('answers 503 NoLeader with Retry-After while no leader is known', async () => {
    const c = await fixture.create(111);
    c.start('node-0'); // alone: one of three voters can never elect itself
    await until('node-0 to serve HTTP', async () => ((await getJson(`${c.url('node-0')}/livez`)).status === 200 ? true : undefined));
    const write = await appendValue(c.url('node-0'), 'k', 'v');
    expect(write.status).toBe(503);
    expect(write.body.code).toBe('NoLeader');
    const res = await fetch(`${c.url('node-0')}/v1/streams/k/events`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await getJson(`${c.url('node-0')}/readyz`)).status).toBe(503);
    passed();
  }, 30_000);

  it('requires the bearer token on admin endpoints when one is configured', async () => {
    const c = await newCluster(121, { EVENTRAFT_ADMIN_TOKEN: 'not-a-real-secret' });
    const leader = await waitForLeader(c);
    const anonymous = await getJson<{ code: string }>(`${c.url(leader)}/v1/cluster/snapshot`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('Unauthorized');
    const wrong = await getJson(`${c.url(leader)}/v1/cluster/snapshot`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-xx' } });
    expect(wrong.status).toBe(401);
    const ok = await getJson<{ index: number }>(`${c.url(leader)}/v1/cluster/snapshot`, { method: 'POST', headers: { authorization: 'Bearer not-a-real-secret' } });
    expect(ok.status).toBe(200);
    expect(ok.body.index).toBeGreaterThan(0);
    // Reads and writes stay open.
    expect((await appendValue(c.url(leader), 'k', 'v')).status).toBe(201);
    passed();
  }, 30_000);

  it('SIGTERM on the leader hands leadership over before exiting 0', async () => {
    const c = await newCluster(131, { EVENTRAFT_ELECTION_TICKS: '40' }); // a 2-4 s election timeout
    const old = await waitForLeader(c);
    expect((await appendValue(c.url(old), 'k', 'v')).status).toBe(201);
    const stopped = Date.now();
    expect(await c.stop(old, 'SIGTERM')).toBe(0);
    const others = c.specs.map((s) => s.id).filter((id) => id !== old);
    const fresh = await waitForLeader(c, others);
    // Well under the election timeout: the new leader was told to campaign (TimeoutNow).
    expect(Date.now() - stopped).toBeLessThan(2000);
    expect((await read(c.url(fresh), 'k')).body.value).toBe('v');
    passed();
  }, 30_000);

  it('pages the global log and a stream by size as well as by count: a page of large events ends after 16 MiB', async () => {
    const c = await newCluster(21);
    const leader = await waitForLeader(c);
    const value = 'x'.repeat(250_000); // under the default 256 KB event limit
    for (let i = 0; i < 70; i++) expect((await appendValue(c.url(leader), 'big', value)).status).toBe(201);
    interface Page { headPosition: number; events: { position: number }[] }
    const page = async (from: number): Promise<Page> => (await getJson<Page>(`${c.url(leader)}/v1/events?fromPosition=${String(from)}&limit=1000&consistency=strong`)).body;
    const first = await page(0);
    expect(first.headPosition).toBe(69);
    // 16 MiB of ~250 KB events: 68 of them reach it (about 17.5 MB in all, so not all 70).
    expect(first.events.length).toBeGreaterThan(60);
    expect(first.events.length).toBeLessThan(70);
    // Paging on from the last position + 1 gets the rest, each event once.
    const positions = first.events.map((e) => e.position);
    for (let next = positions.length; ; ) {
      const more = (await page(next)).events;
      if (more.length === 0) break;
      positions.push(...more.map((e) => e.position));
      next = (more.at(-1)?.position ?? next) + 1;
    }
    expect(positions).toEqual(Array.from({ length: 70 }, (_, i) => i));

    // The same for the stream, forward and backward.
    const streamPage = async (from: number, direction: string): Promise<StreamView> =>
      (await getJson<StreamView>(`${c.url(leader)}/v1/streams/big/events?from=${String(from)}&limit=1000&direction=${direction}&consistency=strong`)).body;
    for (const direction of ['forward', 'backward'] as const) {
      const step = direction === 'forward' ? 1 : -1;
      const versions: number[] = [];
      let pages = 0;
      for (let next = direction === 'forward' ? 0 : 69; ; ) {
        const got = await streamPage(next, direction);
        expect(got.version).toBe(69);
        if (got.events.length === 0) break;
        expect(got.events.length).toBeLessThan(70);
        pages++;
        versions.push(...got.events.map((e) => e.version));
        next = (got.events.at(-1)?.version ?? next) + step;
        if (next < 0) break;
      }
      expect(pages).toBeGreaterThan(1);
      const all = Array.from({ length: 70 }, (_, i) => i);
      expect(versions).toEqual(direction === 'forward' ? all : all.reverse());
    }
    passed();
  }, 60_000);

  it('a wiped follower, re-added as a fresh member, catches up by InstallSnapshot', async () => {
    const c = await newCluster(81, { EVENTRAFT_SNAPSHOT_THRESHOLD: '50', EVENTRAFT_SNAPSHOT_KEEP_ENTRIES: '5' });
    const leader = await waitForLeader(c);
    const victim = c.specs.map((s) => s.id).find((id) => id !== leader) as string;
    for (let i = 0; i < 150; i++) expect((await appendValue(c.url(leader), `s${i}`, `v${i}`)).status).toBe(201);
    // The documented procedure: remove the member, wipe its disk, start it empty in join mode, add it back.
    expect((await getJson(`${c.url(leader)}/v1/cluster/members/${victim}`, { method: 'DELETE' })).status).toBe(200);
    await c.stop(victim, 'SIGKILL');
    await c.wipe(victim);
    c.start(victim, { join: true });
    const added = await getJson(`${c.url(leader)}/v1/cluster/members`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: victim, address: c.address(victim) }) });
    expect(added.status).toBe(201);
    await until('the new member to catch up', async () => {
      const got = await read(c.url(victim), 's149', 'eventual');
      return got.body.value === 'v149' ? true : undefined;
    });
    // A node's log lines travel through its stdout pipe, which the test reads on its own
    // schedule: a line may arrive after an HTTP answer sent later. Wait for each.
    const logged = (id: string, text: string): Promise<true> => until(`${id} to log "${text}"`, () => (c.logs.get(id)?.some((l) => l.includes(text)) === true ? true : undefined), 5_000);
    await logged(victim, 'received snapshot');
    await logged(victim, 'installed snapshot from leader');
    // The leader's own snapshots hold no copy of the state (it is in lmdb): it streamed it to send.
    await logged(leader, 'log compacted behind the synced state');
    await logged(leader, 'streaming state snapshot');
    // Both ends counted the transfer and its bytes, and agree on the bytes.
    const counted = async (id: string, direction: string): Promise<{ ok: number; bytes: number }> => {
      const text = await (await fetch(`${c.url(id)}/metrics`)).text();
      const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
      return {
        ok: value(new RegExp(`eventraft_snapshot_transfers_total\\{direction="${direction}",outcome="ok"\\} (\\d+)`)),
        bytes: value(new RegExp(`eventraft_snapshot_bytes_total\\{direction="${direction}"\\} (\\d+)`)),
      };
    };
    const received = await counted(victim, 'received');
    const sent = await counted(leader, 'sent');
    expect(received.ok).toBeGreaterThanOrEqual(1);
    expect(received.bytes).toBeGreaterThan(0);
    expect(sent.ok).toBeGreaterThanOrEqual(1);
    expect(sent.bytes).toBeGreaterThanOrEqual(received.bytes);
    // Restored from the snapshot plus the log after it: byte-identical events, the same hash.
    interface StoreView { store: { appliedIndex: number; events: number; hash: string } }
    const stores = await until('every node to reach the same applied index', async () => {
      const views = await Promise.all(c.specs.map(async (s) => (await getJson<StoreView>(`${c.url(s.id)}/v1/cluster`)).body.store));
      return views.every((v) => v.appliedIndex === views[0]?.appliedIndex) ? views : undefined;
    });
    expect(new Set(stores.map((v) => v.hash)).size).toBe(1);
    expect(stores[0]?.events).toBe(150);
    const all = await Promise.all(c.specs.map(async (s) => (await fetch(`${c.url(s.id)}/v1/events?limit=1000&consistency=eventual`)).text()));
    expect(new Set(all).size).toBe(1);
    const promoted = await getJson(`${c.url(leader)}/v1/cluster/members/${victim}/promote`, { method: 'POST' });
    expect(promoted.status).toBe(200);
    const view = (await getJson<ClusterView>(`${c.url(leader)}/v1/cluster`)).body;
    expect(view.members.find((m) => m.id === victim)?.role).toBe('voter');
    passed();
  }, 60_000);
});
