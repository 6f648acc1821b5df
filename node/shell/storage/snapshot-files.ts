import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import type { LogIndex, Membership, Snapshot, SnapshotMetadata, Term } from '../../core/raft/index.ts';
import { CorruptDataError, StorageError } from './errors.ts';
import { fsyncDir } from './fs-util.ts';

/**
 * Snapshot files: `snap-<index>-<term>.snap` (16 hex digits each), laid out as
 *   "ERSNAP02" | u32 metadata length | metadata (msgpack) | data | u64 data length | u32 CRC-32
 * where the CRC covers everything before it. The data's length comes after the data, so a file
 * can be written as its data arrives, without knowing its size first (SnapshotFileWriter).
 * Files of the first layout, "ERSNAP01" with the length before the data, are still read.
 * Written under a temporary name, fsynced, renamed and the directory fsynced, so a crash leaves
 * either the old set or the new file complete.
 */
const MAGIC = Buffer.from('ERSNAP02', 'ascii');
const MAGIC_V1 = Buffer.from('ERSNAP01', 'ascii');
const NAME = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export interface SnapshotFile {
  readonly index: LogIndex;
  readonly term: Term;
  readonly file: string;
}

function fileName(index: number, term: number): string {
  return `snap-${index.toString(16).padStart(16, '0')}-${term.toString(16).padStart(16, '0')}.snap`;
}

export function decodeSnapshot(buf: Buffer, file: string): Snapshot {
  const fail = (detail: string): never => {
    throw new CorruptDataError(file, detail);
  };
  const magic = buf.subarray(0, MAGIC.length);
  const v1 = magic.equals(MAGIC_V1);
  if (buf.length < MAGIC.length + 16 || !(v1 || magic.equals(MAGIC))) fail('not a snapshot file (bad magic)');
  const stored = buf.readUInt32BE(buf.length - 4);
  if (crc32(buf.subarray(0, buf.length - 4)) !== stored) fail('snapshot checksum mismatch');
  let off = MAGIC.length;
  const metaLen = buf.readUInt32BE(off);
  off += 4;
  const meta = unpack(buf.subarray(off, off + metaLen)) as { index: number; term: number; membership: Membership };
  off += metaLen;
  let dataLen: number;
  if (v1) {
    dataLen = Number(buf.readBigUInt64BE(off));
    off += 8;
    if (off + dataLen + 4 !== buf.length) fail('snapshot length fields do not match the file size');
  } else {
    dataLen = Number(buf.readBigUInt64BE(buf.length - 12));
    if (off + dataLen + 12 !== buf.length) fail('snapshot length fields do not match the file size');
  }
  const metadata: SnapshotMetadata = { index: meta.index as LogIndex, term: meta.term as Term, membership: meta.membership };
  return { metadata, data: new Uint8Array(buf.subarray(off, off + dataLen)) };
}

let writers = 0;

/**
 * Writes one snapshot file as its data arrives, holding none of it: create(), append() each
 * slice in order, then finish() makes the file durable under its name, or abort() removes it.
 * Until finish() the file has a temporary name, which listSnapshots() ignores and removes.
 */
export class SnapshotFileWriter {
  private readonly fh: FileHandle;
  private readonly tmp: string;
  private readonly final: string;
  private readonly dir: string;
  private readonly metadata: SnapshotMetadata;
  private crc: number;
  private bytes = 0;

  private constructor(fh: FileHandle, dir: string, final: string, tmp: string, metadata: SnapshotMetadata, headerCrc: number) {
    this.fh = fh;
    this.dir = dir;
    this.final = final;
    this.tmp = tmp;
    this.metadata = metadata;
    this.crc = headerCrc;
  }

  static async create(dir: string, metadata: SnapshotMetadata): Promise<SnapshotFileWriter> {
    const final = path.join(dir, fileName(metadata.index, metadata.term));
    // Unique, so that two writers of the same snapshot (a retried send) never share a file.
    const tmp = `${final}.${process.pid}-${++writers}.tmp`;
    const meta = pack({ index: metadata.index, term: metadata.term, membership: metadata.membership });
    const header = Buffer.allocUnsafe(MAGIC.length + 4 + meta.length);
    MAGIC.copy(header, 0);
    header.writeUInt32BE(meta.length, MAGIC.length);
    meta.copy(header, MAGIC.length + 4);
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.write(header);
      } catch (err) {
        await fh.close();
        await rm(tmp, { force: true });
        throw err;
      }
      return new SnapshotFileWriter(fh, dir, final, tmp, metadata, crc32(header));
    } catch (err) {
      throw new StorageError(`write snapshot ${final}`, { cause: err });
    }
  }

  /** Appends the next slice of the data. */
  async append(data: Uint8Array): Promise<void> {
    try {
      await this.fh.write(data);
    } catch (err) {
      throw new StorageError(`write snapshot ${this.final}`, { cause: err });
    }
    this.crc = crc32(data, this.crc);
    this.bytes += data.length;
  }

  /** Writes the trailer, syncs, and renames the file to its snapshot name. */
  async finish(): Promise<SnapshotFile> {
    const trailer = Buffer.allocUnsafe(12);
    trailer.writeBigUInt64BE(BigInt(this.bytes), 0);
    trailer.writeUInt32BE(crc32(trailer.subarray(0, 8), this.crc), 8);
    try {
      try {
        await this.fh.write(trailer);
        await this.fh.sync();
      } finally {
        await this.fh.close();
      }
      await rename(this.tmp, this.final);
      await fsyncDir(this.dir);
    } catch (err) {
      await rm(this.tmp, { force: true });
      throw new StorageError(`write snapshot ${this.final}`, { cause: err });
    }
    return { index: this.metadata.index, term: this.metadata.term, file: this.final };
  }

  /** Gives up: the temporary file is removed. */
  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/** Lists snapshot files, newest (highest index) first. */
export async function listSnapshots(dir: string): Promise<SnapshotFile[]> {
  const out: SnapshotFile[] = [];
  for (const name of await readdir(dir)) {
    const m = NAME.exec(name);
    if (m) out.push({ index: parseInt(m[1] as string, 16) as LogIndex, term: parseInt(m[2] as string, 16) as Term, file: path.join(dir, name) });
  }
  return out.sort((a, b) => b.index - a.index);
}

/**
 * Removes the temporary files of snapshots whose writing a crash cut short: never renamed, so
 * never relied upon. Only when the store opens: later, a temporary file may be one being written.
 */
export async function removeUnfinishedSnapshots(dir: string): Promise<void> {
  for (const name of await readdir(dir)) if (name.endsWith('.tmp')) await rm(path.join(dir, name), { force: true });
}

export async function readSnapshot(file: string): Promise<Snapshot> {
  return decodeSnapshot(await readFile(file), file);
}

/** Writes `snap` durably; returns its file. */
export async function writeSnapshot(dir: string, snap: Snapshot): Promise<SnapshotFile> {
  const writer = await SnapshotFileWriter.create(dir, snap.metadata);
  try {
    await writer.append(snap.data);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer.finish();
}

/** Keeps the `keep` newest snapshot files and deletes the rest. */
export async function pruneSnapshots(dir: string, keep: number): Promise<void> {
  const all = await listSnapshots(dir);
  for (const old of all.slice(keep)) await rm(old.file, { force: true });
}
