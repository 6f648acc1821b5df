import { describe, expect, it } from '@jest/globals';
import { runCampaign } from './campaign.ts';
import { churnProfile } from './seeds.ts';

describe('simulation: leader churn with one-entry messages', () => {
  it.each([3, 5])('keeps every safety invariant with %i voters over 300 seeds', (nodes) => {
    const result = runCampaign(1, 300, { nodes, steps: 20_000, ...churnProfile });
    if (result.failure) throw new Error(result.failure.report);
    expect(result.totals.leadersElected).toBeGreaterThan(300);
  }, 300_000);
});
