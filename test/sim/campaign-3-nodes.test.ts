import { describe, it } from '@jest/globals';
import { expectSeedsPass } from './seeds.ts';

describe('simulation: 3 initial voter(s)', () => {
  it('keeps every safety invariant and recovers liveness over 1,500 seeds', () => {
    expectSeedsPass(3, 1, 1500, 20_000);
  }, 300_000);
});
