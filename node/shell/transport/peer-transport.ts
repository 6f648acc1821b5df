import net from 'node:net';
import { crc32 } from 'node:zlib';
import type { Message, MessageOf, NodeId, Random } from '../../core/raft/index.ts';
import { slicesStream } from '../../core/state-machine.ts';
import type { SnapshotStream } from '../../core/state-machine.ts';
import { FrameDecoder, FrameError, FrameKind, PROTOCOL_VERSION, encodeFrame, packValue, unpackValue } from './frame-codec.ts';
import type { FrameRejection } from './frame-codec.ts';
import { validateMessage } from './message-validation.ts';
import { SnapshotFileWriter } from '../storage/snapshot-files.ts';
import type { SnapshotContents } from '../storage/snapshot-files.ts';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Where the transport reports what happened (metrics and logs live behind it). */
export interface TransportObserver {
  frameRejected?(reason: FrameRejection, remote: string, detail: string): void;
  messageDropped?(to: NodeId, reason: 'queue_full' | 'not_connected' | 'unknown_peer' | 'too_large'): void;
  peerConnected?(peer: NodeId): void;
  peerDisconnected?(peer: NodeId, error?: Error): void;
  rtt?(peer: NodeId, seconds: number): void;
  /** A peer could not be reached: the Raft core should stop streaming to it and probe. */
  unreachable?(peer: NodeId): void;
  /** An InstallSnapshot was fully written to the peer (ok) or the connection broke during it. */
  snapshotSent?(peer: NodeId, ok: boolean): void;
  /** A snapshot from `peer` was received into its file (ok), or could not be written (`error`). */
  snapshotReceived?(peer: NodeId, bytes: number, error?: Error): void;
  /** A snapshot data frame of `bytes` went to `peer` or came from it (progress of a long transfer). */
  snapshotData?(peer: NodeId, direction: 'sent' | 'received', bytes: number): void;
}

export interface TransportOptions {
  readonly id: NodeId;
  /** Connections from another cluster (a different id) are refused at the handshake. */
  readonly cluster: string;
  /** Address to listen on for peers. */
  readonly listen: HostPort;
  /** Local address outgoing connections bind to, so firewall rules between node addresses work. */
  readonly bindHost: string;
  /**
   * host:port peers can dial us at, announced in the hello. A node that knows no configuration yet
   * (a joiner) learns the leader's address this way, so it can answer before it learns the members.
   */
  readonly advertise?: string;
  readonly random: Random;
  readonly observer?: TransportObserver;
  /** Largest frame accepted (a whole message, or one frame of snapshot data). */
  readonly maxFrameBytes?: number;
  /** A snapshot's data goes in frames of at most this many bytes. */
  readonly chunkBytes?: number;
  /**
   * Where incoming snapshots are written as they arrive (the log store's snapshot directory, so
   * that adopting one is a rename). Their data is never in memory whole.
   */
  readonly snapshotDir: string;
  /** Largest snapshot accepted (bytes of data), against a peer filling the disk by mistake. */
  readonly maxSnapshotBytes?: number;
  /** Bounded send queue per peer; beyond it messages are dropped (Raft retransmits). */
  readonly queueMaxMessages?: number;
  readonly queueMaxBytes?: number;
  /** A write that does not drain within this closes the connection. */
  readonly writeTimeoutMs?: number;
  readonly dialTimeoutMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly pingIntervalMs?: number;
}

const defaults = {
  maxFrameBytes: 8 << 20, // AppendEntries are capped at maxMsgBytes (1 MiB) by the core
  chunkBytes: 256 << 10,
  maxSnapshotBytes: 2 ** 50,
  queueMaxMessages: 8192,
  queueMaxBytes: 64 << 20,
  writeTimeoutMs: 5000,
  dialTimeoutMs: 2000,
  backoffInitialMs: 50,
  backoffMaxMs: 2000,
  pingIntervalMs: 1000,
} as const;

/** Unwritten bytes of an incoming snapshot past which its connection stops reading. */
const INCOMING_HIGH_WATER = 16 << 20;

/**
 * A snapshot being received, written to its file in order as its data frames arrive. The
 * connection is paused while too much of it waits for the disk, so that a fast sender and a
 * slow disk do not fill the memory.
 */
class IncomingSnapshot {
  readonly message: MessageOf<'InstallSnapshot'>;
  bytes = 0;
  crc = 0;
  private unwritten = 0;
  private writer: SnapshotFileWriter | undefined;
  /** The first write that failed; later frames are dropped and the connection is closed. */
  private failure: Error | undefined;
  /** Every write so far, in order; never rejects (a failure is recorded in `failure`). */
  private chain: Promise<void>;
  private readonly socket: net.Socket;
  private readonly onFailure: (err: Error) => void;

  constructor(message: MessageOf<'InstallSnapshot'>, dir: string, socket: net.Socket, onFailure: (err: Error) => void) {
    this.message = message;
    this.socket = socket;
    this.onFailure = onFailure;
    this.chain = SnapshotFileWriter.create(dir, message.snapshot.metadata).then(
      (w) => {
        this.writer = w;
      },
      (err: unknown) => {
        this.fail(err);
      },
    );
  }

  write(data: Buffer): void {
    this.bytes += data.length;
    this.crc = crc32(data, this.crc);
    this.unwritten += data.length;
    if (this.unwritten > INCOMING_HIGH_WATER) this.socket.pause();
    this.chain = this.chain.then(async () => {
      try {
        if (this.failure === undefined) await (this.writer as SnapshotFileWriter).append(data);
      } catch (err) {
        this.fail(err);
      }
      this.unwritten -= data.length;
      if (this.socket.isPaused() && this.unwritten <= INCOMING_HIGH_WATER / 2) this.socket.resume();
    });
  }

  /** The completed file, once every frame is written and synced; undefined if a write failed (reported then). */
  async complete(): Promise<SnapshotContents | undefined> {
    await this.chain;
    if (this.failure !== undefined) return undefined;
    return (this.writer as SnapshotFileWriter).complete();
  }

  /** Drops the snapshot: its file is removed once pending writes settle. */
  abort(): void {
    void this.chain.then(() => this.writer?.abort()).catch(() => undefined);
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    this.onFailure(this.failure);
  }
}

/** A snapshot being sent: the begin frame until it is written, then the data as it is pulled. */
interface OutgoingSnapshot {
  begin: Buffer | undefined;
  readonly body: SnapshotStream;
  /** What is left of the slice last pulled from `body`. */
  rest: Uint8Array;
  bytes: number;
  crc: number;
}

/** A msgpack payload, or FrameError. */
function unpackFrameValue(payload: Buffer): unknown {
  try {
    return unpackValue(payload);
  } catch (err) {
    throw new FrameError('malformed', String(err));
  }
}

type Settings = Required<Omit<TransportOptions, 'observer' | 'advertise'>> & { readonly observer: TransportObserver; readonly advertise: string | undefined };

/**
 * TCP transport between Raft peers: one outbound connection per peer (we dial, we write our
 * messages), and inbound connections that peers dialed (they write theirs). Frames are validated;
 * anything malformed closes that one connection and is counted, and the node carries on.
 */
export class PeerTransport {
  private readonly s: Settings;
  private readonly onMessage: (m: Message, snapshotFile?: SnapshotContents) => void;
  private server: net.Server | undefined;
  private readonly outbound = new Map<NodeId, Outbound>();
  private readonly inbound = new Set<net.Socket>();
  /** Peers configured by setPeers (the membership); the rest of `outbound` was learned from hellos. */
  private configured = new Set<NodeId>();
  /** Return addresses announced by peers that dialed us. */
  private readonly learned = new Map<NodeId, string>();
  private stopped = false;

  /**
   * `onMessage` gets every valid message addressed to us; an InstallSnapshot comes with its data
   * empty and `snapshotFile`, the completed file holding it (see LogStore's snapshotFile).
   */
  constructor(options: TransportOptions, onMessage: (m: Message, snapshotFile?: SnapshotContents) => void) {
    this.s = { ...defaults, ...options, observer: options.observer ?? {}, advertise: options.advertise };
    this.onMessage = onMessage;
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  start(): Promise<HostPort> {
    const server = net.createServer({ noDelay: true }, (socket) => {
      this.accept(socket);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.s.listen.port, this.s.listen.host, () => {
        server.off('error', reject);
        server.on('error', () => {
          // Errors after listening are per-connection; the server keeps serving.
        });
        const addr = server.address() as net.AddressInfo;
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  /** The peers to talk to (id -> "host:port"); connections to peers no longer listed are closed. */
  setPeers(addresses: Readonly<Record<string, string>>): void {
    for (const [id, address] of Object.entries(addresses)) {
      if (id === this.s.id) continue;
      const existing = this.outbound.get(id as NodeId);
      if (existing?.address === address) continue;
      existing?.close();
      const target = parseHostPort(address);
      if (target === undefined) continue;
      this.outbound.set(id as NodeId, new Outbound(id as NodeId, address, target, this.s));
    }
    this.configured = new Set(Object.keys(addresses).filter((id) => id !== this.s.id) as NodeId[]);
    for (const [id, conn] of this.outbound) {
      if (!(id in addresses)) {
        conn.close();
        this.outbound.delete(id);
      }
    }
  }

  send(m: Message): void {
    if (m.type === 'InstallSnapshot') {
      this.sendSnapshot({ ...m, snapshot: { ...m.snapshot, data: new Uint8Array(0) } }, slicesStream([m.snapshot.data]));
      return;
    }
    this.connection(m.to)?.send(m);
  }

  /**
   * Streams an InstallSnapshot to its peer, pulling `body` as the connection takes it; reports
   * the outcome through observer.snapshotSent, and closes `body` when done or failed.
   */
  sendSnapshot(m: MessageOf<'InstallSnapshot'>, body: SnapshotStream): void {
    const conn = this.connection(m.to);
    if (conn === undefined) {
      body.close();
      this.s.observer.snapshotSent?.(m.to, false);
      return;
    }
    conn.sendSnapshot(m, body);
  }

  /** The connection to `peer`: configured, or back to the address it announced when it dialed us. */
  private connection(peer: NodeId): Outbound | undefined {
    let conn = this.outbound.get(peer);
    if (conn === undefined) {
      const address = this.learned.get(peer);
      const target = address === undefined ? undefined : parseHostPort(address);
      if (address === undefined || target === undefined || this.stopped) {
        this.s.observer.messageDropped?.(peer, 'unknown_peer');
        return undefined;
      }
      conn = new Outbound(peer, address, target, this.s);
      this.outbound.set(peer, conn);
    }
    return conn;
  }

  connectedPeers(): NodeId[] {
    return [...this.outbound.values()].filter((c) => c.isConnected()).map((c) => c.peer);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const conn of this.outbound.values()) conn.close();
    this.outbound.clear();
    for (const socket of this.inbound) socket.destroy();
    this.inbound.clear();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  }

  private accept(socket: net.Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const decoder = new FrameDecoder(this.s.maxFrameBytes);
    let peer: NodeId | undefined;
    /** The snapshot whose data is arriving on this connection. */
    let incoming: IncomingSnapshot | undefined;
    const reject = (err: FrameError): void => {
      this.s.observer.frameRejected?.(err.reason, remote, err.message);
      socket.destroy();
    };
    socket.on('data', (data: Buffer) => {
      try {
        for (const frame of decoder.push(data)) {
          if (peer === undefined) {
            peer = this.handshake(frame.kind, frame.payload);
            continue;
          }
          switch (frame.kind) {
            case FrameKind.Message:
              this.onMessage(this.decode(frame.payload, peer));
              break;
            case FrameKind.SnapshotBegin: {
              if (incoming !== undefined) throw new FrameError('protocol', 'a snapshot began before the previous one ended');
              const m = this.decode(frame.payload, peer);
              if (m.type !== 'InstallSnapshot' || m.snapshot.data.length > 0) throw new FrameError('invalid_message', 'a snapshot must begin with an InstallSnapshot without data');
              incoming = new IncomingSnapshot(m, this.s.snapshotDir, socket, (err) => {
                // The disk refused it: closing the connection tells the sender, which retries.
                this.s.observer.snapshotReceived?.(peer as NodeId, 0, err);
                socket.destroy();
              });
              break;
            }
            case FrameKind.SnapshotData:
              if (incoming === undefined) throw new FrameError('protocol', 'snapshot data outside a snapshot');
              if (incoming.bytes + frame.payload.length > this.s.maxSnapshotBytes) throw new FrameError('oversized', `snapshot exceeds ${this.s.maxSnapshotBytes} bytes`);
              incoming.write(frame.payload);
              this.s.observer.snapshotData?.(peer, 'received', frame.payload.length);
              break;
            case FrameKind.SnapshotEnd: {
              if (incoming === undefined) throw new FrameError('protocol', 'snapshot end outside a snapshot');
              const end = unpackFrameValue(frame.payload) as { bytes?: unknown; crc32?: unknown } | null;
              if (end?.bytes !== incoming.bytes || end.crc32 !== incoming.crc) {
                throw new FrameError('malformed', `snapshot data does not match its end frame (${incoming.bytes} bytes, crc ${incoming.crc}; end says ${String(end?.bytes)}, ${String(end?.crc32)})`);
              }
              this.finishSnapshot(incoming, peer, socket);
              incoming = undefined;
              break;
            }
            case FrameKind.Ping:
              socket.write(encodeFrame(FrameKind.Pong, frame.payload));
              break;
            default:
              throw new FrameError('protocol', `unexpected frame kind ${frame.kind} from a dialer`);
          }
        }
      } catch (err) {
        if (err instanceof FrameError) reject(err);
        else reject(new FrameError('malformed', String(err)));
      }
    });
    socket.on('end', () => {
      try {
        decoder.end();
      } catch (err) {
        if (err instanceof FrameError) this.s.observer.frameRejected?.(err.reason, remote, err.message);
      }
    });
    socket.on('error', () => {
      // A reset or broken pipe: the peer redials. Nothing to do but let 'close' clean up.
    });
    socket.on('close', () => {
      this.inbound.delete(socket);
      // Cut off mid-snapshot: what arrived of it is useless (the sender starts again).
      incoming?.abort();
      incoming = undefined;
    });
  }

  private handshake(kind: number, payload: Buffer): NodeId {
    if (kind !== FrameKind.Hello) throw new FrameError('protocol', 'first frame must be a hello');
    let hello: unknown;
    try {
      hello = unpackValue(payload);
    } catch (err) {
      throw new FrameError('malformed', `hello: ${String(err)}`);
    }
    const h = hello as { cluster?: unknown; from?: unknown; version?: unknown; address?: unknown } | null;
    if (typeof h !== 'object' || h === null || typeof h.from !== 'string' || h.from.length === 0) throw new FrameError('protocol', 'hello without a sender');
    if (h.cluster !== this.s.cluster) throw new FrameError('protocol', `hello from cluster ${String(h.cluster)}, this is ${this.s.cluster}`);
    if (h.version !== PROTOCOL_VERSION) throw new FrameError('protocol', `unsupported protocol version ${String(h.version)}`);
    const from = h.from as NodeId;
    if (typeof h.address === 'string' && parseHostPort(h.address) !== undefined && !this.configured.has(from)) this.learned.set(from, h.address);
    return from;
  }

  /**
   * Hands a received snapshot on once its file is complete and synced, with its data empty and
   * the file beside it. Messages that came after it on the connection may be handed on first:
   * Raft copes with reordering. If the file cannot be written the connection is closed, so that
   * the sender reports the snapshot failed and retries.
   */
  private finishSnapshot(incoming: IncomingSnapshot, peer: NodeId, socket: net.Socket): void {
    incoming.complete().then(
      (file) => {
        if (file === undefined) {
          incoming.abort(); // a write failed: reported, and the connection closed
          return;
        }
        this.s.observer.snapshotReceived?.(peer, incoming.bytes);
        this.onMessage(incoming.message, file);
      },
      (err: unknown) => {
        incoming.abort();
        this.s.observer.snapshotReceived?.(peer, incoming.bytes, err instanceof Error ? err : new Error(String(err)));
        socket.destroy();
      },
    );
  }

  /** A validated message from `peer` addressed to us, or FrameError. */
  private decode(payload: Buffer, peer: NodeId): Message {
    const m = validateMessage(unpackFrameValue(payload));
    if (typeof m === 'string') throw new FrameError('invalid_message', m);
    if (m.from !== peer) throw new FrameError('invalid_message', `message from ${m.from} on ${peer}'s connection`);
    if (m.to !== this.s.id) throw new FrameError('invalid_message', `message for ${m.to} delivered to ${this.s.id}`);
    return m;
  }
}

/** Our connection to one peer: dials, redials with backoff, writes queued messages in order. */
class Outbound {
  readonly peer: NodeId;
  readonly address: string;
  private readonly target: HostPort;
  private readonly s: Settings;
  private socket: net.Socket | undefined;
  private state: 'connecting' | 'connected' | 'backoff' | 'closed' = 'backoff';
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private writeTimer: NodeJS.Timeout | undefined;
  private queue: Buffer[] = [];
  private queueBytes = 0;
  /** The InstallSnapshot being streamed. */
  private snapshot: OutgoingSnapshot | undefined;
  private waitingForDrain = false;
  private flushScheduled = false;

  constructor(peer: NodeId, address: string, target: HostPort, s: Settings) {
    this.peer = peer;
    this.address = address;
    this.target = target;
    this.s = s;
    this.dial();
  }

  isConnected(): boolean {
    return this.state === 'connected';
  }

  send(m: Message): void {
    if (this.state === 'closed') return;
    if (this.state === 'backoff') {
      // Not reachable right now: drop (Raft retransmits) and let the core probe.
      this.s.observer.messageDropped?.(this.peer, 'not_connected');
      this.s.observer.unreachable?.(this.peer);
      return;
    }
    const payload = packValue(m);
    if (payload.length > this.s.maxFrameBytes) {
      // The receiver would refuse the frame. The core caps appends well below this.
      this.s.observer.messageDropped?.(this.peer, 'too_large');
      return;
    }
    if (this.queue.length >= this.s.queueMaxMessages || this.queueBytes + payload.length > this.s.queueMaxBytes) {
      this.s.observer.messageDropped?.(this.peer, 'queue_full');
      return;
    }
    const frame = encodeFrame(FrameKind.Message, payload);
    this.queue.push(frame);
    this.queueBytes += frame.length;
    this.scheduleFlush();
  }

  sendSnapshot(m: MessageOf<'InstallSnapshot'>, body: SnapshotStream): void {
    // Not connected, or one already on its way (one at a time per peer): refused, and the core
    // retries after reportSnapshot(false) or its timeout.
    if ((this.state !== 'connected' && this.state !== 'connecting') || this.snapshot !== undefined) {
      body.close();
      if (this.state === 'backoff') {
        this.s.observer.messageDropped?.(this.peer, 'not_connected');
        this.s.observer.unreachable?.(this.peer);
      }
      this.s.observer.snapshotSent?.(this.peer, false);
      return;
    }
    this.snapshot = { begin: encodeFrame(FrameKind.SnapshotBegin, packValue(m)), body, rest: new Uint8Array(0), bytes: 0, crc: 0 };
    this.scheduleFlush();
  }

  close(): void {
    this.state = 'closed';
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    clearTimeout(this.writeTimer);
    this.socket?.destroy();
    this.failSnapshot();
  }

  private dial(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const socket = net.connect({ host: this.target.host, port: this.target.port, localAddress: this.s.bindHost, noDelay: true });
    this.socket = socket;
    socket.setTimeout(this.s.dialTimeoutMs);
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.setKeepAlive(true, 5000);
      this.state = 'connected';
      this.attempt = 0;
      const hello = { cluster: this.s.cluster, from: this.s.id, version: PROTOCOL_VERSION, ...(this.s.advertise === undefined ? {} : { address: this.s.advertise }) };
      socket.write(encodeFrame(FrameKind.Hello, packValue(hello)));
      this.s.observer.peerConnected?.(this.peer);
      this.pingTimer = setInterval(() => {
        socket.write(encodeFrame(FrameKind.Ping, packValue({ sent: performance.now() })));
      }, this.s.pingIntervalMs);
      this.flush();
    });
    socket.once('timeout', () => socket.destroy(new Error(`connect to ${this.address} timed out`)));
    const decoder = new FrameDecoder(1024);
    socket.on('data', (data: Buffer) => {
      // Only pongs come back on our own connection.
      try {
        for (const frame of decoder.push(data)) {
          if (frame.kind !== FrameKind.Pong) throw new FrameError('protocol', `unexpected frame kind ${frame.kind} on an outbound connection`);
          const { sent } = unpackValue(frame.payload) as { sent: number };
          if (typeof sent === 'number') this.s.observer.rtt?.(this.peer, (performance.now() - sent) / 1000);
        }
      } catch (err) {
        this.s.observer.frameRejected?.(err instanceof FrameError ? err.reason : 'malformed', this.address, String(err));
        socket.destroy();
      }
    });
    socket.on('drain', () => {
      this.waitingForDrain = false;
      clearTimeout(this.writeTimer);
      this.flush();
    });
    socket.on('error', () => {
      // Surfaced through 'close', which schedules the redial.
    });
    socket.once('close', () => {
      if (this.socket !== socket) return;
      clearInterval(this.pingTimer);
      clearTimeout(this.writeTimer);
      this.waitingForDrain = false;
      const wasConnected = this.state === 'connected';
      // What was queued for the broken connection is stale by the time we are back: drop it.
      this.queue = [];
      this.queueBytes = 0;
      this.failSnapshot();
      if (this.state === 'closed') return;
      if (wasConnected) this.s.observer.peerDisconnected?.(this.peer);
      this.s.observer.unreachable?.(this.peer);
      this.state = 'backoff';
      // Exponential backoff with full jitter, so peers do not redial in lockstep.
      const cap = Math.min(this.s.backoffMaxMs, this.s.backoffInitialMs * 2 ** this.attempt);
      this.attempt = Math.min(this.attempt + 1, 20);
      this.timer = setTimeout(() => {
        this.dial();
      }, this.s.random.int(Math.max(1, cap)) + 1);
    });
  }

  private failSnapshot(): void {
    const snapshot = this.snapshot;
    if (snapshot === undefined) return;
    this.snapshot = undefined;
    snapshot.body.close();
    this.s.observer.snapshotSent?.(this.peer, false);
  }

  /**
   * Flushes once the current synchronous burst is over: a Ready's messages and the appends of
   * proposals made in one turn of the event loop then leave in one write (one syscall) per peer.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes queued frames until the socket pushes back; snapshot chunks go only when the queue is empty. */
  private flush(): void {
    const socket = this.socket;
    if (this.state !== 'connected' || socket === undefined || this.waitingForDrain) return;
    socket.cork();
    try {
      this.writeQueued(socket);
    } finally {
      socket.uncork();
    }
  }

  private writeQueued(socket: net.Socket): void {
    for (;;) {
      let frame = this.queue.shift();
      if (frame !== undefined) this.queueBytes -= frame.length;
      else if (this.snapshot !== undefined) frame = this.nextSnapshotFrame(socket);
      if (frame === undefined) return;
      if (!socket.write(frame)) {
        this.waitingForDrain = true;
        this.writeTimer = setTimeout(() => socket.destroy(new Error(`write to ${this.address} stalled for ${this.s.writeTimeoutMs} ms`)), this.s.writeTimeoutMs);
        return;
      }
    }
  }

  /**
   * The snapshot's next frame, its data pulled from the state only now, when the socket takes
   * more: at most one slice of it is in memory here. Its last frame ends the snapshot.
   */
  private nextSnapshotFrame(socket: net.Socket): Buffer | undefined {
    const s = this.snapshot as OutgoingSnapshot;
    if (s.begin !== undefined) {
      const begin = s.begin;
      s.begin = undefined;
      return begin;
    }
    if (s.rest.length === 0) {
      let slice: Uint8Array | undefined;
      try {
        slice = s.body.next();
      } catch (err) {
        // The receiver holds part of a snapshot that will never end: only closing the
        // connection tells it to drop that part.
        this.failSnapshot();
        socket.destroy(new Error(`reading the snapshot for ${this.peer} failed: ${String(err)}`));
        return undefined;
      }
      if (slice === undefined) {
        this.snapshot = undefined;
        this.s.observer.snapshotSent?.(this.peer, true);
        return encodeFrame(FrameKind.SnapshotEnd, packValue({ bytes: s.bytes, crc32: s.crc }));
      }
      s.rest = slice;
    }
    const part = s.rest.subarray(0, this.s.chunkBytes);
    s.rest = s.rest.subarray(part.length);
    s.bytes += part.length;
    s.crc = crc32(part, s.crc);
    this.s.observer.snapshotData?.(this.peer, 'sent', part.length);
    return encodeFrame(FrameKind.SnapshotData, part);
  }
}

/** Parses "host:port" (IPv6 as "[::1]:port"). */
export function parseHostPort(address: string): HostPort | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}
