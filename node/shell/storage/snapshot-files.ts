import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import type { LogIndex, Membership, Snapshot, SnapshotMetadata, Term } from '../../core/raft/index.ts';
import { CorruptDataError, StorageError } from './errors.ts';
import { fsyncDir } from './fs-util.ts';

/**
 * Snapshot files: `snap-<index>-<term>.snap` (16 hex digits each), laid out as
 *   "ERSNAP01" | u32 metadata length | metadata (msgpack) | u64 data length | data | u32 CRC-32
 * where the CRC covers everything before it. Written to a temporary name, fsynced, renamed and
 * the directory fsynced, so a crash leaves either the old set or the new file complete.
 */
const MAGIC = Buffer.from('ERSNAP01', 'ascii');
const NAME = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export interface SnapshotFile {
  readonly index: LogIndex;
  readonly term: Term;
  readonly file: string;
}

function fileName(index: number, term: number): string {
  return `snap-${index.toString(16).padStart(16, '0')}-${term.toString(16).padStart(16, '0')}.snap`;
}

export function encodeSnapshot(snap: Snapshot): Buffer {
  const meta = pack({ index: snap.metadata.index, term: snap.metadata.term, membership: snap.metadata.membership });
  const body = Buffer.allocUnsafe(MAGIC.length + 4 + meta.length + 8 + snap.data.length + 4);
  let off = MAGIC.copy(body, 0);
  off = body.writeUInt32BE(meta.length, off);
  off += meta.copy(body, off);
  off = body.writeBigUInt64BE(BigInt(snap.data.length), off);
  off += Buffer.from(snap.data.buffer, snap.data.byteOffset, snap.data.length).copy(body, off);
  body.writeUInt32BE(crc32(body.subarray(0, off)), off);
  return body;
}

export function decodeSnapshot(buf: Buffer, file: string): Snapshot {
  const fail = (detail: string): never => {
    throw new CorruptDataError(file, detail);
  };
  if (buf.length < MAGIC.length + 16 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) fail('not a snapshot file (bad magic)');
  const stored = buf.readUInt32BE(buf.length - 4);
  if (crc32(buf.subarray(0, buf.length - 4)) !== stored) fail('snapshot checksum mismatch');
  let off = MAGIC.length;
  const metaLen = buf.readUInt32BE(off);
  off += 4;
  const meta = unpack(buf.subarray(off, off + metaLen)) as { index: number; term: number; membership: Membership };
  off += metaLen;
  const dataLen = Number(buf.readBigUInt64BE(off));
  off += 8;
  if (off + dataLen + 4 !== buf.length) fail('snapshot length fields do not match the file size');
  const metadata: SnapshotMetadata = { index: meta.index as LogIndex, term: meta.term as Term, membership: meta.membership };
  return { metadata, data: new Uint8Array(buf.subarray(off, off + dataLen)) };
}

/** Lists snapshot files, newest (highest index) first. Temporary leftovers are removed. */
export async function listSnapshots(dir: string): Promise<SnapshotFile[]> {
  const out: SnapshotFile[] = [];
  for (const name of await readdir(dir)) {
    if (name.endsWith('.tmp')) {
      // A snapshot whose write was cut short: never renamed, so never relied upon.
      await rm(path.join(dir, name), { force: true });
      continue;
    }
    const m = NAME.exec(name);
    if (m) out.push({ index: parseInt(m[1] as string, 16) as LogIndex, term: parseInt(m[2] as string, 16) as Term, file: path.join(dir, name) });
  }
  return out.sort((a, b) => b.index - a.index);
}

export async function readSnapshot(file: string): Promise<Snapshot> {
  return decodeSnapshot(await readFile(file), file);
}

/** Writes `snap` durably; returns its file. */
export async function writeSnapshot(dir: string, snap: Snapshot): Promise<SnapshotFile> {
  const final = path.join(dir, fileName(snap.metadata.index, snap.metadata.term));
  const tmp = `${final}.tmp`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(encodeSnapshot(snap));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    await fsyncDir(dir);
  } catch (err) {
    throw new StorageError(`write snapshot ${final}`, { cause: err });
  }
  return { index: snap.metadata.index, term: snap.metadata.term, file: final };
}

/** Keeps the `keep` newest snapshot files and deletes the rest. */
export async function pruneSnapshots(dir: string, keep: number): Promise<void> {
  const all = await listSnapshots(dir);
  for (const old of all.slice(keep)) await rm(old.file, { force: true });
}
