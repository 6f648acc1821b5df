import { afterEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import net from 'node:net';
import { SeededRandom } from '../../node/core/raft/index.ts';
import type { Message, NodeId } from '../../node/core/raft/index.ts';
import { FrameKind, PeerTransport, encodeFrame, packValue } from '../../node/shell/transport/index.ts';
import type { FrameRejection, HostPort, TransportObserver } from '../../node/shell/transport/index.ts';

const started: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.stop()));
});

interface Peer {
  readonly transport: PeerTransport;
  readonly address: HostPort;
  readonly received: Message[];
  readonly rejected: FrameRejection[];
  readonly events: string[];
}

async function startPeer(id: string, host: string, observer: TransportObserver = {}, port = 0): Promise<Peer> {
  const received: Message[] = [];
  const rejected: FrameRejection[] = [];
  const events: string[] = [];
  const transport = new PeerTransport(
    {
      id: id as NodeId,
      cluster: 'test-cluster',
      listen: { host, port },
      bindHost: host,
      random: new SeededRandom(1),
      backoffInitialMs: 10,
      backoffMaxMs: 50,
      pingIntervalMs: 50,
      observer: {
        frameRejected: (reason) => rejected.push(reason),
        snapshotSent: (peer, ok) => events.push(`snapshot ${peer} ${ok}`),
        messageDropped: (peer, reason) => events.push(`dropped ${peer} ${reason}`),
        ...observer,
      },
    },
    (m) => received.push(m),
  );
  const address = await transport.start();
  started.push(transport);
  return { transport, address, received, rejected, events };
}

const heartbeat = (from: string, to: string, context = ''): Message => ({ type: 'Heartbeat', from, to, term: 1, leaderCommit: 0, context }) as unknown as Message;

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
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
    const hello = (cluster: string, from = 'x'): Buffer => encodeFrame(FrameKind.Hello, packValue({ cluster, from, version: 1 }));
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
    const a = await startPeer('a', '127.0.0.11');
    const b = await startPeer('b', '127.0.0.12');
    a.transport.setPeers({ b: `127.0.0.12:${b.address.port}` });
    await until(() => a.transport.connectedPeers().length === 1, 'connection');
    const data = new Uint8Array(8 << 20).map((_, i) => i % 251);
    const snapshot = { metadata: { index: 100, term: 2, membership: { voters: ['a', 'b'], learners: [], addresses: {} } }, data };
    a.transport.send({ type: 'InstallSnapshot', from: 'a', to: 'b', term: 2, snapshot } as unknown as Message);
    a.transport.send(heartbeat('a', 'b', 'overtakes'));
    await until(() => b.received.length === 2, 'snapshot and heartbeat', 15000);
    expect(b.received.map((m) => m.type)).toEqual(['Heartbeat', 'InstallSnapshot']);
    const got = b.received[1] as Extract<Message, { type: 'InstallSnapshot' }>;
    expect(Buffer.from(got.snapshot.data).equals(Buffer.from(data))).toBe(true);
    expect(a.events).toContain('snapshot b true');
  });

  it('delivers an AppendEntries larger than a snapshot chunk (a lagging follower catching up)', async () => {
    // Regression: appends over the 256 KiB chunk size used to be dropped as if the queue were
    // full, so a follower more than that far behind never caught up.
    const a = await startPeer('a', '127.0.0.11');
    const b = await startPeer('b', '127.0.0.12');
    a.transport.setPeers({ b: `127.0.0.12:${b.address.port}` });
    await until(() => a.transport.connectedPeers().length === 1, 'connection');
    const entries = Array.from({ length: 1500 }, (_, i) => ({ type: 'Normal', index: i + 1, term: 1, data: new Uint8Array(500).fill(i % 256) }));
    a.transport.send({ type: 'AppendEntries', from: 'a', to: 'b', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries, leaderCommit: 0 } as unknown as Message);
    await until(() => b.received.length === 1, 'the append');
    const got = b.received[0] as Extract<Message, { type: 'AppendEntries' }>;
    expect(got.entries).toHaveLength(1500);
    expect(a.events).toEqual([]);
  });

  it('drops a message the receiver would refuse as oversized, and says so', async () => {
    const a = await startPeer('a', '127.0.0.11');
    const b = await startPeer('b', '127.0.0.12');
    a.transport.setPeers({ b: `127.0.0.12:${b.address.port}` });
    await until(() => a.transport.connectedPeers().length === 1, 'connection');
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
