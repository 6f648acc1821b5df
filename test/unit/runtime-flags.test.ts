import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { NODE_RUNTIME_FLAGS } from '../../node/runtime-flags.ts';

// That the image's ENTRYPOINT carries them is checked with the rest of the Dockerfile
// (test/chart/kind-e2e.test.ts).
describe('the Node.js flags eventraft processes run with', () => {
  it('are accepted by this Node.js', () => {
    // Node exits 9 on a flag it does not know: no node would start.
    const r = spawnSync(process.execPath, [...NODE_RUNTIME_FLAGS, '-e', ''], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
