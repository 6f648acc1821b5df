import { describe, it } from '@jest/globals';
import { expectSeedsPass } from './seeds.ts';

describe('simulation: 1 initial voter(s)', () => {
  it('keeps every safety invariant and recovers liveness over 400 seeds', () => {
    expectSeedsPass(1, 1, 400, 20_000);
  }, 300_000);
});
