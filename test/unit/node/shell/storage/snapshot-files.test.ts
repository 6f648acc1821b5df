import { afterAll, describe, expect, it } from '@jest/globals';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { pack } from 'msgpackr';
import { makeMembership } from '../../../../../node/core/raft/index.ts';
import type { LogIndex, NodeId, SnapshotMetadata, Term } from '../../../../../node/core/raft/index.ts';
import { CorruptDataError } from '../../../../../node/shell/storage/index.ts';
import { SnapshotFileWriter, inspectSnapshot, listSnapshots, pruneSnapshots, removeUnfinishedSnapshots, snapshotDataSlices, writeSnapshot } from '../../../../../node/shell/storage/snapshot-files.ts';
import type { Snapshot } from '../../../../../node/core/raft/index.ts';
import { TempDirs } from '../../../../support/temp-dir.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());
const metadata = (index: number): SnapshotMetadata => ({ index: index as LogIndex, term: 3 as Term, membership: makeMembership(['a', 'b'] as NodeId[]) });
const slice = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
/** A snapshot file's metadata and data, read the way the store reads them. */
async function readSnapshot(file: string): Promise<Snapshot> {
  const contents = await inspectSnapshot(file);
  return { metadata: contents.metadata, data: Buffer.concat([...snapshotDataSlices(contents)]) };
}

describe('snapshot files', () => {
  it('are written slice by slice as the data arrives, and read back whole', async () => {
    const dir = await dirs.make();
    const writer = await SnapshotFileWriter.create(dir, metadata(40));
    const slices = [slice(100_000, 1), slice(0, 0), slice(3, 2), slice(70_000, 3)];
    for (const s of slices) await writer.append(s);
    // Not a snapshot until finished.
    expect(await listSnapshots(dir)).toEqual([]);
    const file = await writer.finish();
    expect((await listSnapshots(dir)).map((f) => f.file)).toEqual([file.file]);
    const snap = await readSnapshot(file.file);
    expect(snap.metadata).toEqual(metadata(40));
    expect(Buffer.from(snap.data).equals(Buffer.concat(slices))).toBe(true);
    expect(await readdir(dir)).toEqual([path.basename(file.file)]);
  });

  it('leave nothing behind when a write is given up', async () => {
    const dir = await dirs.make();
    const writer = await SnapshotFileWriter.create(dir, metadata(7));
    await writer.append(slice(10, 9));
    await writer.abort();
    expect(await readdir(dir)).toEqual([]);
  });

  it('in the making survive pruning; leftovers of a crash go when the store opens', async () => {
    const dir = await dirs.make();
    for (const i of [1, 2, 3]) await writeSnapshot(dir, { metadata: metadata(i), data: slice(5, i) });
    const writing = await SnapshotFileWriter.create(dir, metadata(9));
    await writing.append(slice(5, 9));
    await pruneSnapshots(dir, 2);
    expect((await listSnapshots(dir)).map((s) => s.index)).toEqual([3, 2]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toHaveLength(1);
    await writing.finish();
    expect((await listSnapshots(dir)).map((s) => s.index)).toEqual([9, 3, 2]);
    // A writer that a crash stopped leaves a temporary file, removed at the next open.
    await (await SnapshotFileWriter.create(dir, metadata(10))).append(slice(5, 10));
    await removeUnfinishedSnapshots(dir);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('refuse a damaged file', async () => {
    const dir = await dirs.make();
    const { file } = await writeSnapshot(dir, { metadata: metadata(5), data: slice(1000, 7) });
    const good = await readFile(file);
    const flipped = Buffer.from(good);
    flipped[500] = (flipped[500] as number) ^ 1;
    await writeFile(file, flipped);
    await expect(readSnapshot(file)).rejects.toThrow(CorruptDataError);
    await writeFile(file, good.subarray(0, good.length - 20));
    await expect(readSnapshot(file)).rejects.toThrow(CorruptDataError);
    await writeFile(file, Buffer.concat([Buffer.from('ERSNAP99'), good.subarray(8)]));
    await expect(readSnapshot(file)).rejects.toThrow(/bad magic/);
    await writeFile(file, good);
    expect((await readSnapshot(file)).metadata.index).toBe(5);
  });

  it('of the first layout (the data length before the data) are still read', async () => {
    const dir = await dirs.make();
    const meta = pack({ index: 12, term: 3, membership: metadata(12).membership });
    const data = Buffer.from('state of the first layout');
    const head = Buffer.alloc(8 + 4);
    head.write('ERSNAP01', 0, 'ascii');
    head.writeUInt32BE(meta.length, 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(data.length));
    const body = Buffer.concat([head, meta, len, data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    const file = path.join(dir, 'snap-000000000000000c-0000000000000003.snap');
    await writeFile(file, Buffer.concat([body, crc]));
    const snap = await readSnapshot(file);
    expect(snap.metadata).toEqual(metadata(12));
    expect(Buffer.from(snap.data).toString()).toBe('state of the first layout');
  });
});
