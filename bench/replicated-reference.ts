/**
 * The least work three Node processes can do to acknowledge a durable, replicated write: a
 * reference for `bench:node`, measured beside eventraft in the same run.
 *
 * A primary (express + JSON, the same HTTP stack as the node) group-commits requests: it sends
 * each batch over TCP to two backups and writes it to its own file with fdatasync; the backups
 * do the same and acknowledge. A write is answered once the primary and one backup (a majority of
 * three) have it on disk. Nothing else: no elections, terms, checksums, log indexes, event store,
 * hash chain, metrics or validation. eventraft does all of that on top, so this is a floor on its
 * CPU per write and a ceiling on its throughput on the machine it runs on.
 *
 * With `--store lmdb` every replica also keeps what the event store must keep (issue #4: a durable,
 * indexed state with the applied index stored atomically with it) and no more: each event's JSON
 * by position, [stream, version] -> position and event id -> position, and the batch's sequence
 * number, put in lmdb in one transaction per 100 ms, as the event store commits behind. The
 * primary decides versions, positions and ids (time-ordered, as the node makes them) from memory
 * and ships the stored events; a backup parses the batch and puts them. No lookups, no state
 * hash, no checks on the backups: a floor on what a replicated event store of three Node
 * processes costs here.
 *
 * Run as a child of bench/node.ts: `--role backup` reports { port } (TCP), `--role primary
 * --backups p1,p2` reports { port } (HTTP); `--store lmdb` on all three.
 */
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import express from 'express';
import type { Response } from 'express';
import { open as openLmdb } from 'lmdb';
import { EventIdGenerator } from '../node/core/eventstore/index.ts';
import { listenHttp } from '../node/shell/http/listen.ts';

const { values } = parseArgs({ options: { role: { type: 'string' }, backups: { type: 'string', default: '' }, store: { type: 'string', default: 'none' } } });
if (values.store !== 'none' && values.store !== 'lmdb') throw new Error(`--store must be none or lmdb, not ${values.store}`);

/** One request's events as the primary decided them: the unit a batch record carries. */
interface DecidedAppend {
  readonly stream: string;
  readonly firstVersion: number;
  readonly firstPosition: number;
  /** Each event's JSON as stored. */
  readonly events: readonly string[];
  readonly ids: readonly string[];
}

/** The event store's indexed state in lmdb (see the file comment); undefined without --store. */
interface IndexedState {
  apply(seq: number, appends: readonly DecidedAppend[]): void;
}

function openIndexedState(role: string): IndexedState | undefined {
  if (values.store === 'none') return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), `eventraft-bench-ref-${role}-`));
  const remove = (): void => {
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', remove);
  process.on('SIGTERM', () => {
    process.exit(0);
  });
  const root = openLmdb({ path: dir, compression: false });
  const events = root.openDB({ name: 'events', encoding: 'string' });
  const streams = root.openDB({ name: 'streams' });
  const ids = root.openDB({ name: 'ids' });
  const meta = root.openDB({ name: 'meta' });
  // Committed behind, as the event store does (docs/event-storage.md): the batches of 100 ms go
  // to lmdb in one transaction (lmdb-js commits the puts of one turn of the event loop together).
  let pending: { seq: number; appends: readonly DecidedAppend[] }[] = [];
  const flush = (): void => {
    const batches = pending;
    pending = [];
    for (const { appends } of batches) {
      for (const a of appends) {
        for (let i = 0; i < a.events.length; i++) {
          const position = a.firstPosition + i;
          void events.put(position, a.events[i]);
          void streams.put([a.stream, a.firstVersion + i], position);
          void ids.put(a.ids[i] as string, position);
        }
      }
    }
    void meta.put('applied', batches.at(-1)?.seq ?? 0);
  };
  return {
    apply(seq, appends) {
      if (pending.length === 0) setTimeout(flush, 100);
      pending.push({ seq, appends });
    },
  };
}

/** A batch on the wire: u32 length of the rest, u32 sequence number, the records. */
function frame(seq: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(payload.length + 4, 0);
  header.writeUInt32BE(seq, 4);
  return Buffer.concat([header, payload]);
}

/** A new file, already unlinked: it is written and synced like any other and goes with the process. */
async function openFile(role: string): Promise<FileHandle> {
  const name = path.join(os.tmpdir(), `eventraft-bench-ref-${role}-${String(process.pid)}.log`);
  const file = await open(name, 'w');
  await unlink(name);
  return file;
}

/** Appends and fdatasyncs one write at a time, each holding everything queued meanwhile. */
class GroupCommitFile {
  private readonly file: FileHandle;
  private queue: { data: Buffer; done: () => void }[] = [];
  private writing = false;

  constructor(file: FileHandle) {
    this.file = file;
  }

  append(data: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.queue.push({ data, done: resolve });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      await this.file.write(Buffer.concat(batch.map((b) => b.data)));
      await this.file.datasync();
      for (const b of batch) b.done();
    }
    this.writing = false;
  }
}

async function backup(): Promise<void> {
  const log = new GroupCommitFile(await openFile('backup'));
  const state = openIndexedState('backup');
  const server = net.createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
        const length = buffered.readUInt32BE(0);
        const seq = buffered.readUInt32BE(4);
        const records = buffered.subarray(8, 4 + length);
        buffered = buffered.subarray(4 + length);
        void log.append(records).then(() => {
          state?.apply(seq, records.toString().trimEnd().split('\n').map((line) => JSON.parse(line) as DecidedAppend));
          const ack = Buffer.alloc(4);
          ack.writeUInt32BE(seq, 0);
          socket.write(ack);
        });
      }
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as net.AddressInfo).port });
  });
}

async function primary(backupPorts: readonly number[]): Promise<void> {
  const log = new GroupCommitFile(await openFile('primary'));
  const state = openIndexedState('primary');
  /** The highest batch each backup has acknowledged. */
  const acked = backupPorts.map(() => 0);
  const waiting: { seq: number; local: boolean; respond: () => void }[] = [];
  const settle = (): void => {
    // Majority of three: the primary's own copy and at least one backup's.
    const replicated = Math.max(...acked);
    while (waiting.length > 0) {
      const head = waiting[0] as (typeof waiting)[number];
      if (!head.local || head.seq > replicated) break;
      waiting.shift();
      head.respond();
    }
  };
  const sockets = await Promise.all(
    backupPorts.map(
      (port, i) =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => {
            resolve(socket);
          });
          socket.setNoDelay(true);
          let buffered = Buffer.alloc(0);
          socket.on('data', (chunk: Buffer) => {
            buffered = Buffer.concat([buffered, chunk]);
            while (buffered.length >= 4) {
              acked[i] = buffered.readUInt32BE(0);
              buffered = buffered.subarray(4);
            }
            settle();
          });
        }),
    ),
  );

  const streams = new Map<string, number>();
  const eventIds = new EventIdGenerator(Date.now, (bytes) => randomFillSync(bytes));
  let position = 0;
  let seq = 0;
  let pending: { record: Buffer; decided: DecidedAppend | undefined; res: Response; result: object }[] = [];
  let scheduled = false;
  // One batch per turn of the event loop: every request parsed meanwhile goes in it.
  const flush = (): void => {
    scheduled = false;
    const batch = pending;
    pending = [];
    seq++;
    const payload = Buffer.concat(batch.map((b) => b.record));
    const framed = frame(seq, payload);
    for (const s of sockets) s.write(framed);
    const entry = {
      seq,
      local: false,
      respond: () => {
        for (const b of batch) b.res.status(201).json(b.result);
      },
    };
    waiting.push(entry);
    void log.append(payload).then(() => {
      entry.local = true;
      state?.apply(entry.seq, batch.map((b) => b.decided as DecidedAppend));
      settle();
    });
  };

  const app = express();
  app.use(express.json());
  app.post('/v1/streams/:stream/events', (req, res) => {
    const stream = req.params.stream;
    const events = (req.body as { events: unknown[] }).events;
    const firstVersion = (streams.get(stream) ?? -1) + 1;
    streams.set(stream, firstVersion + events.length - 1);
    position += events.length;
    const firstPosition = position - events.length;
    let decided: DecidedAppend | undefined;
    let record: Buffer;
    if (values.store === 'none') {
      record = Buffer.from(`${JSON.stringify({ stream, events })}\n`);
    } else {
      const ids = events.map(() => eventIds.next());
      decided = { stream, firstVersion, firstPosition, ids, events: events.map((e, i) => JSON.stringify({ ...(e as object), id: ids[i], stream, version: firstVersion + i, position: firstPosition + i })) };
      record = Buffer.from(`${JSON.stringify(decided)}\n`);
    }
    pending.push({ record, decided, res, result: { stream, firstVersion, lastVersion: firstVersion + events.length - 1, firstPosition, lastPosition: position - 1 } });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  const server = await listenHttp(app, 0, '127.0.0.1');
  server.keepAliveTimeout = 65_000;
  process.send?.({ port: (server.address() as net.AddressInfo).port });
}

if (values.role === 'backup') await backup();
else if (values.role === 'primary') await primary(values.backups.split(',').map(Number));
