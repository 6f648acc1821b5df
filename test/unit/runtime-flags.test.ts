import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { NODE_RUNTIME_FLAGS } from '../../node/runtime-flags.ts';

const root = path.resolve(import.meta.dirname, '../..');

describe('the Node.js flags eventraft processes run with', () => {
  it('are the ones the container image starts every process with', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const entrypoints = [...dockerfile.matchAll(/^ENTRYPOINT (\[.*\])$/gm)].map((m) => JSON.parse(m[1] as string) as string[]);
    const shipped = entrypoints.find((e) => e.at(-1) === '/app/dist/node/cli.js');
    expect(shipped).toEqual(['node', ...NODE_RUNTIME_FLAGS, '/app/dist/node/cli.js']);
  });

  it('are accepted by this Node.js', () => {
    // Node exits 9 on a flag it does not know: no node would start.
    const r = spawnSync(process.execPath, [...NODE_RUNTIME_FLAGS, '-e', ''], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
