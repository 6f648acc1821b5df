import { describe, it } from '@jest/globals';
import { expectSeedsPass } from './seeds.ts';

describe('simulation: 5 initial voter(s)', () => {
  it('keeps every safety invariant and recovers liveness over 1,200 seeds', () => {
    expectSeedsPass(5, 1, 1200, 20_000);
  }, 300_000);
});
