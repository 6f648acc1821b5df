import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import type { Json } from '../../core/eventstore/index.ts';
import { SYNCHRONOUS_COMMIT_NO_FLUSH } from '../eventstore/index.ts';
import { StorageError } from '../storage/index.ts';

/**
 * Projection rows and checkpoints on disk (lmdb, `<dataDir>/projections`). A projection's rows and
 * its checkpoint (the next global position it will process) are written in one transaction, so
 * after a crash they agree and processing resumes at the checkpoint. Projections are derived
 * data: commits are not flushed one by one, and a rebuild starts them over from position 0.
 */
export class ProjectionStore {
  private readonly root: RootDatabase;
  private readonly checkpoints: Database<number, string>;
  private readonly rows = new Map<string, Database<Json, string>>();

  private constructor(root: RootDatabase) {
    this.root = root;
    this.checkpoints = root.openDB({ name: 'checkpoints' });
  }

  static open(dir: string): ProjectionStore {
    try {
      return new ProjectionStore(open({ path: dir, compression: false, maxDbs: 1000 }));
    } catch (err) {
      throw new StorageError(`open projection store in ${dir}`, { cause: err });
    }
  }

  checkpoint(name: string): number {
    return this.checkpoints.get(name) ?? 0;
  }

  get(name: string, key: string): Json | undefined {
    return this.db(name).get(key);
  }

  /** Writes changed rows (undefined: delete) and the new checkpoint, atomically. */
  commit(name: string, changes: ReadonlyMap<string, Json | undefined>, checkpoint: number): void {
    const db = this.db(name);
    this.transact(() => {
      for (const [key, row] of changes) {
        if (row === undefined) db.removeSync(key);
        else db.putSync(key, row);
      }
      this.checkpoints.putSync(name, checkpoint);
    });
  }

  /** Drops every row and the checkpoint: the projection starts over from position 0. */
  reset(name: string): void {
    const db = this.db(name);
    this.transact(() => {
      db.clearSync();
      this.checkpoints.removeSync(name);
    });
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  private db(name: string): Database<Json, string> {
    let db = this.rows.get(name);
    if (db === undefined) {
      db = this.root.openDB({ name: `rows:${name}` });
      this.rows.set(name, db);
    }
    return db;
  }

  private transact(fn: () => void): void {
    try {
      this.root.transactionSync(fn, SYNCHRONOUS_COMMIT_NO_FLUSH);
    } catch (err) {
      throw new StorageError('projection store write', { cause: err });
    }
  }
}
