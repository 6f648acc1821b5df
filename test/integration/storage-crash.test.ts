import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readdir, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { SeededRandom } from '../../node/core/raft/index.ts';
import type { LogIndex } from '../../node/core/raft/index.ts';
import { DiskLogStore } from '../../node/shell/storage/index.ts';
import { TempDirs } from '../support/temp-dir.ts';
import { expectedPayload } from './support/storage-expectations.ts';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());
const writer = path.join(import.meta.dirname, 'support', 'storage-writer.ts');

interface RunResult {
  readonly acked: number;
  readonly startedAt: number;
  /** Where the log was durable at the last ack: bytes past this were never fsynced. */
  readonly durable: { readonly file: string; readonly bytes: number } | undefined;
}

/** Runs the writer until `killAfterMs` past its first ack, SIGKILLs it, returns the highest ack seen. */
function runAndKill(dir: string, seed: number, killAfterMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = 0;
    let startedAt = -1;
    let durable: RunResult['durable'];
    let buffered = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [kind, value, file, bytes] = line.split(' ');
        if (kind === 'ready') {
          startedAt = Number(value);
        } else if (kind === 'ack') {
          acked = Number(value);
          durable = { file: file as string, bytes: Number(bytes) };
          timer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code ?? signal}: ${stderr}`));
      else resolve({ acked, startedAt, durable });
    });
  });
}

describe('DiskLogStore under SIGKILL', () => {
  it('keeps every acknowledged record and returns nothing after a torn one, over 50 kills', async () => {
    const dir = await dirs.make();
    const rng = new SeededRandom(2026);
    let everAcked = 0;
    let tornRecoveries = 0;
    for (let round = 0; round < 50; round++) {
      const { acked, startedAt, durable } = await runAndKill(dir, round, 5 + rng.int(120));
      // The writer resumed from what the previous round left: nothing acknowledged was lost.
      expect(startedAt).toBeGreaterThanOrEqual(everAcked);
      everAcked = Math.max(everAcked, acked);
      // Every other round is a power cut: whatever was written after the last fsync is lost,
      // cut at an arbitrary byte (a SIGKILL alone leaves the page cache intact).
      // Only the last segment can have an unsynced tail: if the writer moved on to a newer segment
      // after its last ack reached us, everything in the older one was fsynced, and cutting it would
      // be corruption (which the store rightly refuses to start on), not a power cut.
      const segments = (await readdir(path.join(dir, 'log'))).sort();
      if (round % 2 === 1 && durable !== undefined && path.basename(durable.file) === segments.at(-1)) {
        const size = (await stat(durable.file)).size;
        if (size > durable.bytes) await truncate(durable.file, durable.bytes + rng.int(size - durable.bytes));
      }

      const store = await DiskLogStore.open(dir);
      if (store.recovery.tornBytesDiscarded > 0) tornRecoveries++;
      try {
        expect(store.lastIndex()).toBeGreaterThanOrEqual(everAcked);
        expect(store.initialState().hardState.commit).toBeGreaterThanOrEqual(everAcked);
        // Every entry the store returns is exactly what was written there: no torn or stale data.
        const first = store.firstIndex();
        const entries = store.entries(first, (store.lastIndex() + 1) as LogIndex, Infinity);
        expect(entries.length).toBe(store.lastIndex() - first + 1);
        entries.forEach((e, k) => {
          expect(e.index).toBe(first + k);
          expect(e.type === 'Normal' && Buffer.from(e.data).equals(Buffer.from(expectedPayload(first + k)))).toBe(true);
        });
        const snap = store.snapshot();
        if (snap.metadata.index > 0) expect(Buffer.concat([...store.snapshotData()]).toString()).toBe(`snap@${snap.metadata.index}`);
        expect(first - 1).toBeLessThanOrEqual(snap.metadata.index);
      } finally {
        await store.close();
      }
    }
    expect(everAcked).toBeGreaterThan(200); // the writer really was under load
    expect(tornRecoveries).toBeGreaterThan(0); // and recovery really met torn records
  }, 180_000);
});
