import { afterAll } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LmdbEventStorage } from '../../../../../node/shell/eventstore/lmdb-event-storage.ts';
import { describeEventStoreStateMachine } from '../../core/eventstore/state-machine-contract.ts';

// The property test makes hundreds of stores: one directory each, removed at the end.
const root = mkdtempSync(path.join(os.tmpdir(), 'eventraft-lmdb-sm-'));
const opened: LmdbEventStorage[] = [];
let n = 0;
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  rmSync(root, { recursive: true, force: true });
});

describeEventStoreStateMachine('LmdbEventStorage', {
  make: () => {
    const s = LmdbEventStorage.open(path.join(root, String(n++)));
    opened.push(s);
    return s;
  },
});
