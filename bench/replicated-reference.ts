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
 * Run as a child of bench/node.ts: `--role backup` reports { port } (TCP), `--role primary
 * --backups p1,p2` reports { port } (HTTP).
 */
import { open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import express from 'express';
import type { Response } from 'express';
import { listenHttp } from '../node/shell/http/listen.ts';

const { values } = parseArgs({ options: { role: { type: 'string' }, backups: { type: 'string', default: '' } } });

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
  let position = 0;
  let seq = 0;
  let pending: { record: Buffer; res: Response; result: object }[] = [];
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
    const record = Buffer.from(`${JSON.stringify({ stream, events })}\n`);
    pending.push({ record, res, result: { stream, firstVersion, lastVersion: firstVersion + events.length - 1, firstPosition: position - events.length, lastPosition: position - 1 } });
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
