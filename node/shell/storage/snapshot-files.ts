import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
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

/** A verified snapshot file, and where in it the data lies. */
export interface SnapshotContents {
  readonly metadata: SnapshotMetadata;
  readonly file: string;
  readonly dataOffset: number;
  readonly dataBytes: number;
  readonly fileBytes: number;
}

/** Files are read this much at a time: the data is never in memory whole. */
const READ_SLICE = 1 << 20;

/**
 * Reads a snapshot file's metadata and checks the whole file against its CRC, a slice at a time.
 * Throws CorruptDataError if it is not a whole, intact snapshot file.
 */
export async function inspectSnapshot(file: string): Promise<SnapshotContents> {
  const fail = (detail: string): never => {
    throw new CorruptDataError(file, detail);
  };
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const read = async (position: number, length: number): Promise<Buffer> => {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, position);
      if (bytesRead !== length) fail('file changed while it was read');
      return buf;
    };
    const head = MAGIC.length + 4;
    if (size < head + 12) fail('not a snapshot file (too short)');
    const start = await read(0, head);
    const magic = start.subarray(0, MAGIC.length);
    const v1 = magic.equals(MAGIC_V1);
    if (!v1 && !magic.equals(MAGIC)) fail('not a snapshot file (bad magic)');
    // The checksum first: any damage is reported as such, whatever field it hit.
    let crc = 0;
    for (let at = 0; at < size - 4; at += READ_SLICE) crc = crc32(await read(at, Math.min(READ_SLICE, size - 4 - at)), crc);
    if (crc !== (await read(size - 4, 4)).readUInt32BE(0)) fail('snapshot checksum mismatch');
    const metaLen = start.readUInt32BE(MAGIC.length);
    if (head + metaLen + 12 > size) fail('snapshot length fields do not match the file size');
    let meta: { index?: unknown; term?: unknown; membership?: unknown } | undefined;
    try {
      meta = unpack(await read(head, metaLen)) as typeof meta;
    } catch (err) {
      fail(`undecodable metadata (${String(err)})`);
    }
    let dataOffset = head + metaLen;
    let dataBytes: number;
    if (v1) {
      dataBytes = Number((await read(dataOffset, 8)).readBigUInt64BE(0));
      dataOffset += 8;
      if (dataOffset + dataBytes + 4 !== size) fail('snapshot length fields do not match the file size');
    } else {
      dataBytes = Number((await read(size - 12, 8)).readBigUInt64BE(0));
      if (dataOffset + dataBytes + 12 !== size) fail('snapshot length fields do not match the file size');
    }
    if (typeof meta?.index !== 'number' || typeof meta.term !== 'number' || typeof meta.membership !== 'object') fail('snapshot metadata is not index, term and membership');
    const { index, term, membership } = meta as { index: number; term: number; membership: Membership };
    return { metadata: { index: index as LogIndex, term: term as Term, membership }, file, dataOffset, dataBytes, fileBytes: size };
  } finally {
    await fh.close();
  }
}

/**
 * The data of an inspected snapshot file, in slices of fresh buffers, read as they are pulled.
 * The file is checked against its CRC again on the way, and the last pull throws CorruptDataError
 * if it no longer matches: a restore reading it is aborted rather than fed damaged bytes.
 */
export function* snapshotDataSlices(contents: SnapshotContents): Generator<Uint8Array, undefined> {
  const { file, dataOffset, dataBytes } = contents;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = (position: number, length: number): Buffer => {
      const buf = Buffer.allocUnsafe(length);
      if (readSync(fd, buf, 0, length, position) !== length) throw new CorruptDataError(file, 'file changed while it was read');
      return buf;
    };
    let crc = crc32(read(0, dataOffset));
    for (let at = 0; at < dataBytes; at += READ_SLICE) {
      const slice = read(dataOffset + at, Math.min(READ_SLICE, dataBytes - at));
      crc = crc32(slice, crc);
      yield slice;
    }
    const tail = read(dataOffset + dataBytes, size - dataOffset - dataBytes);
    if (crc32(tail.subarray(0, tail.length - 4), crc) !== tail.readUInt32BE(tail.length - 4)) throw new CorruptDataError(file, 'snapshot checksum mismatch');
    return undefined;
  } finally {
    closeSync(fd);
  }
}

let writers = 0;

/**
 * Writes one snapshot file as its data arrives, holding none of it: create(), append() each
 * slice in order, then finish() makes the file durable under its name (or complete() syncs it and
 * adoptSnapshot() names it later), or abort() removes it. Until it is named the file has a
 * temporary name, which listSnapshots() ignores and removeUnfinishedSnapshots() removes.
 */
export class SnapshotFileWriter {
  private readonly fh: FileHandle;
  private readonly tmp: string;
  private readonly final: string;
  private readonly dir: string;
  private readonly metadata: SnapshotMetadata;
  private readonly dataOffset: number;
  private crc: number;
  private bytes = 0;

  private constructor(fh: FileHandle, dir: string, final: string, tmp: string, metadata: SnapshotMetadata, header: Buffer) {
    this.dataOffset = header.length;
    this.fh = fh;
    this.dir = dir;
    this.final = final;
    this.tmp = tmp;
    this.metadata = metadata;
    this.crc = crc32(header);
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
      return new SnapshotFileWriter(fh, dir, final, tmp, metadata, header);
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

  /**
   * Writes the trailer and syncs. The file keeps its temporary name: adoptSnapshot() gives it its
   * snapshot name once the snapshot is accepted (or a restart removes it).
   */
  async complete(): Promise<SnapshotContents> {
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
    } catch (err) {
      await rm(this.tmp, { force: true });
      throw new StorageError(`write snapshot ${this.final}`, { cause: err });
    }
    return { metadata: this.metadata, file: this.tmp, dataOffset: this.dataOffset, dataBytes: this.bytes, fileBytes: this.dataOffset + this.bytes + trailer.length };
  }

  /** complete(), then adoptSnapshot(). */
  async finish(): Promise<SnapshotContents> {
    return adoptSnapshot(this.dir, await this.complete());
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

/**
 * Gives a completed snapshot file (SnapshotFileWriter.complete()) in `dir` its snapshot name,
 * durably: from here on it is the node's snapshot at its index, also after a restart.
 */
export async function adoptSnapshot(dir: string, completed: SnapshotContents): Promise<SnapshotContents> {
  const final = path.join(dir, fileName(completed.metadata.index, completed.metadata.term));
  try {
    await rename(completed.file, final);
    await fsyncDir(dir);
  } catch (err) {
    throw new StorageError(`write snapshot ${final}`, { cause: err });
  }
  return { ...completed, file: final };
}

/** Writes `snap` durably. */
export async function writeSnapshot(dir: string, snap: Snapshot): Promise<SnapshotContents> {
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
