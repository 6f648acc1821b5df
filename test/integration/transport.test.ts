import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { readdir } from 'node:fs/promises';
import fc from 'fast-check';
import net from 'node:net';
import path from 'node:path';
import { SeededRandom } from '../../node/core/raft/index.ts';
import type { Message, NodeId } from '../../node/core/raft/index.ts';
import { crc32 } from 'node:zlib';
import type { SnapshotStream } from '../../node/core/state-machine.ts';
import { FrameKind, PROTOCOL_VERSION, PeerTransport, encodeFrame, packValue } from '../../node/shell/transport/index.ts';
import type { FrameRejection, HostPort, TransportObserver, TransportOptions } from '../../node/shell/transport/index.ts';
import { snapshotDataSlices } from '../../node/shell/storage/snapshot-files.ts';
import { TempDirs } from '../support/temp-dir.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

const started: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.stop()));
});

interface Peer {
  readonly transport: PeerTransport;
  /** Where it writes the snapshots it receives. */
  readonly snapshotDir: string;
  readonly address: HostPort;
  readonly received: Message[];
  readonly rejected: FrameRejection[];
  readonly events: string[];
  /** Snapshot data bytes the observer heard of, frame by frame. */
  readonly snapshotBytes: { sent: number; received: number };
}

async function startPeer(id: string, host: string, observer: TransportObserver = {}, port = 0, options: Partial<TransportOptions> = {}): Promise<Peer> {
  const received: Message[] = [];
  const rejected: FrameRejection[] = [];
  const events: string[] = [];
  const snapshotBytes = { sent: 0, received: 0 };
  const snapshotDir = await dirs.make();
  const transport = new PeerTransport(
    {
      snapshotDir,
      id: id as NodeId,
      cluster: 'test-cluster',
      listen: { host, port },
      bindHost: host,
      random: new SeededRandom(1),
      backoffInitialMs: 10,
      backoffMaxMs: 50,
      pingIntervalMs: 50,
      ...options,
      observer: {
        frameRejected: (reason) => rejected.push(reason),
        snapshotSent: (peer, ok) => events.push(`snapshot ${peer} ${ok}`),
        messageDropped: (peer, reason) => events.push(`dropped ${peer} ${reason}`),
        snapshotData: (_peer, direction, bytes) => {
          snapshotBytes[direction] += bytes;
        },
        ...observer,
      },
    },
    (m, file) => {
      if (file === undefined) {
        received.push(m);
        return;
      }
      // A snapshot comes as a file in snapshotDir: read back into the message, for the checks.
      expect(m.type === 'InstallSnapshot' && m.snapshot.data.length === 0 && path.dirname(file.file) === snapshotDir).toBe(true);
      received.push({ ...m, snapshot: { ...(m as Extract<Message, { type: 'InstallSnapshot' }>).snapshot, data: Buffer.concat([...snapshotDataSlices(file)]) } } as Message);
    },
  );
  const address = await transport.start();
  started.push(transport);
  return { transport, snapshotDir, address, received, rejected, events, snapshotBytes };
}

const heartbeat = (from: string, to: string, context = ''): Message => ({ type: 'Heartbeat', from, to, term: 1, leaderCommit: 0, context }) as unknown as Message;

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const hello = (cluster: string, from = 'x'): Buffer => encodeFrame(FrameKind.Hello, packValue({ cluster, from, version: PROTOCOL_VERSION }));

const membership = { voters: ['a', 'b'], learners: [], addresses: {} };
const installSnapshot = (from: string, to: string, data = new Uint8Array(0)): Extract<Message, { type: 'InstallSnapshot' }> =>
  ({ type: 'InstallSnapshot', from, to, term: 2, snapshot: { metadata: { index: 100, term: 2, membership }, data } }) as unknown as Extract<Message, { type: 'InstallSnapshot' }>;

/** A snapshot body of `slices` slices of `sliceBytes` (slice s filled with s), counting what was pulled. */
class CountingBody implements SnapshotStream {
  pulled = 0;
  closed = false;
  failAt: number | undefined;
  readonly slices: number;
  readonly sliceBytes: number;
  constructor(slices: number, sliceBytes: number) {
    this.slices = slices;
    this.sliceBytes = sliceBytes;
  }
  next(): Uint8Array | undefined {
    if (this.closed || this.pulled === this.slices) {
      this.closed = true;
      return undefined;
    }
    if (this.pulled === this.failAt) throw new Error('disk read failed');
    return new Uint8Array(this.sliceBytes).fill(this.pulled++);
  }
  close(): void {
    this.closed = true;
  }
  expected(): Buffer {
    return Buffer.concat(Array.from({ length: this.slices }, (_, s) => new Uint8Array(this.sliceBytes).fill(s)));
  }
}

/** Peers a and b, a connected to b. */
async function connectedPair(): Promise<{ a: Peer; b: Peer }> {
  const a = await startPeer('a', '127.0.0.11');
  const b = await startPeer('b', '127.0.0.12');
  a.transport.setPeers({ b: `127.0.0.12:${b.address.port}` });
  await until(() => a.transport.connectedPeers().length === 1, 'connection');
  return { a, b };
}

/** Connects a raw client, writes `bytes`, and resolves when the server closes the connection. */
function rawClient(target: HostPort, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(target, () => socket.end(bytes));
    socket.on('error', () => { resolve(); });
    socket.on('close', () => { resolve(); });
    socket.resume();
  });
}

describe('PeerTransport over TCP', () => {
  it('delivers messages both ways between two nodes', async () => {
    const a = await startPeer('a', '127.0.0.11');
    const b = await startPeer('b', '127.0.0.12');
    a.transport.setPeers({ b: `127.0.0.12:${b.address.port}` });
    b.transport.setPeers({ a: `127.0.0.11:${a.address.port}` });
    for (let i = 0; i < 100; i++) a.transport.send(heartbeat('a', 'b', `c${i}`));
    b.transport.send(heartbeat('b', 'a', 'back'));
    await until(() => b.received.length === 100 && a.received.length === 1, 'messages');
    expect(b.received.map((m) => (m as Extract<Message, { type: 'Heartbeat' }>).context)).toEqual(Array.from({ length: 100 }, (_, i) => `c${i}`));
  });

  it("dials from the node's own address, so links between node addresses can be cut", async () => {
    const a = await startPeer('a', '127.0.0.11');
    const seen: string[] = [];
    const server = net.createServer((s) => {
      seen.push(s.remoteAddress ?? '');
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.12', r));
    a.transport.setPeers({ b: `127.0.0.12:${(server.address() as net.AddressInfo).port}` });
    await until(() => seen.length > 0, 'a connection');
    server.close();
    expect(seen[0]).toBe('127.0.0.11');
  });

  it('closes a connection that sends garbage, counts it, and keeps serving real peers (property)', async () => {
    const b = await startPeer('b', '127.0.0.12');
    const a = await startPeer('a', '127.0.0.11');
    a.transport.setPeers({ b: `127.0.0.12:${b.address.port}` });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        const before = b.rejected.length;
        await rawClient(b.address, Buffer.from(bytes));
        // Garbage is rejected (or, if it happens to be an incomplete header, reported truncated).
        await until(() => b.rejected.length > before, 'a rejection');
      }),
      { numRuns: 40 },
    );
    a.transport.send(heartbeat('a', 'b', 'still-alive'));
    await until(() => b.received.some((m) => m.type === 'Heartbeat' && m.context === 'still-alive'), 'delivery after garbage');
  });

  it('rejects truncated frames, oversized frames, strangers and spoofed senders', async () => {
    const b = await startPeer('b', '127.0.0.12');
    const message = encodeFrame(FrameKind.Message, packValue(heartbeat('x', 'b')));

    await rawClient(b.address, Buffer.concat([hello('test-cluster'), message.subarray(0, message.length - 3)]));
    await until(() => b.rejected.includes('truncated'), 'truncated');

    const huge = Buffer.alloc(5);
    huge.writeUInt32BE(64 << 20, 0);
    huge.writeUInt8(FrameKind.Message, 4);
    await rawClient(b.address, Buffer.concat([hello('test-cluster'), huge]));
    await until(() => b.rejected.includes('oversized'), 'oversized');

    await rawClient(b.address, Buffer.concat([hello('another-cluster'), message]));
    await until(() => b.rejected.includes('protocol'), 'wrong cluster');

    const spoofed = encodeFrame(FrameKind.Message, packValue(heartbeat('c', 'b')));
    await rawClient(b.address, Buffer.concat([hello('test-cluster', 'x'), spoofed]));
    await until(() => b.rejected.includes('invalid_message'), 'spoofed sender');
    expect(b.received).toEqual([]); // none of it reached the node
  });

  it('streams a large InstallSnapshot in chunks and lets heartbeats overtake it', async () => {
    const { a, b } = await connectedPair();
    const data = new Uint8Array(8 << 20).map((_, i) => i % 251);
    a.transport.send(installSnapshot('a', 'b', data));
    a.transport.send(heartbeat('a', 'b', 'overtakes'));
    await until(() => b.received.length === 2, 'snapshot and heartbeat', 15000);
    expect(b.received.map((m) => m.type)).toEqual(['Heartbeat', 'InstallSnapshot']);
    const got = b.received[1] as Extract<Message, { type: 'InstallSnapshot' }>;
    expect(Buffer.from(got.snapshot.data).equals(Buffer.from(data))).toBe(true);
    expect(got.snapshot.metadata).toEqual({ index: 100, term: 2, membership });
    expect(a.events).toContain('snapshot b true');
    // Progress was reported frame by frame, at both ends.
    expect(a.snapshotBytes).toEqual({ sent: data.length, received: 0 });
    expect(b.snapshotBytes).toEqual({ sent: 0, received: data.length });
  });

  it('pulls a streamed snapshot only as fast as the connection takes it, and closes its body', async () => {
    const { a, b } = await connectedPair();
    const body = new CountingBody(48, 1 << 20); // 48 MiB
    a.transport.sendSnapshot(installSnapshot('a', 'b'), body);
    // The first flush sends what the socket takes at once, not the whole state.
    await new Promise((r) => setImmediate(r));
    expect(body.pulled).toBeGreaterThan(0);
    expect(body.pulled).toBeLessThan(8);
    await until(() => b.received.length === 1, 'the snapshot', 30000);
    const got = b.received[0] as Extract<Message, { type: 'InstallSnapshot' }>;
    expect(Buffer.from(got.snapshot.data).equals(body.expected())).toBe(true);
    expect(body.closed).toBe(true);
    expect(a.events).toEqual(['snapshot b true']);
  });

  it('fails a snapshot whose body cannot be read: the connection is closed, the peer gets nothing, later messages get through', async () => {
    const { a, b } = await connectedPair();
    const body = new CountingBody(16, 1 << 20);
    body.failAt = 3;
    a.transport.sendSnapshot(installSnapshot('a', 'b'), body);
    await until(() => a.events.includes('snapshot b false'), 'the failure');
    expect(body.closed).toBe(true);
    await until(() => a.transport.connectedPeers().length === 1, 'reconnection');
    a.transport.send(heartbeat('a', 'b', 'after'));
    await until(() => b.received.length === 1, 'the heartbeat');
    expect(b.received.map((m) => m.type)).toEqual(['Heartbeat']);
  });

  it('fails a snapshot and closes its body when the peer goes away mid-stream', async () => {
    const { a, b } = await connectedPair();
    const body = new CountingBody(256, 1 << 20);
    a.transport.sendSnapshot(installSnapshot('a', 'b'), body);
    await until(() => body.pulled > 2, 'streaming');
    await b.transport.stop();
    await until(() => a.events.includes('snapshot b false'), 'the failure');
    expect(body.closed).toBe(true);
    expect(body.pulled).toBeLessThan(256);
    expect(b.received).toEqual([]);
    // The receiver dropped the part it had written.
    await until(async () => (await readdir(b.snapshotDir)).length === 0, 'the partial file to go');
  });

  it('refuses a second snapshot to the same peer while one is streaming', async () => {
    const { a, b } = await connectedPair();
    const first = new CountingBody(16, 1 << 20);
    const second = new CountingBody(1, 10);
    a.transport.sendSnapshot(installSnapshot('a', 'b'), first);
    a.transport.sendSnapshot(installSnapshot('a', 'b'), second);
    expect(second.closed).toBe(true);
    expect(second.pulled).toBe(0);
    await until(() => b.received.length === 1, 'the first snapshot', 15000);
    expect(a.events).toEqual(['snapshot b false', 'snapshot b true']);
  });

  it('rejects snapshot frames out of order or not matching their end, and delivers none of them', async () => {
    const b = await startPeer('b', '127.0.0.12');
    const data = Buffer.from('state bytes');
    const begin = encodeFrame(FrameKind.SnapshotBegin, packValue(installSnapshot('x', 'b')));
    const part = encodeFrame(FrameKind.SnapshotData, data);
    const end = (bytes: number, crc: number): Buffer => encodeFrame(FrameKind.SnapshotEnd, packValue({ bytes, crc32: crc }));
    const cases: [string, Buffer[], FrameRejection][] = [
      ['data without a begin', [part], 'protocol'],
      ['an end without a begin', [end(0, 0)], 'protocol'],
      ['a begin inside a snapshot', [begin, part, begin], 'protocol'],
      ['a wrong byte count', [begin, part, end(data.length + 1, crc32(data))], 'malformed'],
      ['a wrong checksum', [begin, part, end(data.length, crc32(data) ^ 1)], 'malformed'],
      ['a begin that is not an InstallSnapshot', [encodeFrame(FrameKind.SnapshotBegin, packValue(heartbeat('x', 'b')))], 'invalid_message'],
      ['a begin that carries data', [encodeFrame(FrameKind.SnapshotBegin, packValue(installSnapshot('x', 'b', data)))], 'invalid_message'],
    ];
    for (const [what, frames, reason] of cases) {
      const before = b.rejected.length;
      await rawClient(b.address, Buffer.concat([hello('test-cluster'), ...frames]));
      await until(() => b.rejected.length > before, what);
      expect([what, b.rejected.at(-1)]).toEqual([what, reason]);
    }
    // What the refused ones wrote is gone.
    await until(async () => (await readdir(b.snapshotDir)).length === 0, 'the refused files to go');
    // The same frames in order, with a matching end, are one snapshot.
    await rawClient(b.address, Buffer.concat([hello('test-cluster'), begin, part, end(data.length, crc32(data))]));
    await until(() => b.received.length === 1, 'the valid snapshot');
    expect(Buffer.from((b.received[0] as Extract<Message, { type: 'InstallSnapshot' }>).snapshot.data).toString()).toBe('state bytes');
  });

  it('survives a snapshot it cannot write to disk: the connection closes, the sender is told, nothing is delivered', async () => {
    const failures: string[] = [];
    const missing = path.join(await dirs.make(), 'no-such-dir');
    const a = await startPeer('a', '127.0.0.11');
    const b = await startPeer('b', '127.0.0.12', { snapshotReceived: (peer, _bytes, err) => failures.push(`${peer} ${err?.message ?? 'ok'}`) }, 0, { snapshotDir: missing });
    a.transport.setPeers({ b: `127.0.0.12:${b.address.port}` });
    await until(() => a.transport.connectedPeers().length === 1, 'connection');
    const body = new CountingBody(8, 1 << 20);
    a.transport.sendSnapshot(installSnapshot('a', 'b'), body);
    await until(() => a.events.includes('snapshot b false'), 'the sender to be told');
    expect(body.closed).toBe(true);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^a .*no-such-dir/);
    // The node goes on: later messages get through on a new connection.
    await until(() => a.transport.connectedPeers().length === 1, 'reconnection');
    a.transport.send(heartbeat('a', 'b', 'after'));
    await until(() => b.received.length === 1, 'the heartbeat');
    expect(b.received.map((m) => m.type)).toEqual(['Heartbeat']);
  });

  it('refuses a snapshot larger than maxSnapshotBytes', async () => {
    const b = await startPeer('b', '127.0.0.12', {}, 0, { maxSnapshotBytes: 1 << 20 });
    const frames = [hello('test-cluster'), encodeFrame(FrameKind.SnapshotBegin, packValue(installSnapshot('x', 'b')))];
    for (let i = 0; i < 5; i++) frames.push(encodeFrame(FrameKind.SnapshotData, Buffer.alloc(256 << 10)));
    await rawClient(b.address, Buffer.concat(frames));
    await until(() => b.rejected.length > 0, 'the rejection');
    expect(b.rejected).toEqual(['oversized']);
    expect(b.received).toEqual([]);
  });

  it('delivers an AppendEntries larger than a snapshot chunk (a lagging follower catching up)', async () => {
    // Regression: appends over the 256 KiB chunk size used to be dropped as if the queue were
    // full, so a follower more than that far behind never caught up.
    const { a, b } = await connectedPair();
    const entries = Array.from({ length: 1500 }, (_, i) => ({ type: 'Normal', index: i + 1, term: 1, data: new Uint8Array(500).fill(i % 256) }));
    a.transport.send({ type: 'AppendEntries', from: 'a', to: 'b', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries, leaderCommit: 0 } as unknown as Message);
    await until(() => b.received.length === 1, 'the append');
    const got = b.received[0] as Extract<Message, { type: 'AppendEntries' }>;
    expect(got.entries).toHaveLength(1500);
    expect(a.events).toEqual([]);
  });

  it('drops a message the receiver would refuse as oversized, and says so', async () => {
    const { a, b } = await connectedPair();
    const entries = [{ type: 'Normal', index: 1, term: 1, data: new Uint8Array(9 << 20) }];
    a.transport.send({ type: 'AppendEntries', from: 'a', to: 'b', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries, leaderCommit: 0 } as unknown as Message);
    a.transport.send(heartbeat('a', 'b', 'still-connected'));
    await until(() => b.received.length === 1, 'the heartbeat');
    expect(a.events).toEqual(['dropped b too_large']);
    expect(b.rejected).toEqual([]);
  });

  it('redials a peer that restarts, with backoff, and reports it unreachable meanwhile', async () => {
    const unreachable: string[] = [];
    const a = await startPeer('a', '127.0.0.11', { unreachable: (p) => unreachable.push(p) });
    let b = await startPeer('b', '127.0.0.12');
    const port = b.address.port;
    a.transport.setPeers({ b: `127.0.0.12:${port}` });
    await until(() => a.transport.connectedPeers().length === 1, 'first connection');
    await b.transport.stop();
    await until(() => unreachable.length > 0, 'unreachable report');
    a.transport.send(heartbeat('a', 'b', 'lost'));
    b = await startPeer('b', '127.0.0.12', {}, port);
    await until(() => a.transport.connectedPeers().length === 1, 'reconnection');
    a.transport.send(heartbeat('a', 'b', 'after-restart'));
    await until(() => b.received.length > 0, 'delivery after restart');
    expect(b.received.map((m) => (m as Extract<Message, { type: 'Heartbeat' }>).context)).toEqual(['after-restart']);
  });

  it('measures round-trip time to each peer', async () => {
    const rtts: number[] = [];
    const a = await startPeer('a', '127.0.0.11', { rtt: (_p, s) => rtts.push(s) });
    const b = await startPeer('b', '127.0.0.12');
    a.transport.setPeers({ b: `127.0.0.12:${b.address.port}` });
    await until(() => rtts.length >= 2, 'pongs');
    expect(rtts.every((s) => s >= 0 && s < 1)).toBe(true);
  });
});
