import { closeSync, fsyncSync, openSync, renameSync, statfsSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

/** fsyncs a directory so that file creations, renames and deletions in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncDir for callers that cannot wait (a synchronous restore). */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `file` with `data` atomically and durably: written and synced beside it, renamed over
 * it, the directory synced. A crash leaves the old content or the new one.
 */
export function replaceFileSync(file: string, data: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDirSync(path.dirname(file));
}

/** Room on the volume holding `dir` (statfs): bytes available to this process, and its size. */
export function volumeSpace(dir: string): { availableBytes: number; capacityBytes: number } {
  const s = statfsSync(dir);
  return { availableBytes: s.bavail * s.bsize, capacityBytes: s.blocks * s.bsize };
}
