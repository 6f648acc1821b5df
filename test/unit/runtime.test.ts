import { describe, expect, it } from '@jest/globals';

describe('runtime', () => {
  it('runs the tests on Node.js 24 (the node@24 devDependency), not the machine node', () => {
    // `npm install --ignore-scripts` silently drops to the system Node 20 (TOOLCHAIN.md).
    expect(process.versions.node.split('.')[0]).toBe('24');
  });
});
