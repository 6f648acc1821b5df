import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import type { Json } from '../../core/eventstore/index.ts';
import { SYNCHRONOUS_COMMIT_NO_FLUSH } from '../eventstore/index.ts';
import { StorageError } from '../storage/index.ts';

/** A row change: its new value (undefined: deleted) and the global position of the event that made it. */
export interface RowChange {
  readonly row: Json | undefined;
  readonly version: number;
}

/** Kept among the checkpoints under a name no projection can have. */
const FORMAT_KEY = '\u0000format';
/** 2: rows carry versions. A store written before is rebuilt, as if every projection were. */
const FORMAT = 2;

/**
 * Projection rows and checkpoints on disk (lmdb, `<dataDir>/projections`). A projection's rows and
 * its checkpoint (the next global position it will process) are written in one transaction, so
 * after a crash they agree and processing resumes at the checkpoint. Projections are derived
 * data: commits are not flushed one by one, and a rebuild starts them over from position 0.
 *
 * Every row has a version: the global position of the last event whose handler set it (deleted
 * rows keep theirs; a row never set is at -1). It is the same on every node, since every node
 * runs the same handlers over the same log, and it only grows, which is what the cache's
 * version guard needs. Versions live in their own database so that checking one does not decode
 * the row.
 */
export class ProjectionStore {
  private readonly root: RootDatabase;
  private readonly checkpoints: Database<number, string>;
  private readonly dbs = new Map<string, { rows: Database<Json, string>; versions: Database<number, string> }>();

  private constructor(root: RootDatabase) {
    this.root = root;
    this.checkpoints = root.openDB({ name: 'checkpoints' });
  }

  static open(dir: string): ProjectionStore {
    let store: ProjectionStore;
    try {
      store = new ProjectionStore(open({ path: dir, compression: false, maxDbs: 1000 }));
    } catch (err) {
      throw new StorageError(`open projection store in ${dir}`, { cause: err });
    }
    store.upgrade();
    return store;
  }

  checkpoint(name: string): number {
    return this.checkpoints.get(name) ?? 0;
  }

  get(name: string, key: string): Json | undefined {
    return this.db(name).rows.get(key);
  }

  /** The row's version: the position of the last event that set it; -1 if none did. */
  version(name: string, key: string): number {
    return this.db(name).versions.get(key) ?? -1;
  }

  /** Writes changed rows and the new checkpoint, atomically. */
  commit(name: string, changes: ReadonlyMap<string, RowChange>, checkpoint: number): void {
    const { rows, versions } = this.db(name);
    this.transact(() => {
      for (const [key, { row, version }] of changes) {
        if (row === undefined) rows.removeSync(key);
        else rows.putSync(key, row);
        versions.putSync(key, version);
      }
      this.checkpoints.putSync(name, checkpoint);
    });
  }

  /** Drops every row and the checkpoint: the projection starts over from position 0. */
  reset(name: string): void {
    const { rows, versions } = this.db(name);
    this.transact(() => {
      rows.clearSync();
      versions.clearSync();
      this.checkpoints.removeSync(name);
    });
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  private db(name: string): { rows: Database<Json, string>; versions: Database<number, string> } {
    let db = this.dbs.get(name);
    if (db === undefined) {
      db = { rows: this.root.openDB({ name: `rows:${name}` }), versions: this.root.openDB({ name: `versions:${name}` }) };
      this.dbs.set(name, db);
    }
    return db;
  }

  /** A store from before row versions: every projection starts over (they are derived data). */
  private upgrade(): void {
    if (this.checkpoints.get(FORMAT_KEY) === FORMAT) return;
    const names = [...this.checkpoints.getKeys()].filter((k) => k !== FORMAT_KEY);
    for (const name of names) this.reset(name);
    this.transact(() => {
      this.checkpoints.putSync(FORMAT_KEY, FORMAT);
    });
  }

  private transact(fn: () => void): void {
    try {
      this.root.transactionSync(fn, SYNCHRONOUS_COMMIT_NO_FLUSH);
    } catch (err) {
      throw new StorageError('projection store write', { cause: err });
    }
  }
}
