import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { EMPTY_HASH, chainHash } from '../../node/core/eventstore/index.ts';
import { LmdbEventStorage } from '../../node/shell/eventstore/lmdb-event-storage.ts';
import { TempDirs } from '../support/temp-dir.ts';

const dirs = new TempDirs();
const opened: LmdbEventStorage[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});
afterAll(() => dirs.cleanup());
const writer = path.join(import.meta.dirname, 'support', 'event-store-writer.ts');

function runAndKill(dir: string, flushDelayMs: number, maxPendingEvents: number, writes: number, waitMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dir, String(flushDelayMs), String(maxPendingEvents), String(writes), String(waitMs)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    child.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`writer exited without being killed: ${stderr}`));
    });
  });
}

/** Reopens the store and checks it holds exactly the events its meta describes, hash chain intact. */
function reopenAndCheck(dir: string): LmdbEventStorage {
  const storage = LmdbEventStorage.open(dir);
  opened.push(storage);
  const events = storage.readAll(0, 1_000_000);
  expect(events.map((e) => e.event.position)).toEqual(events.map((_, i) => i));
  expect(events).toHaveLength(storage.meta.nextPosition);
  expect(events.reduce((h, e) => chainHash(h, e.json), EMPTY_HASH)).toBe(storage.meta.hash);
  // One event per write, so the applied index counts them too.
  expect(storage.meta.applied).toBe(events.length);
  return storage;
}

describe('event store write-behind across SIGKILL', () => {
  it('keeps every write committed by the flush timer', async () => {
    const dir = await dirs.make();
    await runAndKill(dir, 5, 1_000_000, 25, 300);
    expect(reopenAndCheck(dir).meta.applied).toBe(25);
  });

  it('loses only whole writes still pending, never part of one, and keeps those committed at the pending limit', async () => {
    const dir = await dirs.make();
    // Commits at 4 and 8 pending events; writes 9 and 10 were still in memory when killed.
    await runAndKill(dir, 3_600_000, 4, 10, 50);
    expect(reopenAndCheck(dir).meta.applied).toBe(8);
  });
});
