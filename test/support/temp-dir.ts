import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Temporary directories for one test file, all removed by `cleanup()`. */
export class TempDirs {
  private readonly made: string[] = [];

  async make(prefix = 'eventraft-test-'): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    this.made.push(dir);
    return dir;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  }
}
