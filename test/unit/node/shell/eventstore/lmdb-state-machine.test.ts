import { afterAll } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LmdbEventStorage } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import type { LmdbEventStorageOptions } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import { describeEventStoreStateMachine } from '../../core/eventstore/state-machine-contract.ts';

// The property test makes hundreds of stores: one directory each, removed at the end.
const root = mkdtempSync(path.join(os.tmpdir(), 'eventraft-lmdb-sm-'));
const opened: LmdbEventStorage[] = [];
let n = 0;
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  rmSync(root, { recursive: true, force: true });
});

// With the node's defaults (writes pending in memory between commits) and with a commit every
// two events, so that reads cross the line between committed and pending writes.
const modes: Record<string, Partial<LmdbEventStorageOptions>> = { 'default flushing': {}, 'a commit every 2 events': { flushDelayMs: 3_600_000, maxPendingEvents: 2 } };
for (const [mode, options] of Object.entries(modes)) {
  describeEventStoreStateMachine(`LmdbEventStorage, ${mode}`, {
    make: () => {
      const s = LmdbEventStorage.open(path.join(root, String(n++)), options);
      opened.push(s);
      return s;
    },
  });
}
